#!/usr/bin/env python3
"""A kernel without SCTP (no `modprobe sctp`): `tapflow -n sctp://...` and `tapflow collect --listen
sctp://...` stop at start-up with exit 2 and say what to do, rather than counting send errors
forever. Skipped (77) where the kernel has SCTP; tests/vm/sctp_vm_test.py covers that case."""

import socket
import subprocess

import common

HINT = "SCTP is not available in this kernel (modprobe sctp)"


def main():
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP).close()
        print("SKIP: this kernel has SCTP")
        raise SystemExit(common.SKIP)
    except OSError:
        pass
    tapflow = common.tapflow_binary()
    runs = {
        "export": [tapflow, "--no-progress", "-r", str(common.DATA / "ndpi/wechat.pcap"), "-n", "sctp://127.0.0.1:4739"],
        "collect": [tapflow, "collect", "--listen", "sctp://127.0.0.1:0", "--idle-timeout", "100"],
    }
    for name, cmd in runs.items():
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if proc.returncode != 2 or HINT not in proc.stderr or proc.stdout:
            common.fail(f"{name}: exit {proc.returncode}, stdout {proc.stdout[:200]!r}, stderr {proc.stderr!r}")
        print(f"{name}: exit 2: {proc.stderr.strip()}")


if __name__ == "__main__":
    main()
