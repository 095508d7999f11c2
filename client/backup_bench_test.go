package client_test

import (
	"bufio"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/sqlitestore"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// BenchmarkBackup backs up and restores a device with 100,000 messages
// and 1 GiB of attachments (16 of 64 MiB) through a real server and real
// SQLite files (docs/BENCHMARKS.md, "Encrypted backup"). It runs only on
// request, as it writes about 4 GiB to the temporary directory:
//
//	PARLEY_BIG=1 go test -run XXX -bench Backup -benchtime 1x ./client
//
// PARLEY_BACKUP_MESSAGES and PARLEY_BACKUP_MIB change the sizes.
func BenchmarkBackup(b *testing.B) {
	if os.Getenv("PARLEY_BIG") == "" {
		b.Skip("set PARLEY_BIG=1: the benchmark writes about 4 GiB")
	}
	messages, mib := envInt("PARLEY_BACKUP_MESSAGES", 100_000), envInt("PARLEY_BACKUP_MIB", 1024)
	ctx := context.Background()
	srv := parleytest.Start(b, server.Config{})
	alice := registerB(b, srv.URL, "alice")
	registerB(b, srv.URL, "bob")
	const files = 16
	t0 := time.Now()
	for i := range files {
		body := io.LimitReader(rand.NewChaCha8([32]byte{byte(i)}), int64(mib)<<20/files)
		if _, err := alice.SendAttachment(ctx, client.Direct("bob"), client.File{Name: "f" + strconv.Itoa(i), Body: body}, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("sent %d attachments, %d MiB, in %v", files, mib, time.Since(t0))
	t0 = time.Now()
	if err := alice.FillHistoryForTest(ctx, "bob", messages, 100); err != nil {
		b.Fatal(err)
	}
	b.Logf("stored %d messages in %v", messages, time.Since(t0))

	for b.Loop() {
		dir := b.TempDir()
		path := filepath.Join(dir, "backup")
		var sum client.BackupSummary
		backupT, backupHeap, backupHWM := measure(b, func() error {
			f, err := os.Create(path)
			if err != nil {
				return err
			}
			w := bufio.NewWriterSize(f, 1<<20)
			if sum, err = alice.Backup(ctx, w); err == nil {
				err = w.Flush()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			return err
		})
		st := newStoreB(b, filepath.Join(dir, "restored.db"))
		cfg := client.Config{Store: st, Passphrase: passphrase, AttachmentDir: filepath.Join(dir, "attachments"), HTTPClient: &http.Client{Transport: noBlobs{}}}
		restoreT, restoreHeap, restoreHWM := measure(b, func() error {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			c, err := client.RestoreBackup(ctx, cfg, bufio.NewReaderSize(f, 1<<20), sum.Key)
			if err == nil {
				err = c.Close()
			}
			return err
		})
		if sum.Attachments != files {
			b.Fatalf("backup summary %+v", sum)
		}
		b.ReportMetric(backupT.Seconds(), "backup-s")
		b.ReportMetric(restoreT.Seconds(), "restore-s")
		b.ReportMetric(float64(sum.Bytes)/(1<<20), "file-MiB")
		b.ReportMetric(backupHeap, "backup-heap-MiB")
		b.ReportMetric(restoreHeap, "restore-heap-MiB")
		b.ReportMetric(backupHWM, "backup-VmHWM-MiB")
		b.ReportMetric(restoreHWM, "restore-VmHWM-MiB")
		b.Logf("%d records, %d attachments, %d bytes", sum.Records, sum.Attachments, sum.Bytes)
	}
}

// measure runs fn and returns its time, the highest heap in use sampled
// every 10 ms, and the process's peak resident set (VmHWM, reset before).
func measure(b *testing.B, fn func() error) (time.Duration, float64, float64) {
	runtime.GC()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // resets VmHWM; best effort
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	t0 := time.Now()
	err := fn()
	d := time.Since(t0)
	close(stop)
	peak := <-done
	if err != nil {
		b.Fatal(err)
	}
	return d, float64(peak) / (1 << 20), vmHWM() / 1024
}

// vmHWM is the process's peak resident set in KiB, or 0.
func vmHWM() float64 {
	s, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(s)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return n
		}
	}
	return 0
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func newStoreB(b *testing.B, path string) *sqlitestore.Store {
	st, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func registerB(b *testing.B, url, name string) *client.Client {
	cfg := client.Config{Store: newStoreB(b, filepath.Join(b.TempDir(), name+".db")), Passphrase: passphrase, TempDir: b.TempDir()}
	c, _, err := client.Create(context.Background(), cfg, client.CreateOptions{Server: url, Username: name})
	if err != nil {
		b.Fatal(err)
	}
	return c
}
