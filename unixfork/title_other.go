//go:build !linux

package unixfork

// No process title is kept on this platform.

func readTitle() string       { return "" }
func writeTitle(string) error { return nil }
