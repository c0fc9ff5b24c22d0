// Package fresh keeps track of what a Handler's warm state was built from
// (files, directories whose entries matter, environment variables) and
// tells whether any of it changed since: a fingerprint of each dependency
// taken when it is declared, compared on demand (Set.Check, the
// authoritative check a session runs before every command), and a
// file-system watcher (Watcher) that only makes a change known sooner.
//
// A file's fingerprint is its stat (size, mtime in ns, inode, device,
// ctime, mode) and, while its mtime is too recent for the stat to decide
// (a rewrite of the same size within the same timestamp tick keeps every
// stat field), a hash of its content. A directory's is its stat and a hash
// of its sorted entry names under the same rule. A missing file has a
// fingerprint too: its creation is a change.
package fresh
