package client_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/parley-chat/parley/client"
)

func ptr[T any](v T) *T { return &v }

// profileOf is d's view of user's profile; it fails the test on an error.
func (d *device) profileOf(user string) client.Profile {
	d.t.Helper()
	p, err := d.Profile(context.Background(), user)
	if err != nil {
		d.t.Fatalf("%s.%d reads %s's profile: %v", d.Username(), d.DeviceID(), user, err)
	}
	return p
}

// waitProfile waits for d's event that user's profile is now version,
// and checks its name.
func (d *device) waitProfile(user string, version uint64, name string) client.Profile {
	d.t.Helper()
	e := d.waitEvent(func(e client.Event) bool {
		p, ok := e.(*client.ProfileChangedEvent)
		return ok && p.Profile.Username == user && p.Profile.Version == version
	})
	p := e.(*client.ProfileChangedEvent).Profile
	if p.Name != name {
		d.t.Fatalf("%s.%d: %s's profile %d is named %q, want %q", d.Username(), d.DeviceID(), user, version, p.Name, name)
	}
	return p
}

// TestProfileTwoAccountsTwoDevices: alice and bob, two devices each. A
// profile set on one device reaches the account's other device, and the
// peer's two devices with the next message; both directions; an update
// reaches every device; the avatar opens on the peer's side.
func TestProfileTwoAccountsTwoDevices(t *testing.T) {
	ctx := context.Background()
	srv := start(t)
	alice, _ := register(t, srv, "alice")
	alice2 := link(t, srv, alice, "alice-laptop")
	bob, _ := register(t, srv, "bob")
	bob2 := link(t, srv, bob, "bob-laptop")
	all := []*device{alice, alice2, bob, bob2}

	if _, err := alice.MyProfile(ctx); !errors.Is(err, client.ErrNoProfile) {
		t.Fatalf("before any is set: %v, want ErrNoProfile", err)
	}
	p, err := alice.SetProfile(ctx, client.ProfileChange{Name: ptr("  Alice A. "), About: ptr("likes tea")})
	if err != nil || p.Name != "Alice A." || p.Version != 1 {
		t.Fatalf("SetProfile = %+v, %v", p, err)
	}
	syncAll(t, alice2)
	alice2.waitProfile("alice", 1, "Alice A.")
	if got := alice2.profileOf("alice"); got.About != "likes tea" || got.Username != "alice" {
		t.Fatalf("alice's other device sees %+v", got)
	}
	if _, err := bob.Profile(ctx, "alice"); !errors.Is(err, client.ErrNoProfileKey) {
		t.Fatalf("bob before any message: %v, want ErrNoProfileKey", err)
	}

	alice.send("bob", "hi bob")
	syncAll(t, bob, bob2)
	for _, d := range []*device{bob, bob2} {
		d.waitProfile("alice", 1, "Alice A.")
		if got := d.profileOf("alice"); got.About != "likes tea" || got.Version != 1 {
			t.Fatalf("%s.%d sees %+v", d.Username(), d.DeviceID(), got)
		}
	}

	// The other way: bob's second device accepts alice's message request
	// (spec/client.md §11.8), so she is a contact, and sets a profile;
	// the notice reaches both her devices before any message.
	if err := bob2.Accept(ctx, client.Direct("alice")); err != nil {
		t.Fatal(err)
	}
	img := bytes.Repeat([]byte("\x89PNG bob"), 300)
	if _, err := bob2.SetProfile(ctx, client.ProfileChange{Name: ptr("Bob"),
		Avatar: &client.File{ContentType: "image/png", Body: bytes.NewReader(img)}}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, all...)
	for _, d := range []*device{alice, alice2, bob} {
		d.waitProfile("bob", 1, "Bob")
	}
	var got bytes.Buffer
	if a, err := alice2.ProfileAvatar(ctx, "bob", &got); err != nil || !bytes.Equal(got.Bytes(), img) || a.ContentType != "image/png" {
		t.Fatalf("bob's avatar on alice's laptop: %+v, %v", a, err)
	}
	if _, err := alice.ProfileAvatar(ctx, "alice", &got); !errors.Is(err, client.ErrNoAvatar) {
		t.Fatalf("alice's own avatar: %v, want ErrNoAvatar", err)
	}

	// An update from alice's other device: every device sees it; the
	// about line stays.
	if _, err := alice2.SetProfile(ctx, client.ProfileChange{Name: ptr("Alice B.")}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, all...)
	for _, d := range []*device{alice, bob, bob2} {
		if p := d.waitProfile("alice", 2, "Alice B."); p.About != "likes tea" || p.Version != 2 {
			t.Fatalf("%s.%d sees %+v", d.Username(), d.DeviceID(), p)
		}
	}
	if p := alice.profileOf("alice"); p.Name != "Alice B." || p.Version != 2 {
		t.Fatalf("alice's first device sees its own %+v", p)
	}

	// What the user types is checked, and nothing changes.
	for _, bad := range []client.ProfileChange{
		{Name: ptr(string(bytes.Repeat([]byte("n"), client.MaxProfileName+1)))},
		{About: ptr(string(bytes.Repeat([]byte("a"), client.MaxProfileAbout+1)))},
		{Name: ptr("evil\u202ename")},
		{Avatar: &client.File{ContentType: "text/plain", Body: bytes.NewReader(img)}},
	} {
		if _, err := alice.SetProfile(ctx, bad); err == nil {
			t.Fatalf("SetProfile(%+v) succeeded", bad)
		}
	}
	if p := bob.profileOf("alice"); p.Version != 2 {
		t.Fatalf("after refused changes bob sees version %d", p.Version)
	}
}

// TestProfileGroup: members who never wrote to each other 1:1 learn each
// other's profiles from the group's messages.
func TestProfileGroup(t *testing.T) {
	ctx := context.Background()
	srv := start(t)
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	carol, _ := register(t, srv, "carol")
	carol2 := link(t, srv, carol, "carol-laptop")
	all := []*device{alice, bob, carol, carol2}
	for _, d := range []*device{alice, carol} {
		if _, err := d.SetProfile(ctx, client.ProfileChange{Name: ptr("The " + d.Username())}); err != nil {
			t.Fatal(err)
		}
	}
	g, err := alice.CreateGroup(ctx, "Club", "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 1, all...)
	if _, err := carol.Send(ctx, g.Conversation, "hello club"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, g.Conversation, "welcome"); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 1, all...)
	// Fetched on arrival: Profile reads what is stored.
	for _, d := range []*device{carol, carol2, bob} {
		if p := d.profileOf("alice"); p.Name != "The alice" {
			t.Fatalf("%s.%d sees alice as %+v", d.Username(), d.DeviceID(), p)
		}
	}
	for _, d := range []*device{alice, bob} {
		if p := d.profileOf("carol"); p.Name != "The carol" {
			t.Fatalf("%s.%d sees carol as %+v", d.Username(), d.DeviceID(), p)
		}
	}
	// An update reaches the members by notice, before any message.
	if _, err := carol2.SetProfile(ctx, client.ProfileChange{About: ptr("new here")}); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 1, all...)
	for _, d := range []*device{alice, bob, carol} {
		if p := d.waitProfile("carol", 2, "The carol"); p.About != "new here" || p.Version != 2 {
			t.Fatalf("%s.%d sees %+v", d.Username(), d.DeviceID(), p)
		}
	}
}

// TestProfileAttacks: a server that alters its own database, and accounts
// that are not contacts. The server serves another account's ciphertext
// as alice's, or an older version of alice's: both are refused and what
// bob knew stays. dave, who never talked to alice, gets the ciphertext but
// no key: he learns nothing, not even the name's length. A malformed
// profile notice changes nothing. After alice rotates her key without
// bob, bob's old key opens nothing new, while carol and alice's other
// device follow.
func TestProfileAttacks(t *testing.T) {
	ctx := context.Background()
	srv := start(t)
	alice, _ := register(t, srv, "alice")
	alice2 := link(t, srv, alice, "alice-laptop")
	bob, _ := register(t, srv, "bob")
	carol, _ := register(t, srv, "carol")
	dave, _ := register(t, srv, "dave")
	for _, d := range []*device{alice, carol} {
		if _, err := d.SetProfile(ctx, client.ProfileChange{Name: ptr("I am " + d.Username())}); err != nil {
			t.Fatal(err)
		}
		d.send("bob", "hi from "+d.Username())
	}
	alice.send("carol", "hi carol")
	syncAll(t, alice2, bob, carol)
	if p := bob.profileOf("alice"); p.Name != "I am alice" {
		t.Fatalf("bob sees alice as %+v", p)
	}
	db := openServerDB(t, srv)
	row := func(user string) (version int64, ct []byte) {
		t.Helper()
		if err := db.QueryRow(`SELECT version, ciphertext FROM profiles JOIN accounts ON accounts.id = account_id
			WHERE username = ?`, user).Scan(&version, &ct); err != nil {
			t.Fatal(err)
		}
		return version, ct
	}
	setRow := func(user string, version int64, ct []byte) {
		t.Helper()
		if _, err := db.Exec(`UPDATE profiles SET version = ?, ciphertext = ?
			WHERE account_id = (SELECT id FROM accounts WHERE username = ?)`, version, ct, user); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(d *device, user, want string) {
		t.Helper()
		if _, err := d.RefreshProfile(ctx, user); !errors.Is(err, client.ErrProfileRefused) {
			t.Fatalf("%s refreshes %s: %v, want ErrProfileRefused", d.Username(), user, err)
		}
		if p := d.profileOf(user); p.Name != want {
			t.Fatalf("%s now sees %s as %q, want %q", d.Username(), user, p.Name, want)
		}
	}

	// Carol's ciphertext served as alice's (bob holds both keys).
	av1, act1 := row("alice")
	cv, cct := row("carol")
	setRow("alice", cv, cct)
	refused(bob, "alice", "I am alice")
	setRow("alice", av1, act1)

	// Alice's version 1, served after her version 2.
	if _, err := alice.SetProfile(ctx, client.ProfileChange{Name: ptr("Alice, now")}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob)
	bob.waitProfile("alice", 2, "Alice, now")
	setRow("alice", av1, act1)
	refused(bob, "alice", "Alice, now")
	// Version 1's ciphertext under the number 2 does not open either.
	setRow("alice", 2, act1)
	refused(bob, "alice", "Alice, now")
	_, act2 := row("alice")
	setRow("alice", 3, act2)
	refused(bob, "alice", "Alice, now")

	// dave: the ciphertext, but no key.
	raw, err := dave.TransportForTest().Profile(ctx, "alice")
	if err != nil || bytes.Contains(raw.Ciphertext, []byte("Alice")) || len(raw.Ciphertext) != len(cct) {
		t.Fatalf("dave reads %d bytes (carol's are %d), %v", len(raw.Ciphertext), len(cct), err)
	}
	if _, err := dave.Profile(ctx, "alice"); !errors.Is(err, client.ErrNoProfileKey) {
		t.Fatalf("dave reads alice's profile: %v, want ErrNoProfileKey", err)
	}
	if _, err := dave.Profile(ctx, "nobody"); !errors.Is(err, client.ErrNoSuchUser) {
		t.Fatalf("an unknown user's profile: %v, want ErrNoSuchUser", err)
	}
	if _, err := bob.Profile(ctx, "dave"); !errors.Is(err, client.ErrNoProfile) {
		t.Fatalf("a profile never set: %v, want ErrNoProfile", err)
	}

	// A malformed notice (kind 10 without its key) changes nothing.
	setRow("alice", 2, act1[:0])
	if _, err := alice.SetProfile(ctx, client.ProfileChange{Name: ptr("Alice 3")}); err != nil {
		t.Fatalf("after the server's meddling alice sets version 3: %v", err)
	}
	syncAll(t, bob)
	bob.waitProfile("alice", 3, "Alice 3")
	if err := alice.SendKindForTest(ctx, "bob", 10); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob)
	if p, err := bob.RefreshProfile(ctx, "alice"); err != nil || p.Name != "Alice 3" {
		t.Fatalf("after a malformed notice bob sees %+v, %v", p, err)
	}

	// Rotation without bob.
	if err := alice.RotateProfileKey(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, alice2, bob, carol)
	carol.waitProfile("alice", 4, "Alice 3")
	alice2.waitProfile("alice", 4, "Alice 3")
	if p, err := alice2.RefreshProfile(ctx, "alice"); err != nil || p.Version != 4 {
		t.Fatalf("alice's other device after the rotation: %+v, %v", p, err)
	}
	refused(bob, "alice", "Alice 3")
	if p := bob.profileOf("alice"); p.Version != 3 {
		t.Fatalf("bob still has version %d", p.Version)
	}
}
