//go:build js

package client

// defaultSpool is memory in a browser, which has no file system.
func defaultSpool(string) (Spool, error) { return MemorySpool() }
