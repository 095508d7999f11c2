package httpapi

import (
	"net/http"
	"strconv"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/server/store"
)

// Ephemeral sends (spec/api.md §6.5) carry typing indicators and the like.
// They are checked as a normal send is, then each envelope is handed to its
// device's socket if that device is connected at that moment, and
// forgotten: nothing is stored or deduplicated and no queue bound applies,
// but the send rate does.
// A socket holds at most ephemeralBuffer of them; beyond that they are
// dropped, so an ephemeral send never blocks its sender and never grows
// the server's memory. Best effort: a client must not rely on one arriving.

var errEphemeralTooLarge = apiError(http.StatusRequestEntityTooLarge, api.CodeTooLarge,
	"An ephemeral envelope is larger than 4 KiB.")

// sendEphemeral passes envs, whose device list send has checked, to the
// recipient devices that are connected, as Deliver frames with Seq 0.
func (h *Handler) sendEphemeral(from *principal, to store.Account, clientID []byte, envs []api.OutgoingEnvelope) error {
	for _, e := range envs {
		if len(e.Content) > api.MaxEphemeral {
			return errEphemeralTooLarge
		}
	}
	// An ephemeral send spends the sender's send rate as a stored one
	// does (spec/api.md §2.3): unbounded, one account could push frames
	// at a connected device as fast as its line carries them.
	cost := 0
	for _, e := range envs {
		cost += len(e.Content) + SendOverhead
	}
	at := h.opts.Now()
	if !h.sends.allowN(strconv.FormatInt(from.account.ID, 10), at, cost) {
		return errSendRate
	}
	now := at.UnixMilli()
	for _, e := range envs {
		c := h.hub.conn(deviceKey{to.ID, e.DeviceID})
		if c == nil {
			continue // offline devices get nothing
		}
		frame := api.AppendFrame(nil, &api.Frame{Type: api.FrameDeliver, Seq: 0,
			Sender: from.account.Username, SenderDevice: from.device.ID, ClientID: clientID,
			EnvType: e.Type, Content: e.Content, Timestamp: now})
		if !c.offerEphemeral(frame) {
			h.metrics.ephemeral.WithLabelValues(ephemeralDropped).Inc()
		}
	}
	return nil
}

// writeEphemeral writes the ephemeral frames that wait, without waiting
// for more. They take no room in the delivery window.
func (s *wsSession) writeEphemeral() error {
	for {
		var frame *[]byte
		select {
		case frame = <-s.hub.ephemeral:
		default:
			return nil
		}
		if err := s.write(*frame); err != nil {
			return err
		}
		// Channel frames share this path; they are counted when offered
		// (parley_channel_frames_total). Byte 1 is the frame type: byte 0
		// is field 1's tag.
		if len(*frame) < 2 || (*frame)[1] != byte(api.FrameChannel) {
			s.h.metrics.ephemeral.WithLabelValues(ephemeralWritten).Inc()
		}
	}
}
