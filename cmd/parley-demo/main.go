// Command parley-demo runs Parley's protocol between two in-memory parties:
// Alice fetches Bob's prekey bundle, starts a PQXDH session, and the two
// exchange Double Ratchet messages; then both print their safety number.
// It is the run command until the server exists.
package main

import (
	"fmt"
	"os"

	"github.com/parley-chat/parley/internal/fingerprint"
	"github.com/parley-chat/parley/internal/protocoltest"
	"github.com/parley-chat/parley/internal/session"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "parley-demo:", err)
		os.Exit(1)
	}
}

func run() error {
	alice, err := protocoltest.NewParty(nil, false)
	if err != nil {
		return err
	}
	bob, err := protocoltest.NewParty(nil, true)
	if err != nil {
		return err
	}
	as, err := session.Initiate(alice.Identity, nil, bob.Bundle(), nil)
	if err != nil {
		return err
	}
	first, err := as.Encrypt([]byte("Hi Bob, this is post-quantum."))
	if err != nil {
		return err
	}
	resp, err := session.Respond(bob.Identity, bob.Store, nil, nil, first, nil)
	if err != nil {
		return err
	}
	fmt.Printf("alice -> bob  prekey message, %d bytes: %q\n", len(first), resp.Plaintext)
	bs := resp.Session
	for i, turn := range []struct{ from, text string }{
		{"bob", "Hi Alice. Ratcheting forward."},
		{"alice", "Each reply heals a leaked state."},
		{"bob", "And each key is gone once used."},
	} {
		send, recv := bs, as
		if turn.from == "alice" {
			send, recv = as, bs
		}
		ct, err := send.Encrypt([]byte(turn.text))
		if err != nil {
			return err
		}
		pt, err := recv.Decrypt(ct)
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		fmt.Printf("%-5s         ratchet message, %d bytes: %q\n", turn.from, len(ct), pt)
	}
	a, b := alice.Identity.Public().Encode(), bob.Identity.Public().Encode()
	sn, err := fingerprint.New(2, fingerprint.DefaultIterations, []byte("alice"), a, []byte("bob"), b)
	if err != nil {
		return err
	}
	fmt.Println("safety number:", sn.Groups())
	return nil
}
