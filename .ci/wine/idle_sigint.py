"""An idle pipe server under Wine ends at once on SIGINT.

Usage: idle_sigint.py CMDSRV_EXE
Starts `wine CMDSRV_EXE serve --cmdserver pipe`, reads its hello, sends
SIGINT (Wine turns it into the console's Ctrl-C) and expects exit status
255 and "interrupted!" within 10 s, while the client still holds the
server's stdin open: the server must not wait for the client's next write.
"""
import signal
import subprocess
import sys


def main():
    exe = sys.argv[1]
    p = subprocess.Popen(["wine", exe, "serve", "--cmdserver", "pipe"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    hello = p.stdout.read(5)
    if len(hello) != 5 or hello[:1] != b"o":
        raise AssertionError("no hello: %r" % hello)
    # The hello is out: the session is reading its stdin. (wine execs the
    # loader, so p.pid is the Windows process.)
    p.send_signal(signal.SIGINT)
    try:
        code = p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError("the server did not exit within 10 s of SIGINT")
    err = p.stderr.read()
    if code != 255 or err != b"interrupted!\n":
        raise AssertionError("exit %d, stderr %r; want 255, b'interrupted!\\n'" % (code, err))
    p.stdin.close()
    print("ok idle SIGINT ends the server at once")


if __name__ == "__main__":
    main()
