//go:build unix

package testutil

import (
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// otherUserName is the account OtherUser creates: tests that need a second
// uid (an adversary planting files) run as root, as CI does.
const otherUserName = "cmdsrv-adversary"

var otherUserMu sync.Mutex // serialises useradd/userdel of parallel tests

// OtherUser returns the uid and gid of a second user, creating the account
// with useradd when it does not exist yet and removing it again at the end
// of the test. It skips the test unless it runs as root with useradd.
func OtherUser(t testing.TB) (uid, gid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create and act as a second user")
	}
	otherUserMu.Lock()
	defer otherUserMu.Unlock()
	u, err := user.Lookup(otherUserName)
	if err != nil {
		useradd, lerr := exec.LookPath("useradd")
		if lerr != nil {
			t.Skip("useradd not found: cannot create a second user")
		}
		out, aerr := exec.Command(useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", otherUserName).CombinedOutput()
		if aerr != nil {
			t.Fatalf("useradd %s: %v: %s", otherUserName, aerr, out)
		}
		t.Cleanup(func() {
			otherUserMu.Lock()
			defer otherUserMu.Unlock()
			if out, err := exec.Command("userdel", otherUserName).CombinedOutput(); err != nil {
				t.Errorf("userdel %s: %v: %s", otherUserName, err, out)
			}
		})
		u, err = user.Lookup(otherUserName)
	}
	if err != nil {
		t.Fatalf("looking up %s: %v", otherUserName, err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

// AsUser runs name with args as uid/gid and fails the test if it fails.
func AsUser(t testing.TB, uid, gid int, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v as uid %d: %v: %s", name, args, uid, err, out)
	}
}
