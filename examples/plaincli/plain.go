//go:build plain

package main

// The CLI as it was before cmdsrv.
func main() { cliMain() }
