"""Drives `ledgervm repl` through a pseudo-terminal with pexpect, as a person would:
tab completion of a method name, a call, a verified receipt, .help, an error that does
not end the session, and history recalled with the up arrow in a second session.

Usage: repl_pty.py LEDGERVM_BIN URL VKEY TRUST_DIR HISTORY_FILE
Exits non-zero (pexpect raises) on the first thing that does not appear in time.
"""

import sys

import pexpect

UP = "\x1b[A"


def start(bin_, url, vkey, trust, history):
    child = pexpect.spawn(
        bin_,
        ["repl", url, "--app", "sum.wasm", "--vkey", vkey, "--trust-dir", trust,
         "--history", history],
        encoding="utf-8", timeout=30, dimensions=(40, 200),
    )
    child.logfile_read = sys.stderr
    child.expect("Certificate bound to identity")
    child.expect("methods; log")  # the handshake names the app, its methods, the log
    child.expect("> ")
    return child


def main():
    bin_, url, vkey, trust, history = sys.argv[1:6]
    child = start(bin_, url, vkey, trust, history)

    # Tab completes the method name; then a call with plain words.
    child.send("Su\t")
    child.expect("Sum")
    child.sendline(" 5 7")
    child.expect(r"12\s+\(entry (\d+)\)")
    entry = child.match.group(1)
    child.expect("> ")

    # JSON argument form.
    child.sendline("Sum(40, 2)")
    child.expect(r"42\s+\(entry \d+\)")
    child.expect("> ")

    # Receipts on demand, verified by the REPL.
    child.sendline(f".receipt {entry}")
    child.expect(f"receipt verified: entry {entry} in checkpoint of size")
    child.expect("> ")

    child.sendline(".help")
    child.expect(r"\.methods")
    child.expect(r"\.receipt")
    child.expect("> ")

    # A mistake is reported and the session goes on.
    child.sendline("Sum 1")
    child.expect("takes 2 arguments, got 1")
    child.expect("> ")
    child.sendline("Nope")
    child.expect("-32601")
    child.expect("> ")

    child.sendline(".attest")
    child.expect("ledgervm.attestation/v1")
    child.expect("bound to this connection's certificate: ok")
    child.expect("> ")

    child.sendline(".exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.exitstatus

    # A new session recalls the earlier lines from the history file.
    child = start(bin_, url, vkey, trust, history)
    child.send(UP)  # .exit
    child.send(UP)  # .attest
    child.send(UP)  # Nope
    child.send(UP)  # Sum 1
    child.send(UP)  # .help
    child.send(UP)  # .receipt N
    child.send(UP)  # Sum(40, 2)
    child.send("\r")
    child.expect(r"42\s+\(entry \d+\)")
    child.expect("> ")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.exitstatus
    print("repl ok")


if __name__ == "__main__":
    main()
