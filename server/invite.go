package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"path/filepath"

	"github.com/parley-chat/parley/server/store/sqlite"
)

// CreateInvite makes a single-use invite code for an invite-only server
// whose data is in dataDir, and stores only its hash. It may run while the
// server runs: SQLite lets both processes write.
func CreateInvite(ctx context.Context, dataDir string) (string, error) {
	st, err := sqlite.Open(ctx, filepath.Join(dataDir, "parley.db"), sqlite.Options{})
	if err != nil {
		return "", fmt.Errorf("server: %w", err)
	}
	defer st.Close()
	var b [16]byte
	rand.Read(b[:])
	code := base64.RawURLEncoding.EncodeToString(b[:])
	if err := st.CreateInvite(ctx, sha256.Sum256([]byte(code))); err != nil {
		return "", err
	}
	return code, nil
}
