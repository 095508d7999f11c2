package cli

import (
	"context"
	"strings"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/cmd/parley/internal/tui"
)

type chatCmd struct {
	Peer string `arg:"" optional:"" help:"Open the conversation with this user, e.g. @bob, or a group, e.g. +Family."`
}

func (c *chatCmd) Run(r *run) error {
	// The UI redraws from the store on each event, so dropping events
	// when it falls behind loses nothing.
	events := make(chan client.Event, 256)
	cl, err := r.open(func(e client.Event) {
		select {
		case events <- e:
		default:
		}
	})
	if err != nil {
		return err
	}
	defer cl.Close()
	open := username(c.Peer)
	if strings.HasPrefix(c.Peer, "+") {
		if err := cl.Sync(r.ctx); err != nil {
			return err
		}
		conv, err := r.target(cl, c.Peer)
		if err != nil {
			return err
		}
		open = string(conv)
	}
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan error, 1)
	go func() { done <- cl.Run(ctx) }()
	err = tui.Run(ctx, cl, events, open, r.env.Stdin, r.env.Stdout)
	cancel()
	<-done
	return err
}
