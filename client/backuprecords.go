package client

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The plaintext of a backup (spec/client.md §13.3), inside the sealed
// stream (backupstream.go): a sequence of entries, each a tag byte and
// big-endian fixed-size lengths, so that every list of entries has one
// encoding:
//
//	record: 1, len(bucket) u8, bucket, len(key) u16, key, len(value) u32, value
//	blob:   2, SHA-256 of the ciphertext (32), then pieces len u32, bytes
//	        (1 to 64 KiB each), ended by a piece of length 0
//	end:    3, records u64, blobs u64
//
// A value is the record's plaintext as the vault opened it; a blob is an
// attachment's ciphertext as the server holds it. The end entry is the
// last, and counts the others.

// backupBuckets is every bucket of the SDK but the vault's: what a backup
// holds. TestBackupBucketsComplete fails when a bucket constant is missing.
var backupBuckets = []string{
	bucketAccount, bucketSigned, bucketKEM, bucketOneTime, bucketSession, bucketArchive,
	bucketContact, bucketConv, bucketMessage, bucketMsgIndex, bucketSeen, bucketEarly,
	bucketOutbox, bucketOutboxID, bucketFailed, bucketPending, bucketExpire,
	bucketGroup, bucketGroupSend, bucketGroupRecv, bucketGroupDist, bucketGroupStamp,
	bucketChannel, bucketChannelKey, bucketChanRec, bucketChanFork, bucketOperator,
	bucketBlock, bucketKnown, bucketProfile,
}

// backupRebuilt lists the buckets a backup leaves out because the
// restored device rebuilds them: the search index, whose word tokens
// derive from the store's data key, which a restore makes anew (its
// first search indexes the history again, search.go).
var backupRebuilt = []string{bucketSearch}

const (
	entryRecord = 1
	entryBlob   = 2
	entryEnd    = 3

	maxBackupKey   = 1<<16 - 1
	maxBackupValue = 16 << 20 // bytes of one record's value
	blobPiece      = 32 << 10 // what the writer puts in a piece
	maxBlobPiece   = backupChunk
)

// recordWriter writes the entries of a backup's plaintext.
type recordWriter struct {
	w              io.Writer
	hdr            []byte
	records, blobs uint64
}

func (rw *recordWriter) record(bucket, key string, value []byte) error {
	if len(bucket) > 255 || len(key) > maxBackupKey || len(value) > maxBackupValue {
		return fmt.Errorf("client: backup: the record %s/%s is too large to back up", bucket, key)
	}
	h := append(rw.hdr[:0], entryRecord, byte(len(bucket)))
	h = append(h, bucket...)
	h = binary.BigEndian.AppendUint16(h, uint16(len(key)))
	h = append(h, key...)
	h = binary.BigEndian.AppendUint32(h, uint32(len(value)))
	rw.hdr = h
	if _, err := rw.w.Write(h); err != nil {
		return err
	}
	if _, err := rw.w.Write(value); err != nil {
		return err
	}
	rw.records++
	return nil
}

// blob writes src to its end as one blob entry, through buf (at most
// maxBlobPiece bytes are used).
func (rw *recordWriter) blob(digest [32]byte, src io.Reader, buf []byte) error {
	buf = buf[:min(len(buf), maxBlobPiece)]
	if _, err := rw.w.Write(append([]byte{entryBlob}, digest[:]...)); err != nil {
		return err
	}
	var n [4]byte
	for {
		k, err := io.ReadFull(src, buf)
		if k > 0 {
			binary.BigEndian.PutUint32(n[:], uint32(k))
			if _, err := rw.w.Write(n[:]); err != nil {
				return err
			}
			if _, err := rw.w.Write(buf[:k]); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	binary.BigEndian.PutUint32(n[:], 0)
	if _, err := rw.w.Write(n[:]); err != nil {
		return err
	}
	rw.blobs++
	return nil
}

func (rw *recordWriter) end() error {
	h := binary.BigEndian.AppendUint64([]byte{entryEnd}, rw.records)
	h = binary.BigEndian.AppendUint64(h, rw.blobs)
	_, err := rw.w.Write(h)
	return err
}

// backupSink takes the entries readRecords decodes. blob gets the
// ciphertext as a reader; what it leaves unread is skipped.
type backupSink interface {
	record(bucket, key string, value []byte) error
	blob(digest [32]byte, r io.Reader) error
}

// readRecords decodes the entries of r to sink, up to and including the
// end entry, and checks that nothing follows it. A malformed entry is
// ErrBackupCorrupt; a record of a bucket this version does not know is
// ErrBackupVersion. An error of r or of sink is returned as it is.
func readRecords(r io.Reader, sink backupSink) error {
	known := make(map[string]bool, len(backupBuckets))
	for _, b := range backupBuckets {
		known[b] = true
	}
	br := bufio.NewReaderSize(r, 4096)
	var records, blobs uint64
	var value []byte
	for {
		tag, err := br.ReadByte()
		if err != nil {
			return backupReadErr(err)
		}
		switch tag {
		case entryRecord:
			var bucket, key string
			if bucket, err = readName(br, 1); err == nil {
				key, err = readName(br, 2)
			}
			if err != nil {
				return err
			}
			if !known[bucket] {
				return fmt.Errorf("%w (a record of an unknown kind, %q)", ErrBackupVersion, bucket)
			}
			if value, err = readValue(br, value[:0]); err != nil {
				return err
			}
			if err := sink.record(bucket, key, value); err != nil {
				return err
			}
			records++
		case entryBlob:
			var d [32]byte
			if _, err := io.ReadFull(br, d[:]); err != nil {
				return backupReadErr(err)
			}
			p := &pieceReader{r: br}
			if err := sink.blob(d, p); err != nil {
				return err
			}
			if _, err := io.Copy(io.Discard, p); err != nil {
				return err
			}
			blobs++
		case entryEnd:
			var n [16]byte
			if _, err := io.ReadFull(br, n[:]); err != nil {
				return backupReadErr(err)
			}
			if binary.BigEndian.Uint64(n[:8]) != records || binary.BigEndian.Uint64(n[8:]) != blobs {
				return fmt.Errorf("%w (its entries do not add up)", ErrBackupCorrupt)
			}
			switch _, err := br.ReadByte(); {
			case errors.Is(err, io.EOF):
				return nil
			case err != nil:
				return err
			}
			return fmt.Errorf("%w (data after its end)", ErrBackupCorrupt)
		default:
			return fmt.Errorf("%w (an entry of unknown type %d)", ErrBackupCorrupt, tag)
		}
	}
}

// readName reads a name with a size-byte length prefix.
func readName(br *bufio.Reader, size int) (string, error) {
	var n [2]byte
	if _, err := io.ReadFull(br, n[:size]); err != nil {
		return "", backupReadErr(err)
	}
	l := int(n[0])
	if size == 2 {
		l = int(binary.BigEndian.Uint16(n[:]))
	}
	b := make([]byte, l)
	if _, err := io.ReadFull(br, b); err != nil {
		return "", backupReadErr(err)
	}
	return string(b), nil
}

// readValue reads a value with a u32 length prefix into buf, growing it
// only as bytes arrive, so a false length costs no large allocation.
func readValue(br *bufio.Reader, buf []byte) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(br, n[:]); err != nil {
		return nil, backupReadErr(err)
	}
	l := int64(binary.BigEndian.Uint32(n[:]))
	if l > maxBackupValue {
		return nil, fmt.Errorf("%w (a record over %d bytes)", ErrBackupCorrupt, maxBackupValue)
	}
	for int64(len(buf)) < l {
		step := min(l-int64(len(buf)), 64<<10)
		at := len(buf)
		buf = append(buf, make([]byte, step)...)
		if _, err := io.ReadFull(br, buf[at:]); err != nil {
			return nil, backupReadErr(err)
		}
	}
	return buf, nil
}

// pieceReader reads a blob entry's pieces up to the empty one.
type pieceReader struct {
	r    *bufio.Reader
	left int // bytes left of the current piece
	done bool
	err  error
}

func (p *pieceReader) Read(b []byte) (int, error) {
	for p.left == 0 && !p.done && p.err == nil {
		var n [4]byte
		if _, err := io.ReadFull(p.r, n[:]); err != nil {
			p.err = backupReadErr(err)
			break
		}
		l := binary.BigEndian.Uint32(n[:])
		switch {
		case l == 0:
			p.done = true
		case l > maxBlobPiece:
			p.err = fmt.Errorf("%w (an attachment piece over %d bytes)", ErrBackupCorrupt, maxBlobPiece)
		default:
			p.left = int(l)
		}
	}
	if p.err != nil {
		return 0, p.err
	}
	if p.done {
		return 0, io.EOF
	}
	k, err := p.r.Read(b[:min(len(b), p.left)])
	p.left -= k
	if err != nil {
		if k > 0 {
			return k, nil
		}
		p.err = backupReadErr(err)
		return 0, p.err
	}
	return k, nil
}
