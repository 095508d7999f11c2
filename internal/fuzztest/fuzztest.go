// Package fuzztest holds what Parley's native fuzz targets share so that a
// fuzzing run spends its time trying inputs: a bound on how long the fuzzer
// minimises each new input, and prefix checks that cost a bounded number
// of parses per input. Only tests import it; it imports nothing of
// Parley's, so any package's tests can.
package fuzztest

import (
	"flag"
	"os"
	"testing"
)

// MinimizeBudget is what -fuzzminimizetime defaults to under Main: this
// many executions to minimise a new interesting input, instead of Go's
// 60 seconds.
//
// Go minimises every input that adds coverage before it fuzzes on, and its
// minimiser tries O(n²) candidates for an n-byte input. For the
// kilobyte-sized inputs of the protocol decoders (a prekey bundle is 1.8
// KB, an attachment chunk 64 KiB), each minimisation took the whole 60 s
// budget, and a 10-second run executed a handful of inputs. A crasher is
// still minimised within the budget, and an explicit -fuzzminimizetime on
// the command line wins.
const MinimizeBudget = "1000x"

// Main is a TestMain for packages with fuzz targets: it sets the default
// of -fuzzminimizetime to MinimizeBudget and runs the tests.
func Main(m *testing.M) {
	if f := flag.Lookup("test.fuzzminimizetime"); f != nil {
		// Before m.Run parses the command line, so an explicit flag wins.
		if err := f.Value.Set(MinimizeBudget); err != nil {
			panic("fuzztest: " + err.Error())
		}
	}
	os.Exit(m.Run())
}
