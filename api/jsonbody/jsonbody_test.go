package jsonbody_test

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/api/jsonbody"
)

// TestDecodeRequestIsExact: spec/api.md §2.1. Each refused body is one that
// encoding/json, which the server used before, accepts or half-accepts.
func TestDecodeRequestIsExact(t *testing.T) {
	for _, c := range []struct {
		name, body string
		ok         bool
	}{
		{"exact", `{"username":"alice","device_name":"phone"}`, true},
		{"whitespace after", "{\"username\":\"alice\"} \r\n\t", true},
		{"null bytes field", `{"identity_key":null}`, true},
		{"name in another case", `{"Username":"alice"}`, false},
		{"nested name in another case", `{"prekeys":{"Signed_prekey":null}}`, false},
		{"name in upper case", `{"USERNAME":"alice"}`, false},
		{"duplicate name", `{"username":"alice","username":"mallory"}`, false},
		{"duplicate nested name", `{"prekeys":{"one_time_prekeys":[{"id":1,"id":2}]}}`, false},
		{"duplicate name in two cases", `{"username":"alice","Username":"mallory"}`, false},
		{"unknown name", `{"username":"alice","admin":true}`, false},
		{"second value", `{"username":"alice"} {}`, false},
		{"trailing garbage", `{"username":"alice"}x`, false},
		{"empty", ``, false},
		{"only whitespace", "  \n", false},
		{"truncated", `{"username":"ali`, false},
		{"invalid UTF-8", "{\"username\":\"\xff\"}", false},
		{"wrong type", `{"username":7}`, false},
		{"out of range", `{"prekeys":{"one_time_prekeys":[{"id":4294967296}]}}`, false},
		{"not an object", `[]`, false},
		// Attacks of a second review: each must be refused, not read.
		{"byte order mark", "\xef\xbb\xbf{\"username\":\"alice\"}", false},
		{"duplicate name spelt with an escape", `{"username":"alice","user\u006eame":"mallory"}`, false},
		{"lone surrogate escape", `{"username":"\ud800"}`, false},
		{"number past float64", `{"prekeys":{"one_time_prekeys":[{"id":1e400}]}}`, false},
		{"integer written as a fraction", `{"prekeys":{"one_time_prekeys":[{"id":1.0}]}}`, false},
		{"20,000 nested arrays", strings.Repeat("[", 20000) + strings.Repeat("]", 20000), false},
		{"unpadded base64", `{"identity_key":"AA"}`, false},
		{"URL-safe base64", `{"identity_key":"A-_A"}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var req api.RegisterRequest
			err := jsonbody.DecodeRequest(strings.NewReader(c.body), &req)
			if c.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var be *jsonbody.Error
			if !errors.As(err, &be) {
				t.Fatalf("got %v, want a *jsonbody.Error", err)
			}
			if be.Reason == "" || !strings.HasSuffix(be.Reason, ".") {
				t.Errorf("reason %q is not a sentence", be.Reason)
			}
		})
	}
}

// TestDecodeResponseIgnoresUnknownNames: a client reads answers by the same
// rules, but a field a newer server added does not break it.
func TestDecodeResponseIgnoresUnknownNames(t *testing.T) {
	var e api.Error
	if err := jsonbody.DecodeResponse(strings.NewReader(`{"code":"not_found","message":"No.","added_later":1}`), &e); err != nil || e.Code != api.CodeNotFound {
		t.Fatalf("got %+v, %v", e, err)
	}
	var be *jsonbody.Error
	for _, body := range []string{`{"code":"not_found","code":"internal"}`, `{"code":"x"} {}`, ``} {
		if err := jsonbody.DecodeResponse(strings.NewReader(body), &e); !errors.As(err, &be) {
			t.Errorf("%s: got %v, want a *jsonbody.Error", body, err)
		}
	}
	// A name in another case is not the field: it is ignored as unknown.
	e = api.Error{}
	if err := jsonbody.DecodeResponse(strings.NewReader(`{"Code":"internal"}`), &e); err != nil || e.Code != "" {
		t.Fatalf("got %+v, %v", e, err)
	}
}

// TestDecodeRequestReadError: an oversized body is reported as the read
// error it is (the server answers too_large), not as bad JSON.
func TestDecodeRequestReadError(t *testing.T) {
	body := http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(`{"username":"`+strings.Repeat("a", 100)+`"}`)), 20)
	var req api.RegisterRequest
	err := jsonbody.DecodeRequest(body, &req)
	var tooLarge *http.MaxBytesError
	var be *jsonbody.Error
	if !errors.As(err, &tooLarge) || errors.As(err, &be) {
		t.Fatalf("got %v, want the *http.MaxBytesError alone", err)
	}
}

// jsonTypes holds every type of package api that has a JSON shape.
// TestEveryJSONTypeRoundTrips fails when a type with json tags is missing.
var jsonTypes = []any{
	api.PreKey{}, api.SignedPreKey{}, api.PreKeyUpload{}, api.RegisterRequest{}, api.RecoverRequest{},
	api.Credentials{}, api.LinkToken{}, api.LinkRequest{}, api.DeviceInfo{}, api.PreKeyCounts{},
	api.Bundles{}, api.Provisioning{}, api.OutgoingEnvelope{}, api.SendRequest{}, api.SendResponse{},
	api.CreateChannelRequest{}, api.ChannelInfo{}, api.ChannelList{}, api.ChannelRecord{},
	api.ChannelRecords{}, api.PostResult{}, api.ViewsRequest{}, api.ReportRequest{},
	api.ModerationRequest{}, api.ReportInfo{}, api.AuditInfo{}, api.ChannelAdmins{},
	api.UploadRequest{}, api.UploadStatus{}, api.Error{}, api.ServerInfo{},
	api.MultiSendRequest{}, api.MultiRecipient{}, api.StaleAccount{}, api.GroupLink{}, api.Profile{}, api.WSTicket{},
}

// TestEveryJSONTypeRoundTrips: the exact decoder reads what encoding/json
// writes (which the clients send and the server answers) into the same Go
// value encoding/json reads, and that value encodes to the same bytes, for
// every type with every field empty and with every field set. So omitempty,
// null and base64 byte fields keep their shapes.
func TestEveryJSONTypeRoundTrips(t *testing.T) {
	var listed []string
	for _, v := range jsonTypes {
		listed = append(listed, reflect.TypeOf(v).Name())
	}
	for _, name := range taggedTypes(t) {
		if !slices.Contains(listed, name) {
			t.Errorf("api.%s has json tags but is not in jsonTypes", name)
		}
	}
	for _, v := range jsonTypes {
		typ := reflect.TypeOf(v)
		full := reflect.New(typ).Elem()
		fill(t, full)
		for _, val := range []reflect.Value{reflect.New(typ).Elem(), full} {
			b, err := stdjson.Marshal(val.Interface())
			if err != nil {
				t.Fatal(err)
			}
			old, exact, loose := reflect.New(typ), reflect.New(typ), reflect.New(typ)
			if err := stdjson.Unmarshal(b, old.Interface()); err != nil {
				t.Fatal(err)
			}
			if err := jsonbody.DecodeRequest(bytes.NewReader(b), exact.Interface()); err != nil {
				t.Errorf("%s: %s refused: %v", typ.Name(), b, err)
				continue
			}
			if err := jsonbody.DecodeResponse(bytes.NewReader(b), loose.Interface()); err != nil {
				t.Errorf("%s: %s refused as an answer: %v", typ.Name(), b, err)
				continue
			}
			if !reflect.DeepEqual(old.Interface(), exact.Interface()) || !reflect.DeepEqual(old.Interface(), loose.Interface()) {
				t.Errorf("%s: %s decodes to %#v, encoding/json to %#v", typ.Name(), b, exact.Elem().Interface(), old.Elem().Interface())
			}
			again, err := stdjson.Marshal(exact.Elem().Interface())
			if err != nil || !bytes.Equal(again, b) {
				t.Errorf("%s: %s re-encodes as %s (%v)", typ.Name(), b, again, err)
			}
		}
	}
}

// fill sets every field of v that JSON carries to a value that is not empty.
func fill(t *testing.T, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("s")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte{0xfb, 0xff, 0x00, 0x01})
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range v.Len() {
			fill(t, v.Index(i))
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).Tag.Get("json") != "-" {
				fill(t, v.Field(i))
			}
		}
	default:
		t.Fatalf("fill: no value for %s", v.Type())
	}
}

// taggedTypes lists package api's struct types that have a json tag.
func taggedTypes(t *testing.T) []string {
	files, err := filepath.Glob("../*.go")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			if st, ok := ts.Type.(*ast.StructType); ok {
				for _, fld := range st.Fields.List {
					if fld.Tag != nil && strings.Contains(fld.Tag.Value, `json:"`) {
						names = append(names, ts.Name.Name)
						break
					}
				}
			}
			return false
		})
	}
	if len(names) == 0 {
		t.Fatal("found no types with json tags")
	}
	return names
}
