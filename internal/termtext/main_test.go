package termtext

import (
	"testing"

	"github.com/parley-chat/parley/internal/fuzztest"
)

// TestMain bounds how long the fuzzer minimises each new input
// (fuzztest.MinimizeBudget): without it FuzzLine spent most of a 10 s run
// minimising its first new inputs and executed none after the third second.
func TestMain(m *testing.M) { fuzztest.Main(m) }
