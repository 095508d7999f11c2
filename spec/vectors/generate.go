// Package vectors holds the known-answer vectors in this folder. It has no
// code: `go generate ./spec/vectors` regenerates Parley's own vectors
// (parley-*.txt) from their seeds; Signal's (signal-*.txt) are copied from
// Signal's published test suites and never regenerated.
package vectors

//go:generate go test ../../internal/session -run Vectors -update
//go:generate go test ../../internal/senderkey -run Vectors -update
//go:generate go test ../../internal/channel -run Vectors -update
