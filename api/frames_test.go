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
		{Type: FrameSendResult, RequestID: 9, Code: CodeStaleDevices, Message: "devices changed", Missing: []uint32{2}, Extra: []uint32{3, 4}},
		{Type: FrameSendResult, RequestID: 10, Duplicate: true},
		{Type: FrameDeliver, Seq: 1 << 40, Sender: "alice", SenderDevice: 2, ClientID: id, EnvType: 1, Content: []byte("x"), Timestamp: 1764201600000},
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
		if f.Type == FrameSend && !reflect.DeepEqual(g.Envelopes, f.Envelopes) {
			t.Fatalf("envelopes %+v", g.Envelopes)
		}
	}
	for _, bad := range [][]byte{nil, {0x08, 0x09}, {0x08}, {0x08, 0x03, 0x10}} {
		if _, err := ParseFrame(bad); !errors.Is(err, ErrBadFrame) {
			t.Errorf("%x accepted", bad)
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
