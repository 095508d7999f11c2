module github.com/parley-chat/parley

go 1.26

require (
	filippo.io/edwards25519 v1.2.0
	google.golang.org/protobuf v1.36.12
)
