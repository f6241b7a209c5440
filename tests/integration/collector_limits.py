#!/usr/bin/env python3
"""`tapflow collect` stays up for everyone (issue 13, items 6-9), against the real binary:
  - 1800 bare 16-octet IPFIX headers from as many UDP ports, then a real exporter: all its records
    are printed (they were refused: "too many exporters");
  - 1100 TCP exporters one after the other: every record printed (the last 76 were lost);
  - a new TCP connection from the port of a closed one starts a new session: no sequence gap
    (there were two of about 2^32 records);
  - 64 idle TCP connections, then a real exporter: its records are printed (it was refused);
  - 200,000 datagrams with distinct observation domains, and 400 templates of 16,000 fields from
    one source: the collector grows by a few MiB (29 and 75 MiB before), the refusals are counted;
  - a template of one variable-length field and data sets of zeros: no records (every octet was
    one: 65,000 per datagram).
Each case runs its own collector. About 20 s."""

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

TEMPLATE_ID = 256


def header(length, sequence, domain=1):
    return struct.pack("!HHIII", 10, length, 1_700_000_000, sequence, domain)


def message(sets, sequence, domain=1):
    body = b"".join(sets)
    return header(16 + len(body), sequence, domain) + body


def ipfix_set(set_id, body):
    return struct.pack("!HH", set_id, 4 + len(body)) + body


def template_set(template_id=TEMPLATE_ID, fields=((8, 4), (12, 4), (1, 8))):
    record = struct.pack("!HH", template_id, len(fields)) + b"".join(struct.pack("!HH", i, n) for i, n in fields)
    return ipfix_set(2, record)


def data_set(first, count):
    records = b"".join(struct.pack("!4s4sQ", bytes([10, 0, (first + i) >> 8 & 255, (first + i) & 255]),
                                   bytes([192, 0, 2, 1]), 100 + first + i) for i in range(count))
    return ipfix_set(TEMPLATE_ID, records)


class Collector:
    """tapflow collect on `listen`; stdout to a file, stderr kept."""

    def __init__(self, tmp, scheme):
        stamp = time.monotonic_ns()
        self.out_path = Path(tmp) / f"collect-{stamp}.txt"
        self.err_path = Path(tmp) / f"collect-{stamp}.err"
        self.out = open(self.out_path, "w+")
        self.err = open(self.err_path, "w+")  # a file: a pipe nobody reads would fill and block it
        # Line-buffered stdout (stdbuf execs tapflow with its library preloaded), so records can be
        # counted while it runs; an ASan build (scripts/sanitize.sh) must be told the preload is fine,
        # and not to hold freed memory in quarantine, so that what is measured is what is kept.
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "verify_asan_link_order=0",
                                                     "quarantine_size_mb=0"]))
        self.proc = subprocess.Popen(["stdbuf", "-oL", common.tapflow_binary(), "collect", "--listen",
                                      f"{scheme}://127.0.0.1:0"], stdout=self.out, stderr=self.err, env=env)
        deadline = time.monotonic() + 10
        m = None
        while m is None and time.monotonic() < deadline:
            m = re.search(r"listening on \w+ 127\.0\.0\.1:(\d+)", self.err_path.read_text())
            time.sleep(0.01)
        if not m:
            common.fail(f"collect did not say where it listens: {self.err_path.read_text()!r}")
        self.port = int(m.group(1))

    def records(self):
        return sum(1 for line in self.out_path.read_text().splitlines() if " packets " in line or "->" in line)

    def rss_kib(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def wait_records(self, n, timeout=10):
        deadline = time.monotonic() + timeout
        while self.records() < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.records()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.out.close()
        self.err.close()
        return self.err_path.read_text()


def summary_counter(err, name):
    m = re.search(r"(\d+) " + re.escape(name), err)
    return int(m.group(1)) if m else None


def udp_bare_headers(tmp):
    c = Collector(tmp, "udp")
    sockets = []
    for i in range(1800):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(header(16, 0, 7), ("127.0.0.1", c.port))
        sockets.append(s)
        if len(sockets) >= 200:  # keep few descriptors open; each closed port stays a source
            for old in sockets:
                old.close()
            sockets = []
            time.sleep(0.02)
    for s in sockets:
        s.close()
    time.sleep(0.3)
    real = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sequence = 0
    for i in range(10):
        real.sendto(message([template_set(), data_set(i * 30, 30)], sequence), ("127.0.0.1", c.port))
        sequence += 30
    got = c.wait_records(300, timeout=5)
    err = c.stop()
    if got != 300:
        common.fail(f"UDP: after 1800 bare headers a real exporter got {got} of 300 records printed: "
                    f"{err[-600:]}")
    print(f"UDP: 1800 bare headers from as many ports, then a real exporter: 300 of 300 records; "
          f"{summary_counter(err, 'sources forgotten')} sources forgotten")


def tcp_send(port, data, local_port=0):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset: no TIME_WAIT
    if local_port:
        s.bind(("127.0.0.1", local_port))
    s.connect(("127.0.0.1", port))
    s.sendall(data)
    return s


def tcp_sequential(tmp):
    c = Collector(tmp, "tcp")
    for i in range(1100):
        s = tcp_send(c.port, message([template_set(), data_set(i, 1)], 0))
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        s.recv(1)  # the collector read everything and closed
        s.close()
    got = c.wait_records(1100)
    err = c.stop()
    if got != 1100 or "too many exporters" in err:
        common.fail(f"TCP: 1100 exporters in turn, {got} records printed: {err[-600:]}")
    print("TCP: 1100 exporters one after the other: 1100 of 1100 records")


def tcp_port_reuse(tmp):
    c = Collector(tmp, "tcp")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local = probe.getsockname()[1]
    s = tcp_send(c.port, message([template_set(), data_set(0, 5)], 1000))
    c.wait_records(5)
    s.close()
    time.sleep(0.3)
    s = tcp_send(c.port, message([template_set(), data_set(5, 5)], 0), local)
    s.close()
    c.wait_records(10)
    time.sleep(0.3)
    s = tcp_send(c.port, message([template_set(), data_set(10, 1)], 0), local)
    s.close()
    c.wait_records(11)
    err = c.stop()
    # The first two come from different ports, so only the reuse could give a gap.
    s2_gaps = len(re.findall(r"sequence gap from", err))
    if s2_gaps != 0:
        common.fail(f"TCP: a new connection from a reused port inherited the old sequence state: {err[-600:]}")
    print("TCP: a reused source port starts a new session (no sequence gap)")


def tcp_idle(tmp):
    c = Collector(tmp, "tcp")
    idle = [socket.create_connection(("127.0.0.1", c.port)) for _ in range(64)]
    time.sleep(0.3)
    start = time.monotonic()
    s = tcp_send(c.port, message([template_set(), data_set(0, 20)], 0))
    got = c.wait_records(20, timeout=5)
    took = time.monotonic() - start
    err = c.stop()
    for i in idle:
        i.close()
    s.close()
    if got != 20:
        common.fail(f"TCP: after 64 idle connections a real exporter got {got} of 20 records printed: {err[-600:]}")
    print(f"TCP: 64 idle connections, then a real exporter: 20 of 20 records in {took:.2f} s")


def domains_memory(tmp):
    c = Collector(tmp, "udp")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    time.sleep(0.2)
    before = c.rss_kib()
    for domain in range(200_000):
        s.sendto(header(16, 0, domain), ("127.0.0.1", c.port))
        if domain % 5000 == 0:
            time.sleep(0.01)  # let it keep up with the socket buffer
    time.sleep(1.0)
    grown = (c.rss_kib() - before) / 1024
    c.stop()
    if grown > 8:
        common.fail(f"UDP: 200,000 observation domains from one source grew the collector by {grown:.1f} MiB")
    print(f"UDP: 200,000 observation domains from one source: +{grown:.1f} MiB")


def templates_memory(tmp):
    c = Collector(tmp, "udp")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    time.sleep(0.2)
    before = c.rss_kib()
    fields = tuple((1, 8) for _ in range(16000))
    for i in range(400):
        s.sendto(message([template_set(256 + i, fields)], 0), ("127.0.0.1", c.port))
        if i % 20 == 0:
            time.sleep(0.02)
    time.sleep(1.0)
    grown = (c.rss_kib() - before) / 1024
    err = c.stop()
    refused = summary_counter(err, "templates refused")
    if grown > 16 or not refused:
        common.fail(f"UDP: 400 templates of 16,000 fields grew the collector by {grown:.1f} MiB, "
                    f"{refused} refused: {err[-400:]}")
    print(f"UDP: 400 templates of 16,000 fields from one source: +{grown:.1f} MiB, {refused} refused")


def empty_varlen(tmp):
    c = Collector(tmp, "udp")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(message([template_set(300, ((82, 65535),))], 0), ("127.0.0.1", c.port))
    for i in range(5):
        s.sendto(message([ipfix_set(300, bytes(65000))], 0), ("127.0.0.1", c.port))
    time.sleep(1.0)
    err = c.stop()
    got = c.records()
    if got != 0:
        common.fail(f"UDP: data sets of zeros under a variable-length template gave {got} records")
    print("UDP: 5 data sets of 65,000 zeros under a one-variable-length-field template: 0 records")


CASES = [udp_bare_headers, tcp_sequential, tcp_port_reuse, tcp_idle, domains_memory, templates_memory,
         empty_varlen]


def main():
    common.require_tools("stdbuf")
    only = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--only=")]  # e.g. --only=tcp_idle
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            if not only or case.__name__ in only:
                case(tmp)
    print("OK")


if __name__ == "__main__":
    main()
