package fingerprint

import (
	"crypto/subtle"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The scannable form is the protobuf message of libsignal's fingerprint.proto:
//
//	message LogicalFingerprint   { optional bytes content = 1; }
//	message CombinedFingerprints {
//	    optional uint32             version            = 1;
//	    optional LogicalFingerprint local_fingerprint  = 2;
//	    optional LogicalFingerprint remote_fingerprint = 3;
//	}
//
// It is written by hand with protowire: the message is tiny, and the parser
// must be stricter than a generated one (see ParseScannable).
const (
	fieldVersion protowire.Number = 1 // CombinedFingerprints.version
	fieldLocal   protowire.Number = 2 // CombinedFingerprints.local_fingerprint
	fieldRemote  protowire.Number = 3 // CombinedFingerprints.remote_fingerprint
	fieldContent protowire.Number = 1 // LogicalFingerprint.content

	// contentSize is the length of LogicalFingerprint.content: the first 32
	// bytes of a party's hash.
	contentSize = 32
)

// logicalSize is the encoded length of one LogicalFingerprint.
var logicalSize = protowire.SizeTag(fieldContent) + protowire.SizeBytes(contentSize)

// Scannable returns the bytes to put in a QR code for the other party to scan:
// CombinedFingerprints with the local party's content first.
func (s *SafetyNumber) Scannable() []byte {
	return encodeScannable(s.version, &s.local, &s.remote)
}

func encodeScannable(version uint32, local, remote *[contentSize]byte) []byte {
	n := protowire.SizeTag(fieldVersion) + protowire.SizeVarint(uint64(version)) +
		2*(protowire.SizeTag(fieldLocal)+protowire.SizeBytes(logicalSize))
	b := make([]byte, 0, n)
	b = protowire.AppendTag(b, fieldVersion, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(version))
	b = appendLogical(b, fieldLocal, local)
	b = appendLogical(b, fieldRemote, remote)
	return b
}

func appendLogical(b []byte, num protowire.Number, content *[contentSize]byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(logicalSize))
	b = protowire.AppendTag(b, fieldContent, protowire.BytesType)
	return protowire.AppendBytes(b, content[:])
}

// CompareScannable reports whether scanned, the other party's Scannable
// bytes, matches this safety number: their local content must equal our
// remote one and their remote content our local one (compared in constant
// time). Malformed bytes give ErrMalformed; a well-formed code of another
// version gives ErrVersionMismatch, so the UI can ask for an update rather
// than warn of an attack. false with a nil error means the keys differ.
func (s *SafetyNumber) CompareScannable(scanned []byte) (bool, error) {
	version, theirLocal, theirRemote, err := parseScannable(scanned)
	if err != nil {
		return false, err
	}
	if version != s.version {
		return false, fmt.Errorf("%w: compare: scanned %d, ours %d", ErrVersionMismatch, version, s.version)
	}
	same := subtle.ConstantTimeCompare(theirLocal[:], s.remote[:]) &
		subtle.ConstantTimeCompare(theirRemote[:], s.local[:])
	return same == 1, nil
}

// ParseScannable decodes scannable bytes from an untrusted source. It accepts
// only the canonical encoding that Scannable writes, so encoding the result
// again gives the same bytes: fields 1, 2, 3 in that order, each exactly once;
// minimal varints for tags and lengths; a content of exactly 32 bytes; no
// unknown fields and nothing after the message. Anything else, including
// every strict prefix of a valid encoding, gives an error wrapping
// ErrMalformed. local and remote are new slices, not aliases of b.
func ParseScannable(b []byte) (version uint32, local, remote []byte, err error) {
	version, l, r, err := parseScannable(b)
	if err != nil {
		return 0, nil, nil, err
	}
	return version, l[:], r[:], nil
}

func parseScannable(b []byte) (version uint32, local, remote *[contentSize]byte, err error) {
	rest, err := consumeTag(b, fieldVersion, protowire.VarintType)
	if err != nil {
		return 0, nil, nil, err
	}
	v, rest, err := consumeVarint(rest)
	if err != nil {
		return 0, nil, nil, err
	}
	if v > math.MaxUint32 {
		return 0, nil, nil, fmt.Errorf("%w: parse: version overflows uint32", ErrMalformed)
	}
	if local, rest, err = consumeLogical(rest, fieldLocal); err != nil {
		return 0, nil, nil, err
	}
	if remote, rest, err = consumeLogical(rest, fieldRemote); err != nil {
		return 0, nil, nil, err
	}
	if len(rest) != 0 {
		return 0, nil, nil, fmt.Errorf("%w: parse: %d trailing bytes", ErrMalformed, len(rest))
	}
	return uint32(v), local, remote, nil
}

// consumeLogical reads field num holding a LogicalFingerprint whose only
// field is a 32-byte content, and returns a copy of the content.
func consumeLogical(b []byte, num protowire.Number) (*[contentSize]byte, []byte, error) {
	rest, err := consumeTag(b, num, protowire.BytesType)
	if err != nil {
		return nil, nil, err
	}
	msg, rest, err := consumeBytes(rest)
	if err != nil {
		return nil, nil, err
	}
	inner, err := consumeTag(msg, fieldContent, protowire.BytesType)
	if err != nil {
		return nil, nil, err
	}
	content, inner, err := consumeBytes(inner)
	if err != nil {
		return nil, nil, err
	}
	if len(content) != contentSize {
		return nil, nil, fmt.Errorf("%w: parse: field %d content is %d bytes, want %d", ErrMalformed, num, len(content), contentSize)
	}
	if len(inner) != 0 {
		return nil, nil, fmt.Errorf("%w: parse: field %d has extra fields", ErrMalformed, num)
	}
	out := new([contentSize]byte)
	copy(out[:], content)
	return out, rest, nil
}

// consumeTag reads a minimally encoded tag that must be (want, typ).
func consumeTag(b []byte, want protowire.Number, typ protowire.Type) ([]byte, error) {
	num, gotTyp, n := protowire.ConsumeTag(b)
	if n < 0 {
		return nil, fmt.Errorf("%w: parse: want field %d: %w", ErrMalformed, want, protowire.ParseError(n))
	}
	if n != protowire.SizeTag(num) {
		return nil, fmt.Errorf("%w: parse: non-minimal tag for field %d", ErrMalformed, num)
	}
	if num != want || gotTyp != typ {
		return nil, fmt.Errorf("%w: parse: got field %d type %d, want field %d type %d", ErrMalformed, num, gotTyp, want, typ)
	}
	return b[n:], nil
}

// consumeVarint reads a minimally encoded varint.
func consumeVarint(b []byte) (uint64, []byte, error) {
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, nil, fmt.Errorf("%w: parse: varint: %w", ErrMalformed, protowire.ParseError(n))
	}
	if n != protowire.SizeVarint(v) {
		return 0, nil, fmt.Errorf("%w: parse: non-minimal varint", ErrMalformed)
	}
	return v, b[n:], nil
}

// consumeBytes reads a length-delimited value with a minimal length prefix.
func consumeBytes(b []byte) (value, rest []byte, err error) {
	length, rest, err := consumeVarint(b)
	if err != nil {
		return nil, nil, err
	}
	if length > uint64(len(rest)) {
		return nil, nil, fmt.Errorf("%w: parse: length %d exceeds %d remaining bytes", ErrMalformed, length, len(rest))
	}
	return rest[:length], rest[length:], nil
}
