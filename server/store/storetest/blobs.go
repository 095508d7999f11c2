package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/store"
)

// The media methods (store.BlobStore): uploads in progress, blobs, their
// owners and quotas, retention and expiry.

// digest is a blob name made from s; the store never checks it against
// any bytes.
func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

const noQuota = 1 << 62

// startUpload creates an upload of size bytes for the account's first
// device, created at t0 and expiring a day later.
func startUpload(t *testing.T, s store.Store, a store.Account, id, sum string, size int64, t0 time.Time) store.Upload {
	t.Helper()
	u := store.Upload{ID: id, AccountID: a.ID, DeviceID: 1, SHA256: sum, Size: size,
		ContentType: "image/png", Created: t0, Expires: t0.Add(24 * time.Hour)}
	if err := s.CreateUpload(t.Context(), u, noQuota); err != nil {
		t.Fatalf("CreateUpload(%s): %v", id, err)
	}
	return u
}

// finishUpload advances an upload to its size and commits it.
func finishUpload(t *testing.T, s store.Store, u store.Upload, at, expires time.Time) store.Blob {
	t.Helper()
	if err := s.AdvanceUpload(t.Context(), u.ID, 0, u.Size, at.Add(24*time.Hour)); err != nil {
		t.Fatalf("AdvanceUpload(%s): %v", u.ID, err)
	}
	b, err := s.CommitUpload(t.Context(), u.ID, at, expires)
	if err != nil {
		t.Fatalf("CommitUpload(%s): %v", u.ID, err)
	}
	return b
}

func checkUsed(t *testing.T, s store.Store, a store.Account, at time.Time, want int64) {
	t.Helper()
	if n, err := s.StorageUsed(t.Context(), a.ID, at); err != nil || n != want {
		t.Fatalf("StorageUsed(%s) = %d, %v; want %d", a.Username, n, err, want)
	}
}

func sameBlob(got, want store.Blob) bool {
	return got.SHA256 == want.SHA256 && got.Size == want.Size && got.ContentType == want.ContentType &&
		got.Created.Equal(want.Created) && got.Expires.Equal(want.Expires) && got.Retained == want.Retained
}

func checkBlob(t *testing.T, s store.Store, want store.Blob) {
	t.Helper()
	got, err := s.Blob(t.Context(), want.SHA256)
	if err != nil || !sameBlob(got, want) {
		t.Fatalf("Blob(%s) = %+v, %v; want %+v", want.SHA256[:8], got, err, want)
	}
}

func testUploads(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, "uma")
	t0 := now()
	sum := digest("photo")
	u := startUpload(t, s, a, "up1", sum, 1000, t0)
	got, err := s.Upload(ctx, "up1")
	if err != nil || got != u {
		t.Fatalf("Upload = %+v, %v; want %+v", got, err, u)
	}
	if err := s.CreateUpload(ctx, u, noQuota); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateUpload(same ID) = %v, want ErrExists", err)
	}
	stranger := u
	stranger.ID, stranger.AccountID = "up2", a.ID+1000
	if err := s.CreateUpload(ctx, stranger, noQuota); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CreateUpload(unknown account) = %v, want ErrNotFound", err)
	}
	if _, err := s.Upload(ctx, "up2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Upload(never created) = %v, want ErrNotFound", err)
	}

	// Advancing: only from the current offset.
	exp := t0.Add(48 * time.Hour)
	if err := s.AdvanceUpload(ctx, "up1", 0, 400, exp); err != nil {
		t.Fatalf("AdvanceUpload(0 -> 400): %v", err)
	}
	if err := s.AdvanceUpload(ctx, "up1", 0, 500, exp); !errors.Is(err, store.ErrOffsetMismatch) {
		t.Fatalf("AdvanceUpload(from a stale offset) = %v, want ErrOffsetMismatch", err)
	}
	if err := s.AdvanceUpload(ctx, "up1", 400, 400, exp); err != nil {
		t.Fatalf("AdvanceUpload(400 -> 400): %v", err)
	}
	if err := s.AdvanceUpload(ctx, "nope", 0, 1, exp); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("AdvanceUpload(unknown) = %v, want ErrNotFound", err)
	}
	u.Offset, u.Expires = 400, exp
	if got, err := s.Upload(ctx, "up1"); err != nil || got != u {
		t.Fatalf("Upload after advancing = %+v, %v; want %+v", got, err, u)
	}
	// A commit before the last byte is refused and changes nothing.
	if _, err := s.CommitUpload(ctx, "up1", t0, t0.Add(time.Hour)); !errors.Is(err, store.ErrOffsetMismatch) {
		t.Fatalf("CommitUpload(unfinished) = %v, want ErrOffsetMismatch", err)
	}
	if _, err := s.Blob(ctx, sum); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Blob before commit = %v, want ErrNotFound", err)
	}
	if err := s.AdvanceUpload(ctx, "up1", 400, 1000, exp); err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(time.Minute)
	b, err := s.CommitUpload(ctx, "up1", t1, t1.Add(30*24*time.Hour))
	want := store.Blob{SHA256: sum, Size: 1000, ContentType: "image/png", Created: t1, Expires: t1.Add(30 * 24 * time.Hour)}
	if err != nil || !sameBlob(b, want) {
		t.Fatalf("CommitUpload = %+v, %v; want %+v", b, err, want)
	}
	checkBlob(t, s, want)
	if _, err := s.Upload(ctx, "up1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Upload after commit = %v, want ErrNotFound", err)
	}
	if _, err := s.CommitUpload(ctx, "up1", t1, t1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CommitUpload twice = %v, want ErrNotFound", err)
	}
	checkUsed(t, s, a, t1, 1000)

	// Deleting an upload.
	startUpload(t, s, a, "up3", digest("other"), 10, t0)
	if err := s.DeleteUpload(ctx, "up3"); err != nil {
		t.Fatalf("DeleteUpload: %v", err)
	}
	if err := s.DeleteUpload(ctx, "up3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteUpload twice = %v, want ErrNotFound", err)
	}
	checkUsed(t, s, a, t1, 1000)
}

// testBlobOwners: a blob uploaded by two accounts is stored once, keeps
// its first content type and creation time, takes the later expiry, and
// counts for each account.
func testBlobOwners(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, "ann")
	b, _ := newAccount(t, s, "ben")
	c, _ := newAccount(t, s, "cal")
	t0 := now()
	sum := digest("shared")
	first := finishUpload(t, s, startUpload(t, s, a, "a1", sum, 500, t0), t0, t0.Add(time.Hour))
	u := store.Upload{ID: "b1", AccountID: b.ID, DeviceID: 1, SHA256: sum, Size: 500,
		ContentType: "image/jpeg", Created: t0, Expires: t0.Add(time.Hour)}
	if err := s.CreateUpload(ctx, u, noQuota); err != nil {
		t.Fatal(err)
	}
	second := finishUpload(t, s, u, t0.Add(time.Minute), t0.Add(2*time.Hour))
	want := store.Blob{SHA256: sum, Size: 500, ContentType: "image/png", Created: first.Created, Expires: t0.Add(2 * time.Hour)}
	if !sameBlob(second, want) {
		t.Fatalf("second upload of a blob = %+v, want %+v", second, want)
	}
	// An earlier expiry does not shorten it.
	finishUpload(t, s, startUpload(t, s, a, "a2", sum, 500, t0), t0, t0.Add(time.Minute))
	checkBlob(t, s, want)
	checkUsed(t, s, a, t0, 500) // owned once, however often uploaded
	checkUsed(t, s, b, t0, 500)

	// Claiming: an owner without an upload.
	got, err := s.ClaimBlob(ctx, c.ID, sum, t0.Add(3*time.Hour), 500, t0)
	want.Expires = t0.Add(3 * time.Hour)
	if err != nil || !sameBlob(got, want) {
		t.Fatalf("ClaimBlob = %+v, %v; want %+v", got, err, want)
	}
	checkUsed(t, s, c, t0, 500)
	// Claiming again costs no quota: c owns it already.
	if _, err := s.ClaimBlob(ctx, c.ID, sum, t0.Add(time.Hour), 500, t0); err != nil {
		t.Fatalf("ClaimBlob by an owner, at its quota: %v", err)
	}
	checkUsed(t, s, c, t0, 500)
	d, _ := newAccount(t, s, "dot")
	if _, err := s.ClaimBlob(ctx, d.ID, sum, t0.Add(time.Hour), 499, t0); !errors.Is(err, store.ErrQuotaExceeded) {
		t.Fatalf("ClaimBlob over the quota = %v, want ErrQuotaExceeded", err)
	}
	checkUsed(t, s, d, t0, 0)
	if _, err := s.ClaimBlob(ctx, d.ID, digest("nothing"), t0.Add(time.Hour), noQuota, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ClaimBlob(unknown blob) = %v, want ErrNotFound", err)
	}
	if _, err := s.ClaimBlob(ctx, d.ID+1000, sum, t0.Add(time.Hour), noQuota, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ClaimBlob(unknown account) = %v, want ErrNotFound", err)
	}
	// An expired blob cannot be claimed, even before the janitor runs.
	late := want.Expires
	if _, err := s.ClaimBlob(ctx, d.ID, sum, late.Add(time.Hour), noQuota, late); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ClaimBlob(expired at now) = %v, want ErrNotFound", err)
	}
	if got, err := s.Blob(ctx, sum); err != nil || !got.Expired(late) {
		t.Fatalf("Blob(expired, not deleted) = %+v, %v; want it, expired", got, err)
	}
	// Expired blobs count for nobody.
	checkUsed(t, s, a, late, 0)
	checkUsed(t, s, c, late, 0)
	// A finished upload brings an expired blob back.
	finishUpload(t, s, startUpload(t, s, d, "d1", sum, 500, late), late, late.Add(time.Hour))
	want.Expires = late.Add(time.Hour)
	checkBlob(t, s, want)
	checkUsed(t, s, a, late, 500)
	checkUsed(t, s, d, late, 500)
}

// testQuota: uploads in progress reserve their whole size; expired
// uploads and blobs stop counting.
func testQuota(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, "quinn")
	t0 := now()
	up := func(id string, size int64, at time.Time) store.Upload {
		return store.Upload{ID: id, AccountID: a.ID, DeviceID: 1, SHA256: digest(id), Size: size,
			ContentType: "application/octet-stream", Created: at, Expires: at.Add(time.Hour)}
	}
	if err := s.CreateUpload(ctx, up("u1", 600, t0), 1000); err != nil {
		t.Fatalf("CreateUpload(600 of 1000): %v", err)
	}
	if err := s.CreateUpload(ctx, up("u2", 401, t0), 1000); !errors.Is(err, store.ErrQuotaExceeded) {
		t.Fatalf("CreateUpload(600 + 401 of 1000) = %v, want ErrQuotaExceeded", err)
	}
	if _, err := s.Upload(ctx, "u2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused upload was stored: %v", err)
	}
	if err := s.CreateUpload(ctx, up("u2", 400, t0), 1000); err != nil {
		t.Fatalf("CreateUpload(600 + 400 of 1000): %v", err)
	}
	checkUsed(t, s, a, t0, 1000)
	if err := s.CreateUpload(ctx, up("big", 2000, t0), 1000); !errors.Is(err, store.ErrQuotaExceeded) {
		t.Fatalf("CreateUpload(over the whole quota) = %v, want ErrQuotaExceeded", err)
	}
	// Finishing one turns its reservation into a blob: the total stays.
	u1, _ := s.Upload(ctx, "u1")
	finishUpload(t, s, u1, t0, t0.Add(2*time.Hour))
	checkUsed(t, s, a, t0, 1000)
	// An hour later the unfinished upload has expired; the blob has not.
	t1 := t0.Add(time.Hour)
	checkUsed(t, s, a, t1, 600)
	if err := s.CreateUpload(ctx, up("u3", 400, t1), 1000); err != nil {
		t.Fatalf("CreateUpload after an upload expired: %v", err)
	}
	checkUsed(t, s, a, t1.Add(30*time.Minute), 1000)
	// Two hours after t0, the blob and u3 have expired too.
	checkUsed(t, s, a, t0.Add(2*time.Hour), 0)
	if n, err := s.StorageUsed(ctx, a.ID+1000, t0); err != nil || n != 0 {
		t.Fatalf("StorageUsed(unknown account) = %d, %v; want 0", n, err)
	}
}

func testRetainBlob(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, "rita")
	t0 := now()
	sum := digest("poster")
	want := finishUpload(t, s, startUpload(t, s, a, "r1", sum, 300, t0), t0, t0.Add(time.Hour))
	for i := 1; i <= 2; i++ {
		if err := s.RetainBlob(ctx, sum, true); err != nil {
			t.Fatalf("RetainBlob #%d: %v", i, err)
		}
		want.Expires, want.Retained = time.Time{}, i
		checkBlob(t, s, want)
	}
	// Retained: never expired, never listed, never deleted, counted for
	// its uploader.
	far := t0.Add(1000 * 24 * time.Hour)
	if got, _ := s.Blob(ctx, sum); got.Expired(far) {
		t.Fatal("a retained blob has expired")
	}
	if names, err := s.ExpiredBlobs(ctx, far, 100); err != nil || slices.Contains(names, sum) {
		t.Fatalf("ExpiredBlobs lists a retained blob: %v, %v", names, err)
	}
	if err := s.DeleteExpiredBlob(ctx, sum, far); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteExpiredBlob(retained) = %v, want ErrNotFound", err)
	}
	checkUsed(t, s, a, far, 300)
	// Another upload while retained: it stays retained, and its expiry
	// counts once released.
	finishUpload(t, s, startUpload(t, s, a, "r2", sum, 300, t0), t0, t0.Add(5*time.Hour))
	checkBlob(t, s, want)
	uploadExpiry := t0.Add(5 * time.Hour)

	if err := s.RetainBlob(ctx, sum, false); err != nil {
		t.Fatalf("release 1 of 2: %v", err)
	}
	want.Retained = 1
	checkBlob(t, s, want)
	if err := s.RetainBlob(ctx, sum, false); err != nil {
		t.Fatalf("release 2 of 2: %v", err)
	}
	want.Retained, want.Expires = 0, uploadExpiry
	checkBlob(t, s, want)
	// Releasing what is not held changes nothing.
	if err := s.RetainBlob(ctx, sum, false); err != nil {
		t.Fatalf("release of an unheld blob = %v, want nil", err)
	}
	checkBlob(t, s, want)
	for _, retain := range []bool{true, false} {
		if err := s.RetainBlob(ctx, digest("unknown"), retain); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("RetainBlob(unknown, %v) = %v, want ErrNotFound", retain, err)
		}
	}
	// An expired blob not yet deleted can be retained again: it is kept.
	late := uploadExpiry.Add(time.Minute)
	if err := s.RetainBlob(ctx, sum, true); err != nil {
		t.Fatalf("RetainBlob(expired, not deleted): %v", err)
	}
	if err := s.DeleteExpiredBlob(ctx, sum, late); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteExpiredBlob after retaining = %v, want ErrNotFound", err)
	}
	// Released long after its expiry, it is expired at once.
	if err := s.RetainBlob(ctx, sum, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Blob(ctx, sum); !got.Expired(late) {
		t.Fatalf("released blob past its upload expiry: %+v, want expired at %v", got, late)
	}
}

func testMediaExpiry(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, "exa")
	t0 := now()
	// Uploads expiring at t0+1h, +2h, +3h; blobs at t0+1h, +2h, +3h.
	for i := 1; i <= 3; i++ {
		u := store.Upload{ID: digest(string(rune('a' + i)))[:20], AccountID: a.ID, DeviceID: 1, SHA256: digest("u" + string(rune('0'+i))),
			Size: 10, ContentType: "text/plain", Created: t0, Expires: t0.Add(time.Duration(i) * time.Hour)}
		if err := s.CreateUpload(ctx, u, noQuota); err != nil {
			t.Fatal(err)
		}
		b := startUpload(t, s, a, "b"+string(rune('0'+i)), digest("b"+string(rune('0'+i))), 10, t0)
		finishUpload(t, s, b, t0, t0.Add(time.Duration(i)*time.Hour))
	}
	at := t0.Add(2 * time.Hour) // expires == now counts as expired
	ups, err := s.ExpiredUploads(ctx, at, 100)
	if err != nil || len(ups) != 2 {
		t.Fatalf("ExpiredUploads(+2h) = %v, %v; want 2", ups, err)
	}
	if ups, err := s.ExpiredUploads(ctx, at, 1); err != nil || len(ups) != 1 {
		t.Fatalf("ExpiredUploads(+2h, limit 1) = %v, %v; want 1", ups, err)
	}
	blobs, err := s.ExpiredBlobs(ctx, at, 100)
	want := []string{digest("b1"), digest("b2")}
	slices.Sort(blobs)
	slices.Sort(want)
	if err != nil || !slices.Equal(blobs, want) {
		t.Fatalf("ExpiredBlobs(+2h) = %v, %v; want %v", blobs, err, want)
	}
	if got, err := s.ExpiredBlobs(ctx, at, 1); err != nil || len(got) != 1 {
		t.Fatalf("ExpiredBlobs(+2h, limit 1) = %v, %v; want 1", got, err)
	}
	if err := s.DeleteExpiredBlob(ctx, digest("b3"), at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteExpiredBlob(not expired) = %v, want ErrNotFound", err)
	}
	checkUsed(t, s, a, t0, 60)
	for _, sum := range want {
		if err := s.DeleteExpiredBlob(ctx, sum, at); err != nil {
			t.Fatalf("DeleteExpiredBlob: %v", err)
		}
		if _, err := s.Blob(ctx, sum); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Blob after DeleteExpiredBlob = %v, want ErrNotFound", err)
		}
		if err := s.DeleteExpiredBlob(ctx, sum, at); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("DeleteExpiredBlob twice = %v, want ErrNotFound", err)
		}
	}
	// The deleted blobs no longer count, even at a time they had not
	// expired: their ownership went with them.
	checkUsed(t, s, a, t0, 40)
	if blobs, err := s.ExpiredBlobs(ctx, at, 100); err != nil || len(blobs) != 0 {
		t.Fatalf("ExpiredBlobs after deleting = %v, %v", blobs, err)
	}
	// An upload the janitor deletes is gone.
	for _, id := range ups {
		if err := s.DeleteUpload(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if ups, err := s.ExpiredUploads(ctx, at, 100); err != nil || len(ups) != 0 {
		t.Fatalf("ExpiredUploads after deleting = %v, %v", ups, err)
	}
	checkUsed(t, s, a, t0, 20)
}

// testMediaClosed checks that every media method returns ErrClosed after
// Close.
func testMediaClosed(t *testing.T, s store.Store, _ func() store.Store) {
	a, _ := newAccount(t, s, "cleo")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	t0 := now()
	sum := digest("closed")
	u := store.Upload{ID: "x", AccountID: a.ID, SHA256: sum, Size: 1, ContentType: "a/b", Created: t0, Expires: t0}
	calls := map[string]error{
		"CreateUpload":      s.CreateUpload(ctx, u, noQuota),
		"Upload":            func() error { _, err := s.Upload(ctx, "x"); return err }(),
		"AdvanceUpload":     s.AdvanceUpload(ctx, "x", 0, 1, t0),
		"DeleteUpload":      s.DeleteUpload(ctx, "x"),
		"ExpiredUploads":    func() error { _, err := s.ExpiredUploads(ctx, t0, 1); return err }(),
		"CommitUpload":      func() error { _, err := s.CommitUpload(ctx, "x", t0, t0); return err }(),
		"Blob":              func() error { _, err := s.Blob(ctx, sum); return err }(),
		"ClaimBlob":         func() error { _, err := s.ClaimBlob(ctx, a.ID, sum, t0, noQuota, t0); return err }(),
		"RetainBlob":        s.RetainBlob(ctx, sum, true),
		"ExpiredBlobs":      func() error { _, err := s.ExpiredBlobs(ctx, t0, 1); return err }(),
		"DeleteExpiredBlob": s.DeleteExpiredBlob(ctx, sum, t0),
		"StorageUsed":       func() error { _, err := s.StorageUsed(ctx, a.ID, t0); return err }(),
	}
	for name, err := range calls {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}
