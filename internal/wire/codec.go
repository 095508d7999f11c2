package wire

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrMalformed is returned (wrapped) for any input that is not the canonical
// encoding of a message of the expected type (spec/protocol.md §7.1).
var ErrMalformed = errors.New("wire: malformed message")

// Encoder appends the canonical protobuf encoding of fields to b.
// Fields must be appended in ascending field-number order.
type Encoder struct {
	B []byte
}

func (e *Encoder) Uint(num protowire.Number, v uint64) {
	e.B = protowire.AppendTag(e.B, num, protowire.VarintType)
	e.B = protowire.AppendVarint(e.B, v)
}

func (e *Encoder) Bytes(num protowire.Number, v []byte) {
	e.B = protowire.AppendTag(e.B, num, protowire.BytesType)
	e.B = protowire.AppendBytes(e.B, v)
}

// Decoder consumes a canonical encoding: every field in ascending order,
// at most once, minimal varints, no unknown fields, no trailing bytes.
// The first violation is kept in err and every later call is a no-op.
// Byte slices it returns alias the input.
type Decoder struct {
	b   []byte
	err error
}

func (d *Decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

// next reports whether the next field is num with wire type typ, and if so
// consumes its tag.
func (d *Decoder) next(num protowire.Number, typ protowire.Type) bool {
	if d.err != nil || len(d.b) == 0 {
		return false
	}
	n, t, l := protowire.ConsumeTag(d.b)
	if l < 0 {
		d.fail("bad tag")
		return false
	}
	if l != protowire.SizeTag(n) {
		d.fail("non-minimal tag")
		return false
	}
	if n != num {
		return false
	}
	if t != typ {
		d.fail("field %d has wire type %d", n, t)
		return false
	}
	d.b = d.b[l:]
	return true
}

func (d *Decoder) varint() uint64 {
	v, l := protowire.ConsumeVarint(d.b)
	if l < 0 {
		d.fail("bad varint")
		return 0
	}
	if l != protowire.SizeVarint(v) {
		d.fail("non-minimal varint")
		return 0
	}
	d.b = d.b[l:]
	return v
}

func (d *Decoder) rawBytes(num protowire.Number, min, max int) []byte {
	v, l := protowire.ConsumeBytes(d.b)
	if l < 0 {
		d.fail("field %d: bad length", num)
		return nil
	}
	if l != protowire.SizeBytes(len(v)) {
		d.fail("field %d: non-minimal length", num)
		return nil
	}
	if len(v) < min || len(v) > max {
		d.fail("field %d: length %d outside [%d, %d]", num, len(v), min, max)
		return nil
	}
	d.b = d.b[l:]
	return v
}

// Uint reads a required varint field no larger than max.
func (d *Decoder) Uint(num protowire.Number, max uint64) uint64 {
	if !d.next(num, protowire.VarintType) {
		d.fail("missing field %d", num)
		return 0
	}
	v := d.varint()
	if v > max {
		d.fail("field %d: value out of range", num)
		return 0
	}
	return v
}

// OptUint reads an optional varint field no larger than max.
func (d *Decoder) OptUint(num protowire.Number, max uint64) (uint64, bool) {
	if !d.next(num, protowire.VarintType) {
		return 0, false
	}
	v := d.varint()
	if v > max {
		d.fail("field %d: value out of range", num)
		return 0, false
	}
	return v, d.err == nil
}

// Bytes reads a required length-delimited field of length in [min, max].
func (d *Decoder) Bytes(num protowire.Number, min, max int) []byte {
	if !d.next(num, protowire.BytesType) {
		d.fail("missing field %d", num)
		return nil
	}
	return d.rawBytes(num, min, max)
}

// OptBytes reads an optional length-delimited field of length in [min, max].
func (d *Decoder) OptBytes(num protowire.Number, min, max int) ([]byte, bool) {
	if !d.next(num, protowire.BytesType) {
		return nil, false
	}
	v := d.rawBytes(num, min, max)
	return v, d.err == nil
}

// Finish reports the first error, or an error if bytes remain.
func (d *Decoder) Finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("unexpected field or trailing bytes")
	}
	return d.err
}

// NewDecoder returns a Decoder reading b.
func NewDecoder(b []byte) Decoder {
	return Decoder{b: b}
}

// Err reports the first error seen so far.
func (d *Decoder) Err() error {
	return d.err
}

// More reports whether the next field is num with wire type bytes; it is
// used to read repeated fields.
func (d *Decoder) More(num protowire.Number) bool {
	if d.err != nil || len(d.b) == 0 {
		return false
	}
	n, _, l := protowire.ConsumeTag(d.b)
	return l > 0 && n == num
}
