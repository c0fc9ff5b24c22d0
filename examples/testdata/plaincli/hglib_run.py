"""Run one command of a cmdsrv application through python-hglib, as a
plain run of it would: the command's 'o' output on stdout, its 'e' output
on stderr, its stdin answering 'I', and its result as the exit status.

Usage: hglib_run.py BINARY ARGS...   (the server starts in the current
directory; a server that dies mid-command says so on stderr, status 255)
"""
import os
import sys

import hglib
from hglib import error


def main():
    binary, args = sys.argv[1], [a.encode() for a in sys.argv[2:]]
    hglib.HGPATH = binary
    client = hglib.open(os.getcwd())
    out, err = sys.stdout.buffer, sys.stderr.buffer

    def feed(size):
        return sys.stdin.buffer.read1(size) if size else b""

    try:
        code = client.runcommand(args, {b"I": feed}, {b"o": out.write, b"e": err.write})
    except error.ServerError as e:
        out.flush()
        err.write(b"hglib: server error: %s\n" % str(e).encode())
        return 255
    out.flush()
    err.flush()
    client.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
