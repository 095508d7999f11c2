package groupbench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// MinSize is the shortest text a run sends: its tag, at most 32 bytes,
// comes first.
const MinSize = 40

// WriteText prints the result as a table.
func (r *Result) WriteText(w io.Writer) {
	fmt.Fprintf(w, "group of %d accounts (one device each; %d in %d member processes), texts of %d B; setup %.1fs, 1:1 sessions with the admin and the senders %.1fs\n",
		r.Members, r.Members-1, r.Procs, r.Size, r.SetupSeconds, r.SessionsSeconds)
	writeStep(w, "create group", &r.Create)
	fmt.Fprintf(w, "%-22s%9s%9s%9s%6s%10s%9s%9s%9s%9s%9s\n", "send (ms)", "duration", "CPU", "parleyd", "reqs",
		"PUT bytes", "PUT rtt", "stored", "p50", "p99", "max")
	row := func(name string, s *SendResult) {
		if s.Tag == "" {
			return
		}
		rcpt := ""
		if !s.Receipts {
			rcpt = " (receipts missing)"
		}
		fmt.Fprintf(w, "%-22s%9.1f%9.1f%9.0f%6d%10d%9.1f%5d/%-3d%9.1f%9.1f%9.1f%s\n", name, ms(s.Duration), ms(s.CPU),
			ms(s.ServerCPU), s.Requests.Count, s.Requests.PutBytes, ms(s.Requests.PutRTT),
			s.Stored.Count, s.Stored.Of, s.Stored.P50, s.Stored.P99, s.Stored.Max, rcpt)
		if s.Err != "" {
			fmt.Fprintf(w, "  error: %s\n", s.Err)
		}
	}
	row("cold (admin)", &r.Cold)
	for i := range r.Warm {
		row(fmt.Sprintf("warm %d (admin)", i+1), &r.Warm[i])
	}
	if r.ProbeSend != nil {
		row("probed (admin)", r.ProbeSend)
	}
	for i := range r.FirstSends {
		row("first "+r.FirstSends[i].Sender, &r.FirstSends[i])
	}
	for i := range r.Rotations {
		row("rotate "+r.Rotations[i].Sender, &r.Rotations[i])
	}
	fmt.Fprintln(w, "(CPU: the sending process's; a member's shares its process with the other members' clients. parleyd: 10 ms ticks)")
	if len(r.Warm) > 0 {
		fmt.Fprintf(w, "warm send requests: %s\n", routes(r.Warm[0].Requests.ByRoute))
	}
	if p := r.Probe; p != nil {
		fmt.Fprintf(w, "server, over the probed PUT: %g enqueue ops taking %.2f ms (parley_store_seconds)", p.EnqueueOps, p.EnqueueSeconds*1e3)
		if p.Store {
			fmt.Fprintf(w, "; stored %d bodies of %d B in all, %d rows naming them (%d B of row content, about %d B of other columns); files grew %d B",
				p.Bodies, p.BodyBytes, p.Rows, p.RowContentBytes, p.RowOtherBytes, p.FileGrowth)
		} else {
			fmt.Fprint(w, "; store not read (give -server-data)")
		}
		fmt.Fprintln(w)
		if p.Err != "" {
			fmt.Fprintf(w, "  probe errors: %s\n", p.Err)
		}
	}
	if r.Removed != "" {
		writeStep(w, "remove "+r.Removed, &r.Remove)
	}
	if e := r.Rotation; e.Measured > 0 {
		fmt.Fprintf(w, "rotation: %d sends measured, mean %.2fs, max %.2fs; all %d remaining senders each sending once, one after another on this machine: %.0fs (mean × %d), %d 1:1 envelopes\n",
			e.Measured, e.MeanSeconds, e.MaxSeconds, e.Remaining, e.SumSeconds, e.Remaining, e.Envelopes)
	}
	if len(r.Incomplete) > 0 {
		fmt.Fprintf(w, "incomplete steps (the wait ran out): %s\n", strings.Join(r.Incomplete, ", "))
	}
	fmt.Fprintf(w, "duplicates %d, unexpected messages %d, decryption failures %d, clients stopped %d\n",
		r.Duplicates, r.Unexpected, r.DecryptionFailures, r.RunErrors)
	fmt.Fprint(w, "SDK warnings:")
	if len(r.Warnings) == 0 {
		fmt.Fprint(w, " none")
	}
	for _, k := range slices.Sorted(maps.Keys(r.Warnings)) {
		fmt.Fprintf(w, " %q=%d", k, r.Warnings[k])
	}
	fmt.Fprintln(w)
}

func writeStep(w io.Writer, name string, s *Step) {
	fmt.Fprintf(w, "%s: %.2fs, CPU %.2fs, parleyd %.2fs, %d requests (%s); applied by %d/%d members: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		name, s.Duration.Seconds(), s.CPU.Seconds(), s.ServerCPU.Seconds(), s.Requests.Count, routes(s.Requests.ByRoute),
		s.Reached.Count, s.Reached.Of, s.Reached.P50, s.Reached.P99, s.Reached.Max)
	if s.Err != "" {
		fmt.Fprintf(w, "  error: %s\n", s.Err)
	}
}

func routes(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
