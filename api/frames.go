package api

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-chat/parley/internal/wire"
)

// FrameType is field 1 of every WebSocket frame (spec/api.md §7).
type FrameType uint8

// WebSocket frame types. Each binary WebSocket message is one frame.
const (
	FrameSend       FrameType = 1 // client → server: one send, as PUT /v1/messages
	FrameSendResult FrameType = 2 // server → client: the outcome of a FrameSend
	FrameDeliver    FrameType = 3 // server → client: one queued envelope, or an ephemeral one (Seq 0)
	FrameAck        FrameType = 4 // client → server: delete delivered envelopes
	FrameQueueEmpty FrameType = 5 // server → client: everything queued at connect has been sent
	// FrameChannel carries a new record of a followed channel, or (with
	// Code set and no record) a change of the channel's state, such as
	// its suspension (spec/api.md §11.6).
	FrameChannel FrameType = 6 // server → client
)

// MaxFrame bounds one WebSocket message.
const MaxFrame = MaxBody

// ErrBadFrame is returned (wrapped) for a frame that cannot be decoded.
var ErrBadFrame = errors.New("api: malformed frame")

// Frame is one WebSocket message. Which fields are set depends on Type.
type Frame struct {
	Type FrameType

	RequestID uint64 // Send, SendResult: chosen by the client, echoed back

	// Send.
	Recipient string
	ClientID  []byte // 16 bytes
	Envelopes []OutgoingEnvelope
	Ephemeral bool // optional field 6, written only when true

	// SendResult: Code is empty on success.
	Code      Code
	Message   string
	Duplicate bool
	Missing   []uint32
	Extra     []uint32

	// Deliver. Seq is 0 for an ephemeral delivery, which is never stored
	// and needs no Ack (spec/api.md §6.5).
	Seq          uint64
	Sender       string
	SenderDevice uint32
	EnvType      uint8
	Content      []byte
	Timestamp    int64 // unix milliseconds when the server stored it (Seq 0: passed it on)

	// Ack.
	Acks []uint64

	// Channel: Seq, Channel, and Record or Code and Message.
	Channel string
	Record  []byte
}

// Frame fields. Numbers are per frame type, after field 1 (the type).
const (
	fType protowire.Number = 1

	fRequestID protowire.Number = 2
	fRecipient protowire.Number = 3
	fClientID  protowire.Number = 4
	fEnvelope  protowire.Number = 5
	fEphemeral protowire.Number = 6

	fCode      protowire.Number = 3
	fMessage   protowire.Number = 4
	fDuplicate protowire.Number = 5
	fMissing   protowire.Number = 6
	fExtra     protowire.Number = 7

	fSeq          protowire.Number = 2
	fSender       protowire.Number = 3
	fSenderDevice protowire.Number = 4
	fDelClientID  protowire.Number = 5
	fEnvType      protowire.Number = 6
	fContent      protowire.Number = 7
	fTimestamp    protowire.Number = 8

	fAck protowire.Number = 2

	fChanSeq     protowire.Number = 2
	fChanHandle  protowire.Number = 3
	fChanRecord  protowire.Number = 4
	fChanCode    protowire.Number = 5
	fChanMessage protowire.Number = 6

	envDevice  protowire.Number = 1
	envType    protowire.Number = 2
	envContent protowire.Number = 3
)

// AppendFrame appends the encoding of f to b.
func AppendFrame(b []byte, f *Frame) []byte {
	e := wire.Encoder{B: b}
	e.Uint(fType, uint64(f.Type))
	switch f.Type {
	case FrameSend:
		e.Uint(fRequestID, f.RequestID)
		e.Bytes(fRecipient, []byte(f.Recipient))
		e.Bytes(fClientID, f.ClientID)
		var ee wire.Encoder
		for _, env := range f.Envelopes {
			ee.B = ee.B[:0]
			ee.Uint(envDevice, uint64(env.DeviceID))
			ee.Uint(envType, uint64(env.Type))
			ee.Bytes(envContent, env.Content)
			e.Bytes(fEnvelope, ee.B)
		}
		if f.Ephemeral { // optional: absent means a normal send
			e.Uint(fEphemeral, 1)
		}
	case FrameSendResult:
		e.Uint(fRequestID, f.RequestID)
		e.Bytes(fCode, []byte(f.Code))
		e.Bytes(fMessage, []byte(f.Message))
		e.Uint(fDuplicate, b2u(f.Duplicate))
		for _, d := range f.Missing {
			e.Uint(fMissing, uint64(d))
		}
		for _, d := range f.Extra {
			e.Uint(fExtra, uint64(d))
		}
	case FrameDeliver:
		e.Uint(fSeq, f.Seq)
		e.Bytes(fSender, []byte(f.Sender))
		e.Uint(fSenderDevice, uint64(f.SenderDevice))
		e.Bytes(fDelClientID, f.ClientID)
		e.Uint(fEnvType, uint64(f.EnvType))
		e.Bytes(fContent, f.Content)
		e.Uint(fTimestamp, uint64(f.Timestamp))
	case FrameAck:
		for _, s := range f.Acks {
			e.Uint(fAck, s)
		}
	case FrameChannel:
		e.Uint(fChanSeq, f.Seq)
		e.Bytes(fChanHandle, []byte(f.Channel))
		e.Bytes(fChanRecord, f.Record)
		e.Bytes(fChanCode, []byte(f.Code))
		e.Bytes(fChanMessage, []byte(f.Message))
	}
	return e.B
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

const maxU32 = 1<<32 - 1

// ParseFrame decodes one frame. Byte fields alias b.
func ParseFrame(b []byte) (*Frame, error) {
	if len(b) > MaxFrame {
		return nil, fmt.Errorf("%w: too large", ErrBadFrame)
	}
	d := wire.NewDecoder(b)
	f := &Frame{Type: FrameType(d.Uint(fType, 255))}
	switch f.Type {
	case FrameSend:
		f.RequestID = d.Uint(fRequestID, 1<<63)
		f.Recipient = string(d.Bytes(fRecipient, 1, MaxUsername+1))
		f.ClientID = d.Bytes(fClientID, ClientIDSize, ClientIDSize)
		for d.More(fEnvelope) {
			eb, _ := d.OptBytes(fEnvelope, 1, MaxEnvelope+32)
			ed := wire.NewDecoder(eb)
			env := OutgoingEnvelope{
				DeviceID: uint32(ed.Uint(envDevice, maxU32)),
				Type:     uint8(ed.Uint(envType, 255)),
				Content:  ed.Bytes(envContent, 0, MaxEnvelope),
			}
			if err := ed.Finish(); err != nil {
				return nil, fmt.Errorf("%w: envelope: %w", ErrBadFrame, err)
			}
			f.Envelopes = append(f.Envelopes, env)
		}
		// Optional, and written only as 1: a 0 would re-encode as nothing,
		// so it is not the canonical encoding of any frame.
		if v, ok := d.OptUint(fEphemeral, 1); ok {
			if v != 1 {
				return nil, fmt.Errorf("%w: ephemeral written as 0", ErrBadFrame)
			}
			f.Ephemeral = true
		}
	case FrameSendResult:
		f.RequestID = d.Uint(fRequestID, 1<<63)
		f.Code = Code(d.Bytes(fCode, 0, 64))
		f.Message = string(d.Bytes(fMessage, 0, 1024))
		f.Duplicate = d.Uint(fDuplicate, 1) == 1
		for d.More(fMissing) {
			v, _ := d.OptUint(fMissing, maxU32)
			f.Missing = append(f.Missing, uint32(v))
		}
		for d.More(fExtra) {
			v, _ := d.OptUint(fExtra, maxU32)
			f.Extra = append(f.Extra, uint32(v))
		}
	case FrameDeliver:
		f.Seq = d.Uint(fSeq, 1<<63)
		f.Sender = string(d.Bytes(fSender, 1, MaxUsername))
		f.SenderDevice = uint32(d.Uint(fSenderDevice, maxU32))
		f.ClientID = d.Bytes(fDelClientID, ClientIDSize, ClientIDSize)
		f.EnvType = uint8(d.Uint(fEnvType, 255))
		f.Content = d.Bytes(fContent, 0, MaxEnvelope)
		f.Timestamp = int64(d.Uint(fTimestamp, 1<<62))
	case FrameAck:
		for d.More(fAck) {
			v, _ := d.OptUint(fAck, 1<<63)
			f.Acks = append(f.Acks, v)
		}
	case FrameQueueEmpty:
	case FrameChannel:
		f.Seq = d.Uint(fChanSeq, 1<<63)
		f.Channel = string(d.Bytes(fChanHandle, 1, MaxUsername))
		f.Record = d.Bytes(fChanRecord, 0, MaxChannelRecord)
		f.Code = Code(d.Bytes(fChanCode, 0, 64))
		f.Message = string(d.Bytes(fChanMessage, 0, 1024))
	default:
		if d.Err() == nil {
			return nil, fmt.Errorf("%w: unknown type %d", ErrBadFrame, f.Type)
		}
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	return f, nil
}
