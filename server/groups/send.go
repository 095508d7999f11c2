package groups

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/server/store"
)

// recipient is one account of a send, its name normalised and its device
// list checked for repeats.
type recipient struct {
	asked   string // the name as the request spelt it
	name    string // normalised; "" if the name is not a valid username
	devices []uint32
	envs    []api.OutgoingEnvelope // each device's own content, in the order of devices; nil for a shared content
}

// plan is a send's recipients after the checks that need no store.
type plan struct {
	recipients []recipient
	// each is true for a send whose devices have envelopes of their own,
	// false for one shared content.
	each bool
}

// check runs the checks of a send to many that need nothing but the
// request and the sender's name (spec/api.md §6.6): client_id, recipients,
// the form (shared content or envelopes), an account or a device named
// twice, the number of accounts and the contents' sizes. It is pure, for
// the fuzz target.
func check(req *api.MultiSendRequest, senderName string, maxMembers int) (*plan, error) {
	if len(req.ClientID) != api.ClientIDSize {
		return nil, badRequest("client_id must be %d bytes.", api.ClientIDSize)
	}
	if len(req.Recipients) == 0 {
		return nil, badRequest("A send needs at least one recipient.")
	}
	p := &plan{recipients: make([]recipient, len(req.Recipients))}
	for _, r := range req.Recipients {
		p.each = p.each || len(r.Envelopes) > 0
	}
	if p.each && len(req.Content) > 0 {
		return nil, badRequest("A send whose recipients list envelopes carries no shared content.")
	}
	seen := make(map[string]bool, len(req.Recipients))
	others := 0
	for i, r := range req.Recipients {
		name, err := api.NormalizeUsername(r.Username)
		if err != nil {
			name = "" // no such account: stale, unknown
		}
		key := name
		if key == "" {
			key = "\x00" + r.Username // invalid names are compared as given
		}
		if seen[key] {
			return nil, badRequest("The account %q is named twice; name each account once.", r.Username)
		}
		seen[key] = true
		if name != senderName {
			others++
		}
		if p.each && len(r.Devices) > 0 {
			return nil, badRequest("The account %q lists devices in a send of envelopes; list each device as an envelope.", r.Username)
		}
		rc := recipient{asked: r.Username, name: name, devices: r.Devices}
		if p.each {
			rc.envs = r.Envelopes
			rc.devices = make([]uint32, len(r.Envelopes))
			for j, e := range r.Envelopes {
				rc.devices[j] = e.DeviceID
			}
		}
		devs := make(map[uint32]bool, len(rc.devices))
		for _, d := range rc.devices {
			if devs[d] {
				return nil, badRequest("Device %d of %q is named twice.", d, r.Username)
			}
			devs[d] = true
		}
		p.recipients[i] = rc
	}
	if others > maxMembers {
		return nil, apiError(http.StatusRequestEntityTooLarge, api.CodeTooManyRecipients,
			"The send names more accounts than this server allows in one group; see max_group_members in GET /v1/server.")
	}
	if err := checkSize(req.Content, req.Ephemeral); err != nil {
		return nil, err
	}
	for _, r := range p.recipients {
		for _, e := range r.envs {
			if err := checkSize(e.Content, req.Ephemeral); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

func checkSize(content []byte, ephemeral bool) error {
	switch {
	case ephemeral && len(content) > api.MaxEphemeral:
		return errEphemeralTooLarge
	case len(content) > api.MaxEnvelope:
		return errTooLarge
	}
	return nil
}

// target is one recipient device of a checked send.
type target struct {
	account int64
	device  uint32
	env     *api.OutgoingEnvelope // its own content, or nil for the shared one
}

// resolve looks every recipient up and compares its device list with the
// account's devices, leaving out the sending device in the sender's own
// account. Every stale account goes into one stale_devices error.
func (s *Service) resolve(ctx context.Context, from Sender, p *plan) ([]target, error) {
	var (
		stale   []api.StaleAccount
		targets []target
	)
	for _, r := range p.recipients {
		if r.name == "" {
			stale = append(stale, api.StaleAccount{Username: r.asked, Unknown: true})
			continue
		}
		acct, devs, err := s.o.Lookup(ctx, r.name)
		if errors.Is(err, store.ErrNotFound) {
			stale = append(stale, api.StaleAccount{Username: r.asked, Unknown: true})
			continue
		}
		if err != nil {
			return nil, err
		}
		self := acct.ID == from.Account.ID
		want := make(map[uint32]bool, len(devs))
		for _, d := range devs {
			if !(self && d.ID == from.Device) {
				want[d.ID] = true
			}
		}
		var missing, extra []uint32
		for _, d := range r.devices {
			if !want[d] {
				extra = append(extra, d)
			}
		}
		for id := range want {
			if !slices.Contains(r.devices, id) {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 || len(extra) > 0 {
			slices.Sort(missing)
			slices.Sort(extra)
			stale = append(stale, api.StaleAccount{Username: r.asked, Missing: missing, Extra: extra})
			continue
		}
		for j, d := range r.devices {
			tg := target{account: acct.ID, device: d}
			if r.envs != nil {
				tg.env = &r.envs[j]
			}
			targets = append(targets, tg)
		}
	}
	if len(stale) > 0 {
		return nil, &api.Error{Status: http.StatusConflict, Code: api.CodeStaleDevices,
			Message:  "Some recipients' devices changed; mend every account listed (fetch bundles for the missing devices, drop the extra ones and the unknown accounts) and resend.",
			Accounts: stale}
	}
	if len(targets) == 0 {
		return nil, badRequest("The send reaches no device.")
	}
	return targets, nil
}

// Send is PUT /v1/messages (spec/api.md §6.6): one content for every listed
// device, stored once, or each device's own envelope, in one transaction,
// answered after commit; then the recipients' sockets are woken. Nothing is
// stored unless every account is listed with exactly its devices. An
// ephemeral send is checked the same, then passed to the connected devices
// and not stored.
func (s *Service) Send(ctx context.Context, from Sender, req api.MultiSendRequest) (api.SendResponse, error) {
	p, err := check(&req, from.Account.Username, s.o.MaxMembers)
	if err != nil {
		return api.SendResponse{}, err
	}
	targets, err := s.resolve(ctx, from, p)
	if err != nil {
		return api.SendResponse{}, err
	}
	now := s.o.Now()
	if !s.o.Spend(from.Account.ID, now, cost(&req, p, targets)) {
		return api.SendResponse{}, errSendRate
	}
	if req.Ephemeral {
		s.offer(from, &req, targets, now.UnixMilli())
		return api.SendResponse{}, nil
	}
	envs := make([]store.Envelope, len(targets))
	for i, tg := range targets {
		envs[i] = store.Envelope{
			DestAccount: tg.account, DestDevice: tg.device,
			SenderAccount: from.Account.ID, SenderName: from.Account.Username, SenderDevice: from.Device,
			Type: req.Type, Created: now, Expires: now.Add(s.o.QueueTTL),
		}
		if tg.env != nil {
			envs[i].Type, envs[i].Content = tg.env.Type, tg.env.Content
		}
		copy(envs[i].ClientID[:], req.ClientID)
	}
	var dups []bool
	if p.each {
		dups, err = s.o.Store.Enqueue(ctx, envs, s.o.Limits)
	} else {
		dups, err = s.o.Store.EnqueueShared(ctx, req.Content, envs, s.o.Limits)
	}
	switch {
	case errors.Is(err, store.ErrSenderQueueFull):
		return api.SendResponse{}, errSenderQueueFull
	case errors.Is(err, store.ErrQueueFull):
		return api.SendResponse{}, errQueueFull
	case err != nil:
		return api.SendResponse{}, err
	}
	if s.o.Stored != nil {
		s.o.Stored(len(envs))
	}
	for _, tg := range targets {
		s.o.Wake(tg.account, tg.device)
	}
	return api.SendResponse{Duplicate: !slices.Contains(dups, false)}, nil
}

// cost is what a checked send costs in the sender's send bucket: a shared
// content once plus DeviceCost per device (Cost), or each envelope as in
// a 1:1 send, its content plus SendOverhead.
func cost(req *api.MultiSendRequest, p *plan, targets []target) int {
	if !p.each {
		return Cost(len(req.Content), len(targets))
	}
	n := 0
	for _, tg := range targets {
		n += len(tg.env.Content) + SendOverhead
	}
	return n
}

// offer passes an ephemeral send to the connected targets as Deliver
// frames with Seq 0 (spec/api.md §6.5): a shared content encoded once for
// all of them, an envelope of its own for its device.
func (s *Service) offer(from Sender, req *api.MultiSendRequest, targets []target, at int64) {
	f := api.Frame{Type: api.FrameDeliver, Seq: 0,
		Sender: from.Account.Username, SenderDevice: from.Device, ClientID: req.ClientID,
		EnvType: req.Type, Content: req.Content, Timestamp: at}
	var shared []byte
	for _, tg := range targets {
		frame := shared
		if tg.env != nil {
			f.EnvType, f.Content = tg.env.Type, tg.env.Content
			frame = api.AppendFrame(nil, &f)
		} else if shared == nil {
			shared = api.AppendFrame(nil, &f)
			frame = shared
		}
		s.o.Offer(tg.account, tg.device, frame)
	}
}
