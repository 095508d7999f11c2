//go:build !js

package client

func defaultSpool(dir string) (Spool, error) { return newFileSpool(dir) }
