package groupbench

import (
	"testing"

	"github.com/parley-chat/parley/internal/fuzztest"
)

// TestMain bounds how long the fuzzer minimises each new input
// (fuzztest.MinimizeBudget), so that FuzzEnqueueSamples and FuzzParseTag
// spend a fuzzing run trying inputs.
func TestMain(m *testing.M) { fuzztest.Main(m) }
