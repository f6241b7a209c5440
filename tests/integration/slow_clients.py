#!/usr/bin/env python3
"""The control socket and the metrics endpoint against hostile local clients (issue 13, items 4
and 10), on a live tapflow capturing the loopback of a network namespace of its own (`unshare -n`;
the script re-runs itself there):
  - `flows 100000` (20,000 flows active, a 2.8 MB answer) asked by clients that never read: another
    `ctl stats` is answered at once, and SIGTERM ends tapflow within 3 s (it waited for ever);
  - a ctl client dripping one octet every 0.5 s: other clients are answered meanwhile, and it is cut
    off within 3 s (it held the server 34.7 s);
  - 20 clients sending one header line a second: GET /metrics still answers in under a second
    (8 of them starved it);
  - 20 GET /metrics at once: all answered;
  - a GET with a million headers (6 MB) is refused (431) and tapflow's memory stays where it was
    (it grew by about 110 MiB, never freed).
Skips (77) when not root or when network namespaces are unavailable. About 15 s."""

import atexit
import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import common

METRICS_PORT = 9464


def rss_kib(pid):
    """Anonymous resident memory (the heap): the capture ring is a shared mapping whose pages the
    kernel touches as packets come, which would move VmRSS by whole ring blocks."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    return 0


def ctl(sock, *words, timeout=5):
    return subprocess.run([common.tapflow_binary(), "ctl", "-s", sock, *words], capture_output=True,
                          text=True, timeout=timeout)


def scrape(timeout=5):
    with urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=timeout) as r:
        return r.read().decode()


class Probe:
    def __init__(self, tmp):
        self.sock = str(Path(tmp) / "tapflow.ctl")
        self.err = open(Path(tmp) / f"tapflow-{time.monotonic_ns()}.err", "w+")
        # Flows stay in the cache (inactive timeout 600 s); nobody listens on the export port. An
        # ASan build (scripts/sanitize.sh) must not hold freed memory in quarantine, so that what is
        # measured is what is kept.
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "quarantine_size_mb=0"]))
        self.proc = subprocess.Popen([common.tapflow_binary(), "-i", "lo", "--control", self.sock,
                                      "--metrics", f"127.0.0.1:{METRICS_PORT}", "--inactive-timeout", "600",
                                      "-n", f"udp://127.0.0.1:{common.free_udp_port()}"],
                                     stdout=subprocess.DEVNULL, stderr=self.err, env=env)
        atexit.register(lambda: self.proc.poll() is None and self.proc.kill())  # common.fail exits
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.path.exists(self.sock) and ctl(self.sock, "stats").returncode == 0:
                return
            time.sleep(0.1)
        common.fail(f"tapflow did not answer on {self.sock}")

    def stop(self, within):
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            common.fail(f"SIGTERM did not end tapflow within {within} s")
        return status, time.monotonic() - start


def make_flows(n):
    """n UDP flows to distinct ports on lo (each gives its ICMP port-unreachable flow too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for port in range(1, n + 1):
            s.sendto(b"x", ("127.0.0.1", port))
            if port % 2000 == 0:
                time.sleep(0.02)  # the capture ring keeps up


def ctl_client_never_reads(tmp):
    probe = Probe(tmp)
    make_flows(20000)
    time.sleep(0.5)
    stuck = []
    for _ in range(3):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(probe.sock)
        s.sendall(b"flows 100000\n")
        stuck.append(s)
    time.sleep(0.5)
    start = time.monotonic()
    try:
        answer = ctl(probe.sock, "stats", timeout=5)
    except subprocess.TimeoutExpired:
        probe.proc.kill()
        common.fail("ctl: `ctl stats` not answered within 5 s while clients do not read `flows 100000`")
    took = time.monotonic() - start
    if answer.returncode != 0 or "packets read" not in answer.stdout or took > 1.5:
        common.fail(f"ctl: stats beside stuck clients: exit {answer.returncode} after {took:.2f} s")
    status, stop_took = probe.stop(within=3)
    for s in stuck:
        s.close()
    print(f"ctl: 3 clients not reading `flows 100000`: `ctl stats` answered in {took:.2f} s; SIGTERM ended "
          f"tapflow in {stop_took:.2f} s (exit {status})")


def ctl_client_drips(tmp):
    probe = Probe(tmp)
    drip = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    drip.connect(probe.sock)
    drip.settimeout(0.01)
    start = time.monotonic()
    answered_meanwhile = None
    cut_after = None
    for i, byte in enumerate(b"stats and more and more and more\n"):
        try:
            drip.send(bytes([byte]))
        except OSError:
            cut_after = time.monotonic() - start
            break
        if i == 1:
            t = time.monotonic()
            answered_meanwhile = ctl(probe.sock, "stats", timeout=5).returncode == 0 and time.monotonic() - t
        time.sleep(0.5)
        try:
            if drip.recv(4096) == b"":
                cut_after = time.monotonic() - start
                break
        except (socket.timeout, BlockingIOError):
            pass
        except OSError:
            cut_after = time.monotonic() - start
            break
    drip.close()
    probe.stop(within=3)
    if not answered_meanwhile or answered_meanwhile > 1.5:
        common.fail(f"ctl: another client was not answered while one dripped ({answered_meanwhile})")
    if cut_after is None or cut_after > 3:
        common.fail(f"ctl: a client dripping an octet every 0.5 s was not cut off within 3 s ({cut_after})")
    print(f"ctl: a client dripping an octet every 0.5 s: others answered in {answered_meanwhile:.2f} s, "
          f"it was cut off after {cut_after:.1f} s")


def metrics_slow_clients(tmp):
    probe = Probe(tmp)
    slow = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", METRICS_PORT))
        s.sendall(b"GET /metrics HTTP/1.1\r\n")
        slow.append(s)
    stop = threading.Event()

    def drip():
        while not stop.wait(1.0):
            for s in slow:
                try:
                    s.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    pass

    dripper = threading.Thread(target=drip)
    dripper.start()
    worst = 0.0
    try:
        for _ in range(3):
            time.sleep(1.0)
            start = time.monotonic()
            try:
                text = scrape(timeout=5)
            except OSError as e:
                common.fail(f"metrics: GET /metrics failed beside 20 slow clients: {e}")
            worst = max(worst, time.monotonic() - start)
            if "tapflow_packets_read_total" not in text:
                common.fail("metrics: no counters in the answer")
    finally:
        stop.set()
        dripper.join()
        for s in slow:
            s.close()
    if worst > 1.0:
        common.fail(f"metrics: GET /metrics took {worst:.2f} s beside 20 slow clients")
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: "tapflow_flows_active" in scrape(timeout=10), range(20)))
    if not all(answers):
        common.fail(f"metrics: {answers.count(False)} of 20 concurrent GET /metrics not answered")
    probe.stop(within=3)
    print(f"metrics: beside 20 clients sending a header line a second, GET /metrics answered in at most "
          f"{worst:.2f} s; 20 concurrent GETs all answered")


def metrics_huge_headers(tmp):
    probe = Probe(tmp)
    scrape()
    time.sleep(0.3)
    before = rss_kib(probe.proc.pid)
    head = b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 1_000_000
    answer = b""
    with socket.create_connection(("127.0.0.1", METRICS_PORT)) as s:
        s.settimeout(10)
        try:
            s.sendall(head + b"\r\n")
        except OSError:
            pass  # refused early: the rest was never read
        try:
            while chunk := s.recv(4096):
                answer += chunk
        except OSError:
            pass
    time.sleep(0.5)
    # The capture sees the request too: its flows may touch a new 2 MiB huge page of the flow table.
    grown = (rss_kib(probe.proc.pid) - before) / 1024
    ok = "tapflow_packets_read_total" in scrape()
    probe.stop(within=3)
    if grown > 8 or not ok:
        common.fail(f"metrics: a GET with a million headers grew tapflow by {grown:.1f} MiB "
                    f"(answer {answer[:40]!r}; metrics afterwards {ok})")
    status_line = answer.split(b"\r\n", 1)[0].decode() or "closed"
    print(f"metrics: a GET with a million headers: {status_line}, tapflow +{grown:.1f} MiB")


CASES = [ctl_client_never_reads, ctl_client_drips, metrics_slow_clients, metrics_huge_headers]


def main():
    if os.environ.get("TAPFLOW_SLOW_CLIENTS_NETNS") != "1":
        if os.geteuid() != 0:
            print("SKIP: needs root (live capture in a network namespace)")
            sys.exit(common.SKIP)
        env = dict(os.environ, TAPFLOW_SLOW_CLIENTS_NETNS="1")
        probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
        if probe.returncode != 0:
            print(f"SKIP: no network namespaces: {probe.stderr.decode().strip()}")
            sys.exit(common.SKIP)
        sys.exit(subprocess.run(["unshare", "-n", sys.executable, *sys.argv], env=env).returncode)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    only = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--only=")]
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            if not only or case.__name__ in only:
                case(tmp)
    print("OK")


if __name__ == "__main__":
    main()
