package client

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/attachment"
	"github.com/parley-chat/parley/internal/keys"
)

func sampleContents() []*content {
	id := MessageID{1, 2, 3}
	reply := MessageID{9, 9, 9}
	file := &filePointer{Blob: bytes.Repeat([]byte{0xb1}, 32), Key: bytes.Repeat([]byte{0x6b}, 32), Size: 5 << 20,
		Name: "clip.mp4", ContentType: "video/mp4"}
	empty := &filePointer{Blob: bytes.Repeat([]byte{0xb2}, 32), Key: bytes.Repeat([]byte{0x6c}, 32),
		Name: "é", ContentType: "application/octet-stream"}
	g := &GroupID{0x67, 0x72, 0x70}
	pk := bytes.Repeat([]byte{0x9c}, profileKeySize)
	return []*content{
		{Kind: kindText, ID: id, Timestamp: 1795737600000, Text: "hello"},
		{Kind: kindText, ID: id, Timestamp: 1, Text: "", ReplyTo: &reply},
		{Kind: kindReceipt, ID: id, Timestamp: 2, Receipt: ReceiptRead, ReceiptIDs: []MessageID{id, reply}},
		{Kind: kindTyping, ID: id, Timestamp: 3, Typing: true},
		{Kind: kindTyping, ID: id, Timestamp: 3},
		{Kind: kindSyncSent, ID: id, Timestamp: 4, Text: "to bob", Destination: "bob"},
		{Kind: kindReset, ID: id, Timestamp: 5},
		{Kind: kindSyncRead, ID: id, Timestamp: 7, ReceiptIDs: []MessageID{id}, Destination: "bob"},
		{Kind: kindText, ID: id, Timestamp: 6, Text: "a caption", Attachment: file},
		{Kind: kindText, ID: id, Timestamp: 7, ReplyTo: &reply, Attachment: empty},
		{Kind: kindSyncSent, ID: id, Timestamp: 8, Destination: "bob", Attachment: file},
		{Kind: kindSyncVerified, ID: id, Timestamp: 9, Destination: "bob", VerifiedKey: identityKeySample(), Verified: true},
		{Kind: kindSyncVerified, ID: id, Timestamp: 10, Destination: "carol", VerifiedKey: identityKeySample()},
		{Kind: kindDecryptionError, ID: id, Timestamp: 9, Failed: &decryptionError{ID: reply, Device: 3, Time: 1795737600001}},
		{Kind: kindDecryptionError, ID: id, Timestamp: 9, Failed: &decryptionError{ID: reply, Device: 1<<32 - 1}},
		// Group contents (spec/client.md §10).
		{Kind: kindText, ID: id, Timestamp: 11, Text: "to the group", Group: g, GroupSeq: 7},
		{Kind: kindText, ID: id, Timestamp: 11, Text: "a file", Group: g, GroupSeq: 1, ReplyTo: &reply, Attachment: file},
		{Kind: kindTyping, ID: id, Timestamp: 12, Typing: true, Group: g},
		{Kind: kindReceipt, ID: id, Timestamp: 13, Receipt: ReceiptDelivered, ReceiptIDs: []MessageID{id}, Group: g},
		{Kind: kindSyncRead, ID: id, Timestamp: 14, ReceiptIDs: []MessageID{id}, Group: g},
		{Kind: kindSyncSent, ID: id, Timestamp: 15, Text: "sent", Group: g},
		{Kind: kindGroupRecords, ID: id, Timestamp: 16, Group: g, GroupRecords: [][]byte{{1, 2, 3}, bytes.Repeat([]byte{7}, 100)}},
		{Kind: kindSenderKey, ID: id, Timestamp: 17, Group: g, Distribution: []byte{3, 4, 0x33}, GroupSeq: 42},
		{Kind: kindJoinRequest, ID: id, Timestamp: 18, Group: g, JoinProof: bytes.Repeat([]byte{0x70}, 32)},
		// The conversation features (spec/client.md §11).
		{Kind: kindEdit, ID: id, Timestamp: 19, Target: &reply, Text: "fixed"},
		{Kind: kindEdit, ID: id, Timestamp: 19, Target: &reply, Text: "fixed", Destination: "bob"},
		{Kind: kindEdit, ID: id, Timestamp: 19, Target: &reply, Text: "", Group: g, GroupSeq: 8},
		{Kind: kindDelete, ID: id, Timestamp: 20, Target: &reply},
		{Kind: kindDelete, ID: id, Timestamp: 20, Target: &reply, Destination: "bob", ForMe: true},
		{Kind: kindDelete, ID: id, Timestamp: 20, Target: &reply, Group: g, ForMe: true},
		{Kind: kindReaction, ID: id, Timestamp: 21, Target: &reply, Emoji: "👍🏽"},
		{Kind: kindReaction, ID: id, Timestamp: 21, Target: &reply, Remove: true, Group: g, GroupSeq: 9},
		{Kind: kindReaction, ID: id, Timestamp: 21, Target: &reply, Emoji: "1️⃣", Destination: "bob"},
		{Kind: kindTimer, ID: id, Timestamp: 22, Timer: 30},
		{Kind: kindTimer, ID: id, Timestamp: 22, Timer: 0, Group: g, GroupSeq: 10},
		{Kind: kindText, ID: id, Timestamp: 23, Text: "forwarded, disappearing", Timer: 2419200, Forwarded: true},
		{Kind: kindSyncSent, ID: id, Timestamp: 24, Text: "sent", Destination: "bob", Timer: 300},
		{Kind: kindSyncBlock, ID: id, Timestamp: 25, Destination: "mallory"},
		{Kind: kindSyncBlock, ID: id, Timestamp: 25, Destination: "mallory", Remove: true},
		{Kind: kindSyncRequest, ID: id, Timestamp: 26, Destination: "carol"},
		{Kind: kindSyncRequest, ID: id, Timestamp: 26, Group: g, Remove: true},
		// Profiles (spec/client.md §12).
		{Kind: kindProfileKey, ID: id, Timestamp: 25, ProfileKey: pk},
		{Kind: kindText, ID: id, Timestamp: 26, Text: "hi", ProfileKey: pk},
		{Kind: kindText, ID: id, Timestamp: 27, Text: "all of it", ReplyTo: &reply, Timer: 30, Forwarded: true, ProfileKey: pk,
			Attachment: file, Group: g, GroupSeq: 11},
	}
}

// identityKeySample is an encoded identity key (0x05 ‖ 32 bytes).
func identityKeySample() []byte {
	var k keys.PublicKey
	for i := range k {
		k[i] = byte(i + 1)
	}
	return k.Encode()
}

func TestContentRoundTrip(t *testing.T) {
	for _, c := range sampleContents() {
		b := c.marshal()
		got, err := parseContent(b)
		if err != nil {
			t.Fatalf("kind %d: %v", c.Kind, err)
		}
		if c.Kind == kindSyncVerified && (got.Destination != c.Destination || got.Verified != c.Verified || !bytes.Equal(got.VerifiedKey, c.VerifiedKey)) {
			t.Errorf("verification sync parsed as %+v", got)
		}
		if again := got.marshal(); !bytes.Equal(again, b) {
			t.Errorf("kind %d: re-encoding differs", c.Kind)
		}
		// A strict prefix is refused unless it ends exactly before an
		// optional or repeated field, when it is that shorter content.
		// (Contents need no more: the padding marker delimits them inside
		// authenticated encryption.)
		for n := range len(b) {
			p, err := parseContent(b[:n])
			optional := c.ReplyTo != nil || len(c.ReceiptIDs) >= 2 || c.Attachment != nil || len(c.GroupRecords) >= 2 ||
				c.Group != nil && (c.Kind == kindText || c.Kind == kindReceipt || c.Kind == kindTyping || c.Kind.action()) || // a 1:1 content
				c.Timer != 0 && c.Kind != kindTimer || c.Forwarded || c.ForMe || c.Kind.action() && c.Destination != "" ||
				c.Remove || c.Kind == kindReaction && c.Group != nil || c.Kind == kindText && c.ProfileKey != nil
			if err == nil && (!optional || !bytes.Equal(p.marshal(), b[:n])) {
				t.Errorf("kind %d: prefix of %d/%d bytes parsed", c.Kind, n, len(b))
			}
		}
	}
}

func TestContentRefusesNonsense(t *testing.T) {
	bad := map[string]*content{
		"receipt without ids":                     {Kind: kindReceipt, Receipt: ReceiptDelivered},
		"unknown kind":                            {Kind: 99},
		"sync to invalid name":                    {Kind: kindSyncSent, Destination: "no spaces allowed"},
		"attachment key too short":                {Kind: kindText, Attachment: &filePointer{Blob: make([]byte, 32), Key: make([]byte, 31), Name: "x", ContentType: "a/b"}},
		"attachment without a name":               {Kind: kindText, Attachment: &filePointer{Blob: make([]byte, 32), Key: make([]byte, 32), ContentType: "a/b"}},
		"attachment without a type":               {Kind: kindText, Attachment: &filePointer{Blob: make([]byte, 32), Key: make([]byte, 32), Name: "x"}},
		"attachment name not UTF-8":               {Kind: kindText, Attachment: &filePointer{Blob: make([]byte, 32), Key: make([]byte, 32), Name: "\xff", ContentType: "a/b"}},
		"verified key not X25519":                 {Kind: kindSyncVerified, Destination: "bob", VerifiedKey: append([]byte{0x0a}, make([]byte, 32)...)},
		"verified key too short":                  {Kind: kindSyncVerified, Destination: "bob", VerifiedKey: make([]byte, 32)},
		"verified without a name":                 {Kind: kindSyncVerified, VerifiedKey: identityKeySample()},
		"attachment too large":                    {Kind: kindText, Attachment: &filePointer{Blob: make([]byte, 32), Key: make([]byte, 32), Name: "x", ContentType: "a/b", Size: attachment.MaxSize + 1}},
		"decryption error without what failed":    {Kind: kindDecryptionError},
		"decryption error from device 0":          {Kind: kindDecryptionError, Failed: &decryptionError{ID: MessageID{1}}},
		"edit without a target":                   {Kind: kindEdit, Text: "x"},
		"reaction that is a word":                 {Kind: kindReaction, Target: &MessageID{1}, Emoji: "yes"},
		"reaction with a control character":       {Kind: kindReaction, Target: &MessageID{1}, Emoji: "👍\x1b[2J"},
		"reaction with neither emoji nor removal": {Kind: kindReaction, Target: &MessageID{1}},
		"timer of 7 seconds":                      {Kind: kindTimer, Timer: 7},
		"text with a timer of 1 minute":           {Kind: kindText, Text: "x", Timer: 60},
		"delete for me naming no chat":            {Kind: kindDelete, Target: &MessageID{1}, ForMe: true},
		"action to an invalid name":               {Kind: kindEdit, Target: &MessageID{1}, Destination: "no spaces"},
		"block sync naming nobody":                {Kind: kindSyncBlock},
		"block sync naming a group":               {Kind: kindSyncBlock, Group: &GroupID{1}},
		"request sync naming no chat":             {Kind: kindSyncRequest, Remove: true},
		"profile notice without a key":            {Kind: kindProfileKey},
		"profile key too short":                   {Kind: kindProfileKey, ProfileKey: make([]byte, profileKeySize-1)},
		"profile key too long":                    {Kind: kindText, ProfileKey: make([]byte, profileKeySize+1)},
	}
	for name, c := range bad {
		if _, err := parseContent(c.marshal()); !errors.Is(err, errContent) {
			t.Errorf("%s: %v, want errContent", name, err)
		}
	}
}

func TestPadding(t *testing.T) {
	for _, n := range []int{0, 1, 159, 160, 161, 1000} {
		b := bytes.Repeat([]byte{7}, n)
		p := padContent(b)
		if len(p)%paddingBlock != 0 || len(p) <= n {
			t.Errorf("%d bytes pad to %d", n, len(p))
		}
		got, err := unpadContent(p)
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%d bytes: unpad gives %d bytes, %v", n, len(got), err)
		}
	}
	for _, b := range [][]byte{nil, {0, 0}, {1, 2, 3}} {
		if _, err := unpadContent(b); err == nil {
			t.Errorf("unpad(%x) succeeded", b)
		}
	}
}

// FuzzContent: parsing never panics, and what parses re-encodes to the
// same bytes (the encoding is canonical).
func FuzzContent(f *testing.F) {
	for _, c := range sampleContents() {
		f.Add(c.marshal())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseContent(b)
		if err != nil {
			return
		}
		if !bytes.Equal(c.marshal(), b) {
			t.Fatalf("parse/marshal of %x differs", b)
		}
	})
}

// FuzzVerificationSync: the decoder of verification syncs (kind 18,
// spec/client.md §6.1), seeded with valid ones and their edits, never
// panics; what it accepts names a normalised contact and a well-formed
// X25519 identity key, re-encodes to the same bytes, and no strict
// prefix of it is accepted.
func FuzzVerificationSync(f *testing.F) {
	for _, c := range sampleContents() {
		if c.Kind == kindSyncVerified {
			b := c.marshal()
			f.Add(b)
			f.Add(b[:len(b)-1])
			f.Add(append(bytes.Clone(b), 0))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseContent(b)
		if err != nil || c.Kind != kindSyncVerified {
			return
		}
		if _, err := keys.DecodePublicKey(c.VerifiedKey); err != nil {
			t.Fatalf("accepted a sync with a bad key %x", c.VerifiedKey)
		}
		if n, err := api.NormalizeUsername(c.Destination); err != nil || n != c.Destination {
			t.Fatalf("accepted a sync naming %q", c.Destination)
		}
		if !bytes.Equal(c.marshal(), b) {
			t.Fatalf("parse/marshal of %x differs", b)
		}
		for n := range len(b) {
			if _, err := parseContent(b[:n]); err == nil {
				t.Fatalf("prefix of %d/%d bytes parsed", n, len(b))
			}
		}
	})
}

// sealLink makes a valid mailbox message for l, as ApproveLink does.
func sealLink(t testing.TB, l *Linker, m *provisionMessage) []byte {
	eph, err := keys.GeneratePrivateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	shared, _ := eph.Agree(l.ephemeral.Public())
	mailbox, _ := base64.RawURLEncoding.DecodeString(l.mailbox)
	aead, err := linkKey(shared, mailbox)
	if err != nil {
		t.Fatal(err)
	}
	pt, _ := json.Marshal(m)
	nonce := make([]byte, 12)
	out := append([]byte{linkVersion}, eph.Public().Encode()...)
	out = append(out, nonce...)
	return aead.Seal(out, nonce, pt, linkAssociated(mailbox, eph.Public(), l.ephemeral.Public()))
}

// FuzzLinkMessage: a new device given arbitrary mailbox bytes fails
// cleanly; only the genuine message opens.
func FuzzLinkMessage(f *testing.F) {
	l := &Linker{mailbox: "AAAAAAAAAAAAAAAAAAAAAA"}
	var err error
	if l.ephemeral, err = keys.GeneratePrivateKey(nil); err != nil {
		f.Fatal(err)
	}
	valid := sealLink(f, l, &provisionMessage{Username: "alice", LinkToken: "t"})
	if m, err := l.open(valid); err != nil || m.Username != "alice" {
		f.Fatalf("the genuine message does not open: %v", err)
	}
	f.Add(valid)
	f.Add([]byte{linkVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := l.open(b); err == nil && !bytes.Equal(b, valid) {
			t.Fatalf("forged message %x opened", b)
		}
	})
}

// FuzzLinkCode: a typed or scanned link code either parses into what
// re-encodes to the same code, or fails with ErrBadLinkCode.
func FuzzLinkCode(f *testing.F) {
	f.Add(linkCodePrefix + base64.RawURLEncoding.EncodeToString(make([]byte, mailboxIDSize+keys.PublicKeySize)))
	f.Add("PL1-")
	f.Add("  PL1-AAAA  ")
	f.Fuzz(func(t *testing.T, code string) {
		mailbox, key, err := parseLinkCode(code)
		if err != nil {
			if !errors.Is(err, ErrBadLinkCode) {
				t.Fatalf("error %v", err)
			}
			return
		}
		again := linkCodePrefix + base64.RawURLEncoding.EncodeToString(append(append([]byte{}, mailbox...), key[:]...))
		if again != strings.TrimSpace(code) {
			t.Fatalf("%q parses but re-encodes as %q", code, again)
		}
	})
}
