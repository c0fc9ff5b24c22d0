"""Drive cmdsrv with the real python-hglib client.

Usage: hglib_interop.py CMDSRV_BINARY REPO_DIR [--wine]
Prints one line per check and "ALL OK" at the end; any failure raises.
With --wine the binary runs cmdsrv.exe under Wine (.ci/wine/run): the same
checks, with the directory as Windows names it (Wine's drive Z: is /) and
the system command in cmd.exe's syntax.
"""
import io
import os
import sys

import hglib
from hglib import error


def check(name, got, want):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (name, got, want))
    print("ok %s" % name)


def main():
    binary, repo = sys.argv[1], sys.argv[2]
    wine = sys.argv[3:] == ["--wine"]
    repo_dir = os.path.abspath(repo).encode()
    system_cmd, newline = b"echo oops >&2; exit 7", b"\n"
    if wine:
        repo_dir = b"Z:" + repo_dir.replace(b"/", b"\\")
        system_cmd, newline = b"echo oops>&2& exit 7", b"\r\n"
    hglib.HGPATH = binary
    client = hglib.open(repo)
    check("capabilities", b"runcommand" in client.capabilities, True)
    check("encoding", client._encoding, b"UTF-8")
    check("pid", client.server.pid > 0, True)

    check("echo", client.rawcommand([b"echo", b"hello", b"world"]), b"hello world\n")
    check("pwd is the -R directory", client.rawcommand([b"pwd"]), repo_dir + b"\n")

    seen = []

    def answer(size, output):
        seen.append((size, output))
        return b"bob\n"

    check("prompt", client.rawcommand([b"prompt", b"name?"], prompt=answer), b"name? bob\n")
    check("prompt callback", seen, [(4096, b"name? ")])

    data = bytes(range(256)) * 200 + b"\x00\n\x00"
    pos = [0]
    sizes = []

    def feed(size):
        sizes.append(size)
        chunk = data[pos[0]:pos[0] + size]
        pos[0] += len(chunk)
        return chunk

    check("cat through input", client.rawcommand([b"cat"], input=feed), data)
    check("input asked with a size", all(s > 0 for s in sizes), True)

    # Megabytes both ways: a file's read(size) answers cmdsrv's large 'I'
    # requests, and 'o' frames of up to 256 KiB are read whole.
    big = bytes(range(256)) * 12289
    check("3 MiB through input", client.rawcommand([b"cat"], input=io.BytesIO(big).read), big)
    chunk = bytes(ord("a") + i % 26 for i in range(65536))
    want = (chunk * 65)[:4194309]
    out = client.rawcommand([b"debugoutput", b"4194309"])
    check("4 MiB through 'o'", (len(out), out == want), (4194309, True))

    try:
        client.rawcommand([b"exit", b"3"])
    except error.CommandError as e:
        check("CommandError.ret", e.ret, 3)
    else:
        raise AssertionError("exit 3 raised no CommandError")

    try:
        client.rawcommand([b"system", system_cmd])
    except error.CommandError as e:
        check("system ret", e.ret, 7)
        check("system stderr", e.err, b"oops" + newline)
    else:
        raise AssertionError("system exit 7 raised no CommandError")

    check("eh handler", client.rawcommand([b"exit", b"4"], eh=lambda ret, out, err: ret), 4)
    check("after errors", client.rawcommand([b"echo", b"still"]), b"still\n")
    check("close", client.close(), 0)

    with hglib.open(repo, configs=[b"a.b=from-hglib"]) as c2:
        check("configs", c2.rawcommand([b"config", b"a.b"]), b"from-hglib\n")
    print("ALL OK")


if __name__ == "__main__":
    main()
