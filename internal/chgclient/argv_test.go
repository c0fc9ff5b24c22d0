package chgclient

import (
	"strings"
	"testing"
)

func TestHasCmdserver(t *testing.T) {
	for args, want := range map[string]bool{
		"":                                false,
		"echo hi":                         false,
		"serve --cmdserver pipe":          true,
		"--config a.b=1 --cmdserver=unix": true,
		"serve -- --cmdserver pipe":       false,
		"serve --cmdservers":              false,
	} {
		if got := HasCmdserver(strings.Fields(args)); got != want {
			t.Errorf("HasCmdserver(%q) = %v, want %v", args, got, want)
		}
	}
}
