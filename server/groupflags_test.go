package server_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/parley-chat/parley/server"
)

// TestMaxGroupMembersFlag: -max-group-members defaults to 1000, then to
// PARLEY_MAX_GROUP_MEMBERS; the flag wins; anything but a positive integer
// is refused, from either.
func TestMaxGroupMembersFlag(t *testing.T) {
	none := func(string) string { return "" }
	f, err := server.ParseFlags(nil, none)
	if err != nil || f.Config.MaxGroupMembers != 1000 {
		t.Fatalf("default = %+v, %v; want 1000", f, err)
	}
	env := func(k string) string {
		if k == "PARLEY_MAX_GROUP_MEMBERS" {
			return "250"
		}
		return ""
	}
	if f, err := server.ParseFlags(nil, env); err != nil || f.Config.MaxGroupMembers != 250 {
		t.Fatalf("from the environment = %v, %v; want 250", f.Config.MaxGroupMembers, err)
	}
	if f, err := server.ParseFlags([]string{"-max-group-members", "7"}, env); err != nil || f.Config.MaxGroupMembers != 7 {
		t.Fatalf("flag over environment = %v, %v; want 7", f.Config.MaxGroupMembers, err)
	}
	for _, bad := range []string{"0", "-3", "many", "1e3", ""} {
		if _, err := server.ParseFlags([]string{"-max-group-members", bad}, none); err == nil {
			t.Errorf("-max-group-members %q accepted", bad)
		}
		if bad == "" {
			continue // an empty variable means unset
		}
		if _, err := server.ParseFlags(nil, func(k string) string {
			if k == "PARLEY_MAX_GROUP_MEMBERS" {
				return bad
			}
			return ""
		}); err == nil {
			t.Errorf("PARLEY_MAX_GROUP_MEMBERS=%q accepted", bad)
		}
	}
	var usage bytes.Buffer
	server.Usage(&usage, env)
	if !strings.Contains(usage.String(), "-max-group-members") || !strings.Contains(usage.String(), "(default 250)") {
		t.Fatalf("usage does not show the flag with its default from the environment:\n%s", usage.String())
	}
}
