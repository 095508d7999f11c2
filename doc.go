// Package parley is the root of Parley, an end-to-end encrypted messenger.
// It holds no code; the protocol layers live under internal/ and the
// normative description in spec/protocol.md. The test in this package
// checks repository-wide rules, such as every package having a doc comment.
package parley
