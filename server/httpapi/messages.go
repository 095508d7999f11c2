package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/server/store"
)

// send stores one envelope for every device of the recipient (spec/api.md
// §6). It refuses the whole send, storing nothing, when the sender's list
// of the recipient's devices is stale, so no device silently misses a
// message. It answers only after the envelopes are durable, then wakes the
// recipients' connections. An ephemeral send is checked the same way, then
// passed to connected devices and not stored (sendEphemeral).
func (h *Handler) send(ctx context.Context, from *principal, recipient string, clientID []byte, envs []api.OutgoingEnvelope, ephemeral bool) (dup bool, err error) {
	name, err := api.NormalizeUsername(recipient)
	if err != nil {
		return false, errNotFound
	}
	if len(clientID) != api.ClientIDSize {
		return false, badRequest("client_id must be %d bytes.", api.ClientIDSize)
	}
	if len(envs) == 0 {
		return false, badRequest("A send needs at least one envelope.")
	}
	entry, err := h.dir.lookup(ctx, name)
	if err != nil {
		return false, err
	}
	acct, devs := entry.account, entry.devices
	if e := staleDevices(acct.ID == from.account.ID, from.device.ID, devs, envs); e != nil {
		return false, e
	}
	if ephemeral {
		return false, h.sendEphemeral(from, acct, clientID, envs)
	}
	now := h.opts.Now()
	out := make([]store.Envelope, len(envs))
	for i, e := range envs {
		if len(e.Content) > api.MaxEnvelope {
			return false, apiError(http.StatusRequestEntityTooLarge, api.CodeTooLarge, "An envelope is larger than 256 KiB.")
		}
		out[i] = store.Envelope{
			DestAccount: acct.ID, DestDevice: e.DeviceID,
			SenderAccount: from.account.ID, SenderName: from.account.Username, SenderDevice: from.device.ID,
			Type: e.Type, Content: e.Content, Created: now, Expires: now.Add(h.opts.QueueTTL),
		}
		copy(out[i].ClientID[:], clientID)
	}
	if !h.sends.allowN(strconv.FormatInt(from.account.ID, 10), now, sendCost(out)) {
		return false, errSendRate
	}
	dups, err := h.store.Enqueue(ctx, out, h.queueLimits())
	if errors.Is(err, store.ErrSenderQueueFull) {
		return false, apiError(http.StatusTooManyRequests, api.CodeSenderQueueFull,
			"You have as many messages waiting for a recipient device as one sender may; retry once it has read them.")
	}
	if errors.Is(err, store.ErrQueueFull) {
		return false, apiError(http.StatusTooManyRequests, api.CodeQueueFull, "A recipient device's queue is full; retry later.")
	}
	if err != nil {
		return false, err
	}
	h.metrics.envelopesIn.Add(float64(len(out)))
	for _, e := range envs {
		h.hub.notify(deviceKey{acct.ID, e.DeviceID})
	}
	return len(dups) > 0 && !slices.Contains(dups, false), nil
}

var errSendRate = apiError(http.StatusTooManyRequests, api.CodeRateLimited, "You are sending too much too fast; retry later.")

// Queue and send limits (spec/api.md §2.3, §6.4).
const (
	DefaultMaxQueueBytes    = 1 << 30  // content bytes queued per device
	DefaultSenderQueue      = 5_000    // envelopes of one sender in one device's queue
	DefaultSenderQueueBytes = 64 << 20 // bytes of one sender in one device's queue
	DefaultSendRate         = 1 << 20  // bytes per second one account may store
	DefaultSendBurst        = 64 << 20
	// SendOverhead is what an envelope costs in the send rate beyond its
	// content: its row, so that empty envelopes are not free.
	SendOverhead = 256
)

// queueLimits are the store's bounds for a send.
func (h *Handler) queueLimits() store.QueueLimits {
	return store.QueueLimits{MaxQueue: h.opts.MaxQueue, MaxBytes: h.opts.MaxQueueBytes,
		SenderMax: h.opts.SenderQueue, SenderMaxBytes: h.opts.SenderQueueBytes}
}

// sendCost is what storing envs costs in the sender's send rate.
func sendCost(envs []store.Envelope) int {
	n := 0
	for _, e := range envs {
		n += len(e.Content) + SendOverhead
	}
	return n
}

// staleDevices compares the envelopes' devices with the recipient's. A
// send to one's own account (sync to one's other devices) leaves out the
// sending device.
func staleDevices(self bool, sender uint32, devs []store.Device, envs []api.OutgoingEnvelope) *api.Error {
	want := map[uint32]bool{}
	for _, d := range devs {
		if !(self && d.ID == sender) {
			want[d.ID] = true
		}
	}
	if len(want) == 0 {
		return badRequest("The recipient has no other device.")
	}
	got := map[uint32]bool{}
	var missing, extra []uint32
	for _, e := range envs {
		if got[e.DeviceID] {
			return badRequest("Device %d appears twice.", e.DeviceID)
		}
		got[e.DeviceID] = true
		if !want[e.DeviceID] {
			extra = append(extra, e.DeviceID)
		}
	}
	for id := range want {
		if !got[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return nil
	}
	slices.Sort(missing)
	slices.Sort(extra)
	return &api.Error{Status: http.StatusConflict, Code: api.CodeStaleDevices,
		Message: "The recipient's devices changed; fetch bundles for the missing ones, drop the extra ones, and resend.",
		Missing: missing, Extra: extra}
}

// sendHTTP is PUT /v1/messages/{username}.
func (h *Handler) sendHTTP(w http.ResponseWriter, r *http.Request) error {
	var req api.SendRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	dup, err := h.send(r.Context(), callerOf(r), r.PathValue("username"), req.ClientID, req.Envelopes, req.Ephemeral)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.SendResponse{Duplicate: dup})
	return nil
}
