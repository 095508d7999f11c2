package client

import (
	"testing"

	"github.com/parley-chat/parley/internal/fuzztest"
)

// TestMain bounds how long the fuzzer minimises each new input
// (fuzztest.MinimizeBudget), so that every fuzz target of the client
// tests, in package client and in package client_test (one test binary),
// spends a fuzzing run trying inputs.
func TestMain(m *testing.M) { fuzztest.Main(m) }
