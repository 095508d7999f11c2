package groupbench

import (
	"context"
	"time"

	"github.com/parley-chat/parley/client"
)

// SendStat is one call of Client.Send to the group, as its sender saw it.
type SendStat struct {
	Tag    string `json:"tag"`
	Sender string `json:"sender"`
	// Start is when Send was called (Unix nanoseconds); the members'
	// arrival times are measured from it.
	Start    int64         `json:"start_unix_ns"`
	Duration time.Duration `json:"duration_ns"`
	// CPU is the sending process's CPU time over the call, user plus
	// system (getrusage). In the coordinator nothing else of note runs
	// then; in a member process the other members' clients do too.
	CPU        time.Duration `json:"cpu_ns"`
	Requests   Requests      `json:"requests"`
	Recipients int           `json:"recipients"` // other member accounts when it was sent
	Err        string        `json:"error,omitempty"`

	id client.MessageID // the sent message, for its receipts
}

// send sends a group text tagged tag of size bytes and measures it. If
// aroundPut is set, it runs just before and after the PUT (probe.go).
func (m *member) send(ctx context.Context, conv client.ConversationID, tag string, size int, aroundPut func(after bool)) SendStat {
	ctr := &counter{aroundPut: aroundPut}
	body := text(tag, size)
	sctx, cancel := context.WithTimeout(withCount(ctx, ctr), m.p.timeout)
	defer cancel()
	cpu0 := processCPU()
	t0 := time.Now()
	msg, err := m.c.Send(sctx, conv, body)
	took := time.Since(t0)
	cpu := processCPU() - cpu0
	st := SendStat{Tag: tag, Sender: m.name, Start: t0.UnixNano(), Duration: took, CPU: cpu,
		Requests: ctr.snapshot(), Recipients: msg.Recipients, id: msg.ID}
	if err != nil {
		st.Err = err.Error()
	}
	return st
}
