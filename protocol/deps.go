package protocol

import (
	"os"

	"github.com/cmdsrv/cmdsrv/internal/fresh"
)

// Deps records what a Handler's warm state was built from: files, the
// directories where a file appearing or going away matters, and the
// environment variables it read. The server confirms before every command
// that none of them changed since they were declared, and rebuilds the
// Handler (calls its constructor again) when one did, so that no command
// runs on state built from an old file; a server that can watch the files
// rebuilds as soon as they change, between commands.
//
// Embed a Deps in the Handler and declare each dependency before reading
// it (a change between the declaration and the read then costs a rebuild,
// never a stale answer). The common case, state read from files, is one
// call:
//
//	type handler struct {
//		protocol.Deps
//		conf []byte
//	}
//
//	func newHandler(cfg *protocol.Config, log hclog.Logger) (protocol.Handler, error) {
//		h := &handler{}
//		conf, err := h.ReadFile("/etc/myapp.conf") // declared, then read
//		...
//	}
//
// A missing file is a dependency too: its creation is a change. The zero
// value is empty and ready; methods are safe for concurrent use, so a
// Prewarm or a command may declare more (state built later, from more
// files, is checked from then on). A Deps must not be copied after first
// use.
type Deps struct {
	set fresh.Set
}

// Dependent is implemented by Handlers that declare their dependencies;
// embedding a Deps implements it.
type Dependent interface {
	Dependencies() *Deps
}

// Dependencies returns d itself: embedding a Deps makes a Handler a
// Dependent.
func (d *Deps) Dependencies() *Deps { return d }

// DependOn declares files the state was built from, by path (relative
// paths are taken against the process's working directory). A path that
// does not exist yet is declared as absent.
func (d *Deps) DependOn(paths ...string) {
	for _, p := range paths {
		d.set.Add("", fresh.Dep{Kind: fresh.File, Name: p})
	}
}

// DependOnDir declares directories whose list of entries the state
// depends on: a file created in one, removed or renamed, is a change (a
// configuration file looked up in a project's parent directories, an
// index over a directory's files). The content of the entries is not: declare
// the files read with DependOn.
func (d *Deps) DependOnDir(paths ...string) {
	for _, p := range paths {
		d.set.Add("", fresh.Dep{Kind: fresh.Dir, Name: p})
	}
}

// DependOnEnv declares environment variables of the process the state was
// built from; a change of value, or of whether one is set, is a change.
// Under chg, whose workers take the client's environment, a client with
// other values gets a rebuilt Handler; adding the names to
// ChgOptions.SensitiveEnv sends such clients to a server of their own
// instead.
func (d *Deps) DependOnEnv(names ...string) {
	for _, n := range names {
		d.set.Add("", fresh.Dep{Kind: fresh.Env, Name: n})
	}
}

// ReadFile declares path with DependOn, then reads it (os.ReadFile): the
// one call for state built from a file. The file is a dependency even
// when reading fails, so that its creation or repair is a change.
func (d *Deps) ReadFile(path string) ([]byte, error) {
	d.DependOn(path)
	return os.ReadFile(path)
}

// Len returns the number of dependencies declared.
func (d *Deps) Len() int { return d.set.Len() }

func init() {
	// The server reaches the set behind a Handler's Deps through the
	// internal package, so that protocol's API shows none of it.
	fresh.SetOf = func(d any) *fresh.Set {
		if deps, ok := d.(*Deps); ok && deps != nil {
			return &deps.set
		}
		return nil
	}
}

// UseKeyFrom is UseKey for warm state built from deps: besides reporting
// key, it tells the server that the state of this key was built from
// what deps declares, so that the check before every later command covers
// it too. Build deps (a Deps of its own for the key) before reading the
// key's files:
//
//	var kd protocol.Deps
//	data, err := kd.ReadFile(filepath.Join(root, ".myapp.toml"))
//	...
//	req.UseKeyFrom(root, &kd)
//
// Where there is no request (in Prewarm), declare them on the Handler's
// own Deps instead.
func (r *Request) UseKeyFrom(key string, deps *Deps) {
	r.UseKey(key)
	if deps == nil {
		return
	}
	if k, ok := r.UI.(interface {
		UseKeyDeps(key string, set *fresh.Set)
	}); ok {
		k.UseKeyDeps(key, &deps.set)
	}
}
