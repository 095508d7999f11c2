// Package kat reads and writes the known-answer vector files in spec/vectors,
// and holds the deterministic ML-KEM encapsulation Parley's vectors are made
// with (Encapsulator). Only tests and the vector generator use it.
//
// A file is a list of sections. A section starts with a line "[name]" and
// holds "key = value" lines; a value may continue on following lines that
// start with whitespace. Lines starting with '#' are comments. Values that
// are hex are read with Hex.
package kat

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
)

// Section is one "[name]" block.
type Section struct {
	Name   string
	Keys   []string // in file order
	Values map[string]string
}

// Get returns the value of key, or an error naming the section if it is
// missing.
func (s *Section) Get(key string) (string, error) {
	v, ok := s.Values[key]
	if !ok {
		return "", fmt.Errorf("kat: [%s] has no %q", s.Name, key)
	}
	return v, nil
}

// Hex returns the hex-decoded value of key.
func (s *Section) Hex(key string) ([]byte, error) {
	v, err := s.Get(key)
	if err != nil {
		return nil, err
	}
	b, err := hex.DecodeString(strings.Join(strings.Fields(v), ""))
	if err != nil {
		return nil, fmt.Errorf("kat: [%s] %s: %w", s.Name, key, err)
	}
	return b, nil
}

// Set appends or replaces key.
func (s *Section) Set(key, value string) {
	if s.Values == nil {
		s.Values = map[string]string{}
	}
	if _, ok := s.Values[key]; !ok {
		s.Keys = append(s.Keys, key)
	}
	s.Values[key] = value
}

// SetHex sets key to the hex encoding of b.
func (s *Section) SetHex(key string, b []byte) { s.Set(key, hex.EncodeToString(b)) }

// ErrEmpty is returned by Load for a file with no sections.
var ErrEmpty = errors.New("kat: no vectors")

// Load parses the file at path. A missing or empty file is an error, so a
// test that loads vectors cannot pass vacuously.
func Load(path string) ([]*Section, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kat: %w", err)
	}
	defer f.Close()
	secs, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return secs, nil
}

// Parse reads sections from r.
func Parse(r io.Reader) ([]*Section, error) {
	var (
		secs    []*Section
		cur     *Section
		lastKey string
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
		case strings.HasPrefix(trimmed, "[") && strings.HasSuffix(trimmed, "]"):
			cur = &Section{Name: trimmed[1 : len(trimmed)-1], Values: map[string]string{}}
			secs = append(secs, cur)
			lastKey = ""
		case cur == nil:
			return nil, fmt.Errorf("kat: line %d: value outside a section", n)
		case line[0] == ' ' || line[0] == '\t':
			if lastKey == "" {
				return nil, fmt.Errorf("kat: line %d: continuation without a key", n)
			}
			cur.Values[lastKey] += " " + trimmed
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return nil, fmt.Errorf("kat: line %d: want key = value", n)
			}
			lastKey = strings.TrimSpace(k)
			cur.Set(lastKey, strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(secs) == 0 {
		return nil, ErrEmpty
	}
	return secs, nil
}

// Find returns the section called name.
func Find(secs []*Section, name string) (*Section, error) {
	for _, s := range secs {
		if s.Name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("kat: no section [%s]", name)
}

// Write writes sections after a comment header. Long hex values are folded
// at 64 characters.
func Write(w io.Writer, header string, secs []*Section) error {
	var b bytes.Buffer
	for _, l := range strings.Split(strings.TrimSpace(header), "\n") {
		fmt.Fprintf(&b, "# %s\n", l)
	}
	for _, s := range secs {
		fmt.Fprintf(&b, "\n[%s]\n", s.Name)
		for _, k := range s.Keys {
			v := s.Values[k]
			fmt.Fprintf(&b, "%s = %s\n", k, fold(v))
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

func fold(v string) string {
	const width = 64
	if len(v) <= width || strings.ContainsAny(v, " \t") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i += width {
		if i > 0 {
			b.WriteString("\n    ")
		}
		b.WriteString(v[i:min(i+width, len(v))])
	}
	return b.String()
}

// Open loads path and returns its section called name, failing tb if
// either is missing, for tests that read one known-answer block.
func Open(tb testing.TB, path, name string) *Section {
	tb.Helper()
	secs, err := Load(path)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := Find(secs, name)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// MustHex is Hex that fails tb when key is missing or not hex.
func (s *Section) MustHex(tb testing.TB, key string) []byte {
	tb.Helper()
	b, err := s.Hex(key)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
