package api

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func sampleFrames() []*Frame {
	id := bytes.Repeat([]byte{7}, ClientIDSize)
	return []*Frame{
		{Type: FrameSend, RequestID: 9, Recipient: "bob", ClientID: id, Envelopes: []OutgoingEnvelope{
			{DeviceID: 1, Type: 2, Content: []byte("ciphertext")}, {DeviceID: 3, Type: 1, Content: []byte{}}}},
		{Type: FrameSend, RequestID: 11, Recipient: "bob", ClientID: id, Ephemeral: true, Envelopes: []OutgoingEnvelope{
			{DeviceID: 1, Type: 3, Content: []byte("typing")}}},
		{Type: FrameSendResult, RequestID: 9, Code: CodeStaleDevices, Message: "devices changed", Missing: []uint32{2}, Extra: []uint32{3, 4}},
		{Type: FrameSendResult, RequestID: 10, Duplicate: true},
		{Type: FrameDeliver, Seq: 1 << 40, Sender: "alice", SenderDevice: 2, ClientID: id, EnvType: 1, Content: []byte("x"), Timestamp: 1764201600000},
		{Type: FrameDeliver, Seq: 0, Sender: "alice", SenderDevice: 2, ClientID: id, EnvType: 3, Content: []byte("typing"), Timestamp: 1764201600001},
		{Type: FrameAck, Acks: []uint64{1, 2, 300}},
		{Type: FrameQueueEmpty},
	}
}

func TestFrameRoundTrip(t *testing.T) {
	for _, f := range sampleFrames() {
		b := AppendFrame(nil, f)
		g, err := ParseFrame(b)
		if err != nil {
			t.Fatalf("type %d: %v", f.Type, err)
		}
		if !bytes.Equal(AppendFrame(nil, g), b) {
			t.Fatalf("type %d: re-encoding differs", f.Type)
		}
		if f.Type == FrameSend && (!reflect.DeepEqual(g.Envelopes, f.Envelopes) || g.Ephemeral != f.Ephemeral) {
			t.Fatalf("envelopes %+v, ephemeral %v", g.Envelopes, g.Ephemeral)
		}
	}
	for _, bad := range [][]byte{nil, {0x08, 0x09}, {0x08}, {0x08, 0x03, 0x10}} {
		if _, err := ParseFrame(bad); !errors.Is(err, ErrBadFrame) {
			t.Errorf("%x accepted", bad)
		}
	}
}

// TestSendEphemeralField: field 6 of a Send is optional and written only
// as 1, so a frame without it (a normal send) keeps its one encoding, and
// every other spelling of it is refused.
func TestSendEphemeralField(t *testing.T) {
	send := &Frame{Type: FrameSend, RequestID: 1, Recipient: "bob", ClientID: make([]byte, ClientIDSize),
		Envelopes: []OutgoingEnvelope{{DeviceID: 1, Content: []byte("x")}}}
	normal := AppendFrame(nil, send)
	if f, err := ParseFrame(normal); err != nil || f.Ephemeral {
		t.Fatalf("send without field 6: ephemeral %v, %v", f != nil && f.Ephemeral, err)
	}
	send.Ephemeral = true
	eph := AppendFrame(nil, send)
	if want := append(normal[:len(normal):len(normal)], 0x30, 0x01); !bytes.Equal(eph, want) {
		t.Fatalf("ephemeral send encodes as %x, want %x", eph, want)
	}
	for name, tail := range map[string][]byte{
		"written as 0":  {0x30, 0x00},
		"written as 2":  {0x30, 0x02},
		"written twice": {0x30, 0x01, 0x30, 0x01},
		"wrong type":    {0x32, 0x01, 0x01},
		"non-minimal":   {0x30, 0x81, 0x00},
	} {
		b := append(normal[:len(normal):len(normal)], tail...)
		if _, err := ParseFrame(b); !errors.Is(err, ErrBadFrame) {
			t.Errorf("ephemeral %s: %v, want ErrBadFrame", name, err)
		}
	}
}

// FuzzParseFrame: arbitrary bytes never panic the frame decoder, and a
// decoded frame re-encodes to the same bytes.
func FuzzParseFrame(f *testing.F) {
	for _, fr := range sampleFrames() {
		f.Add(AppendFrame(nil, fr))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseFrame(b)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error %v is not ErrBadFrame", err)
			}
			return
		}
		if !bytes.Equal(AppendFrame(nil, fr), b) {
			t.Fatal("re-encoding differs from the input")
		}
	})
}
