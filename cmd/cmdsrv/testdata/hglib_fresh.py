"""Change the file a cmdsrv pipe server's Handler was built from, under a
python-hglib client, and check that every call sees the change.

Usage: hglib_fresh.py CMDSRV_BINARY REPO_DIR PATH, with
CMDSRV_DEBUG_INIT_FILE=PATH in the environment. Prints "ALL OK" at the end;
any failure raises.
"""
import os
import sys

import hglib


def main():
    binary, repo, path = sys.argv[1], sys.argv[2], sys.argv[3]
    hglib.HGPATH = binary
    client = hglib.open(repo)

    def check(name, want):
        got = client.rawcommand([b"debuginitfile"])
        if got != want:
            raise AssertionError("%s: got %r, want %r" % (name, got, want))
        print("ok %s" % name)

    check("missing at start", b"missing\n")
    with open(path, "wb") as f:
        f.write(b"alpha\n")
    check("created where missing", b"alpha\n")

    st = os.stat(path)
    with open(path, "r+b") as f:
        f.write(b"gamma\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    check("rewritten in place, same size", b"gamma\n")

    with open(path + ".tmp", "wb") as f:
        f.write(b"renamed\n")
    os.rename(path + ".tmp", path)
    check("saved by rename", b"renamed\n")

    os.remove(path)
    check("deleted", b"missing\n")
    client.close()
    print("ALL OK")


if __name__ == "__main__":
    main()
