//go:build !unix

package groupbench

import "time"

// processCPU is not measured here: the report shows 0.
func processCPU() time.Duration { return 0 }
