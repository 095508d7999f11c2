package cli

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/skip2/go-qrcode"

	"github.com/parley-chat/parley/client"
)

type contactsCmd struct{}

func (contactsCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	cs, err := cl.Contacts(r.ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		state := "unverified"
		switch {
		case c.Held:
			state = "CHANGED (verify before sending)"
		case c.Verified:
			state = "verified"
		}
		r.outf("@%s  %s\n", safe(c.Username), state)
	}
	if len(cs) == 0 {
		r.errf("no contacts yet\n")
	}
	return nil
}

type verifyCmd struct {
	Peer     string `arg:"" help:"The contact, e.g. @bob."`
	Confirm  bool   `help:"Mark the contact verified: you compared the number in person or over a trusted channel." xor:"action"`
	Unverify bool   `help:"Clear the verified mark." xor:"action"`
	Scan     string `help:"The contact's scannable code (hex), from their parley verify --code." xor:"action"`
	Code     bool   `help:"Print this side's scannable code as hex, for the contact to pass to --scan."`
}

func (c *verifyCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	peer := username(c.Peer)
	switch {
	case c.Confirm:
		if err := cl.Verify(r.ctx, peer, nil); err != nil {
			return err
		}
		r.errf("@%s is verified\n", peer)
		return nil
	case c.Unverify:
		if err := cl.Unverify(r.ctx, peer); err != nil {
			return err
		}
		r.errf("@%s is no longer verified\n", peer)
		return nil
	case c.Scan != "":
		code, err := hex.DecodeString(strings.TrimSpace(c.Scan))
		if err != nil {
			return fail("pass the hex code that `parley verify @you --code` prints on the contact's device", "the scanned code is not hex")
		}
		if err := cl.Verify(r.ctx, peer, code); err != nil {
			if errors.Is(err, client.ErrSafetyNumberMismatch) {
				return fail("do not trust this conversation until you know why: someone may be in the middle", "the code does not match @%s's safety number", peer)
			}
			return err
		}
		r.errf("the codes match: @%s is verified\n", peer)
		return nil
	}
	digits, scannable, err := cl.SafetyNumber(r.ctx, peer)
	if err != nil {
		return err
	}
	if c.Code {
		r.outf("%x\n", scannable)
		return nil
	}
	r.outf("Safety number with @%s:\n", peer)
	for i := 0; i < 12; i += 4 {
		r.outf("%s %s %s %s\n", digits[i*5:i*5+5], digits[i*5+5:i*5+10], digits[i*5+10:i*5+15], digits[i*5+15:i*5+20])
	}
	if qr, err := qrcode.New(fmt.Sprintf("%x", scannable), qrcode.Medium); err == nil {
		r.errf("%s", qr.ToSmallString(false))
	}
	r.errf("Compare these digits with @%s's screen, then run: parley verify @%s --confirm\n", peer, peer)
	return nil
}
