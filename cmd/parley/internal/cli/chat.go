package cli

import (
	"context"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/cmd/parley/internal/tui"
)

type chatCmd struct {
	Peer string `arg:"" optional:"" help:"Open the conversation with this user, e.g. @bob."`
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
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan error, 1)
	go func() { done <- cl.Run(ctx) }()
	err = tui.Run(ctx, cl, events, username(c.Peer), r.env.Stdin, r.env.Stdout)
	cancel()
	<-done
	return err
}
