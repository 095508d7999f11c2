// Package jsonbody decodes the JSON bodies of Parley's HTTP API exactly
// (spec/api.md §2.1.1): names match case-sensitively, a name given twice,
// an unknown name and anything after the value are refused, so that no two
// parsers read one body differently. The server reads every request body
// with DecodeRequest and the Go clients read every answer with
// DecodeResponse. It is a package of its own so that the api package, and
// its fuzz targets, do not link the JSON library.
package jsonbody

import (
	"errors"
	"fmt"
	"io"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Error is a JSON body that breaks the encoding rules of spec/api.md
// §2.1. Reason is an English sentence for people, naming what is wrong; it
// never quotes a decoder's error text.
type Error struct {
	Reason string
	err    error // the decoder's error, for errors.Is/As
}

func (e *Error) Error() string { return "jsonbody: " + e.Reason }

func (e *Error) Unwrap() error { return e.err }

// exact returns the decoding rules of §2.1, spelled out rather than left
// to the library's defaults: member names match case-sensitively, a name
// given twice in one object is refused, invalid UTF-8 is refused, and an
// unknown name is refused if rejectUnknown.
func exact(rejectUnknown bool) json.Options {
	return json.JoinOptions(
		json.MatchCaseInsensitiveNames(false),
		jsontext.AllowDuplicateNames(false),
		jsontext.AllowInvalidUTF8(false),
		json.RejectUnknownMembers(rejectUnknown),
	)
}

// DecodeRequest reads one JSON value from r into v the way the server reads
// a request body (spec/api.md §2.1): names are case-sensitive, a duplicate
// name, an unknown name, an empty body and anything but whitespace after
// the value are refused. A refusal is a *Error; an error reading r (for
// example *http.MaxBytesError) is wrapped and can be found with errors.As.
func DecodeRequest(r io.Reader, v any) error {
	return decodeExact(r, v, exact(true))
}

// DecodeResponse reads one JSON value from r into v the way a client reads
// a server's answer: as DecodeRequest, except that unknown names are
// ignored, so that a server may add fields to its answers (spec/api.md
// §2.1.1).
func DecodeResponse(r io.Reader, v any) error {
	return decodeExact(r, v, exact(false))
}

func decodeExact(r io.Reader, v any, opts json.Options) error {
	src := &readErrors{r: r}
	dec := jsontext.NewDecoder(src, opts)
	err := json.UnmarshalDecode(dec, v, opts)
	if err == nil {
		// §2.1: nothing but whitespace after the first value.
		if _, err = dec.ReadToken(); err == io.EOF {
			return nil
		}
		if src.err == nil {
			return &Error{Reason: "The JSON body has more data after its first value.", err: err}
		}
	}
	if src.err != nil {
		return fmt.Errorf("jsonbody: reading: %w", src.err)
	}
	return bodyError(err)
}

// readErrors remembers the first error, other than io.EOF, that reading r
// gave, to tell a broken or oversized body from bad JSON.
type readErrors struct {
	r   io.Reader
	err error
}

func (e *readErrors) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// maxNameInReason bounds how much of a member name a Reason quotes.
const maxNameInReason = 64

// bodyError turns a decoding error into a *Error with a sentence for
// people.
func bodyError(err error) *Error {
	var (
		syn *jsontext.SyntacticError
		sem *json.SemanticError
	)
	switch {
	case errors.Is(err, io.EOF):
		return &Error{Reason: "The body is empty; it must be one JSON value.", err: err}
	case errors.As(err, &syn) && syn.Err == jsontext.ErrDuplicateName:
		return &Error{Reason: fmt.Sprintf("The JSON body gives the field %s twice; each field may appear once.", quotePointer(syn.JSONPointer)), err: err}
	case errors.As(err, &sem) && sem.Err == json.ErrUnknownName:
		return &Error{Reason: fmt.Sprintf("The JSON body has the unknown field %s (field names are case-sensitive).", quotePointer(sem.JSONPointer)), err: err}
	case errors.As(err, &sem):
		return &Error{Reason: fmt.Sprintf("The JSON body has a value of the wrong type or out of range at %s.", quotePointer(sem.JSONPointer)), err: err}
	}
	return &Error{Reason: "The body is not valid JSON.", err: err}
}

// quotePointer quotes a JSON pointer (RFC 6901) into the body, shortened.
func quotePointer(p jsontext.Pointer) string {
	s := string(p)
	if s == "" {
		return "the top level"
	}
	if len(s) > maxNameInReason {
		s = s[:maxNameInReason] + "..."
	}
	return fmt.Sprintf("%q", s)
}
