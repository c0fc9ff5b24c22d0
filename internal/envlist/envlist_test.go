package envlist

import (
	"reflect"
	"testing"
)

func TestSet(t *testing.T) {
	env := []string{"A=1", "CMDSRV_CLIENT=auto", "CMDSRV_CLIENTX=keep", "CMDSRV_CLIENT", "B=2", "CMDSRV_CLIENT=on"}
	orig := append([]string(nil), env...)
	got := Set(env, "CMDSRV_CLIENT", "off")
	want := []string{"A=1", "CMDSRV_CLIENTX=keep", "CMDSRV_CLIENT", "B=2", "CMDSRV_CLIENT=off"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Set = %q, want %q", got, want)
	}
	if !reflect.DeepEqual(env, orig) {
		t.Fatalf("Set changed its argument: %q", env)
	}
}
