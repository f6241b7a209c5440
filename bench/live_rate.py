#!/usr/bin/env python3
"""Live-capture benchmark: the highest replay rate each probe takes with zero kernel drops.

Two network namespaces of its own joined by a veth pair; tcpreplay sends a generated capture
(gen_pcap, small frames: the per-packet cost is what is measured) from one end at a given --pps,
the probe captures on the other end and exports IPFIX to nfcapd on the capture namespace's
loopback. Each probe gets the same replays: first at top speed; if it drops nothing there, the
sender is the limit and the result is "at least" the rate tcpreplay reached; otherwise a binary
search over --pps between 0 and that rate, a few steps, keeping the highest rate with zero drops.
Drops are the kernel's (pcap_stats ps_drop): tapflow's from its --stats-json, softflowd's from
`softflowctl statistics` just before shutting it down.

  sudo bench/live_rate.py [--packets 1000000] [--flows 100000] [--steps 5] [--build build]

Needs root, tcpreplay, nfcapd, softflowd (optional). The replay rate tcpreplay reaches depends on
the cores it shares with the probe: on a 2-core machine it is often the limit.
"""

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MTU = 9000


def run(cmd, check=True, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=check, **kw)


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def namespaces():
    """(sender ns, capture ns, sender interface, capture interface); always deleted."""
    tag = f"{os.getpid() % 1000000}"
    sender, capture, s_if, c_if = f"tfb-s{tag}", f"tfb-c{tag}", f"tfbs{tag}", f"tfbc{tag}"
    created = []
    try:
        for ns in (sender, capture):
            run(["ip", "netns", "add", ns])
            created.append(ns)
        run(["ip", "link", "add", s_if, "mtu", MTU, "type", "veth", "peer", "name", c_if, "mtu", MTU])
        run(["ip", "link", "set", s_if, "netns", sender])
        run(["ip", "link", "set", c_if, "netns", capture])
        for ns, itf in ((sender, s_if), (capture, c_if)):
            run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{itf}.disable_ipv6=1"])
            run(["ip", "-n", ns, "link", "set", itf, "up"])
        run(["ip", "-n", capture, "link", "set", "lo", "up"])
        yield sender, capture, s_if, c_if
    finally:
        for ns in created:
            for pid in run(["ip", "netns", "pids", ns], check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            run(["ip", "netns", "del", ns], check=False)


class Trial:
    """One probe capturing in the capture namespace during one replay."""

    def __init__(self, name, ns, c_if, build, tmp, tapflow_extra=()):
        self.name, self.ns, self.tmp = name, ns, Path(tmp)
        self.port = free_udp_port()
        (self.tmp / "flows").mkdir()
        self.collector = subprocess.Popen(["ip", "netns", "exec", ns, "nfcapd", "-b", "127.0.0.1", "-p",
                                           str(self.port), "-w", str(self.tmp / "flows"), "-B", "16000000",
                                           "-t", "3600"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.tapflow = build / "tapflow"
        if name.startswith("tapflow"):
            self.control = self.tmp / "ctl"
            cmd = [self.tapflow, "-i", c_if, "-n", f"udp://127.0.0.1:{self.port}", "--control",
                   self.control, "--stats-json", self.tmp / "stats.json", *tapflow_extra]
        else:
            self.control = self.tmp / "sf.ctl"  # softflowd hangs on long socket paths: tmp is short
            cmd = ["softflowd", "-i", c_if, "-v", "10", "-n", f"127.0.0.1:{self.port}", "-d", "-c",
                   self.control, "-p", self.tmp / "sf.pid"]
        self.err = open(self.tmp / "stderr", "w")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns] + [str(c) for c in cmd],
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        self.wait_ready()

    def wait_ready(self):
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"live_rate: {self.name} exited: {(self.tmp / 'stderr').read_text()}")
            if self.control.exists():
                if not self.name.startswith("tapflow"):
                    time.sleep(0.3)  # softflowd opens the capture before its control socket
                    return
                # Filesystem Unix sockets are reachable from any network namespace.
                if run([self.tapflow, "ctl", "-s", self.control, "stats"], check=False).returncode == 0:
                    return
            time.sleep(0.05)
        sys.exit(f"live_rate: {self.name} did not start")

    def counts(self):
        """(received, dropped by the kernel) so far."""
        if self.name.startswith("tapflow"):
            s = json.loads(run([self.tapflow, "ctl", "-s", self.control, "stats", "--json"]).stdout)
            dropped = sum(c["dropped_kernel"] for c in s["capture"])  # every fanout queue's
            return s["packets"]["read"] + dropped, dropped
        out = run(["softflowctl", "-c", self.control, "statistics"]).stdout
        received = int(re.search(r"Packets received by libpcap: (\d+)", out).group(1))
        dropped = int(re.search(r"Packets dropped by libpcap: (\d+)", out).group(1))
        return received, dropped

    def settle(self, sent, timeout=30):
        """Waits until the probe has seen every packet sent (or its count stops moving)."""
        deadline, last, still = time.time() + timeout, -1, 0
        while time.time() < deadline:
            received, dropped = self.counts()
            if received >= sent:
                break
            still = still + 1 if received == last else 0
            if still >= 10:
                break
            last = received
            time.sleep(0.1)
        return self.counts()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.err.close()
        self.collector.send_signal(signal.SIGTERM)
        self.collector.wait(timeout=30)
        return usage.ru_utime + usage.ru_stime


SENDER = {"tool": "tcpreplay", "build": ROOT / "build"}


def replay(sender, s_if, capture, pps=None):
    if SENDER["tool"] == "blast":
        # bench/blast: the frames from memory with sendmmsg, past the qdisc.
        rate = [] if pps is None else [f"--pps={pps}"]
        out = run(["ip", "netns", "exec", sender, SENDER["build"] / "bench" / "blast", "-i", s_if, *rate, capture])
    else:
        rate = ["--topspeed"] if pps is None else [f"--pps={pps}"]
        # --preload-pcap: read the file into memory first, so the disk never paces the replay.
        out = run(["ip", "netns", "exec", sender, "tcpreplay", "-q", "--preload-pcap", "-i", s_if, *rate, capture])
    text = out.stdout + out.stderr
    sent = int(re.search(r"Successful packets:\s+(\d+)", text).group(1))
    rated = float(re.search(r"Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps", text).group(1))
    return sent, rated


def trial(name, nets, capture, build, pps, tapflow_extra):
    sender, ns, s_if, c_if = nets
    with tempfile.TemporaryDirectory(prefix="tfb", dir="/tmp") as tmp:
        t = Trial(name, ns, c_if, build, tmp, tapflow_extra)
        try:
            sent, rated = replay(sender, s_if, capture, pps)
            received, dropped = t.settle(sent)
        finally:
            cpu = t.stop()
    label = "top speed" if pps is None else f"--pps {pps}"
    print(f"  {label:<14} sent {sent} at {rated:8.0f} pps: received {received}, dropped {dropped}, "
          f"cpu {cpu:.2f} s ({cpu / sent * 1e6:.2f} us/packet)", flush=True)
    return rated, dropped, cpu / sent * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--flows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5, help="binary search steps after the top-speed run")
    ap.add_argument("--common-pps", type=int, default=50_000,
                    help="a rate every probe is also run at, to compare CPU per packet")
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--sender", choices=["tcpreplay", "blast"], default="tcpreplay",
                    help="blast: bench/blast (sendmmsg from memory), faster than tcpreplay")
    ap.add_argument("--only", default="", help="comma-separated substrings: run only the probes whose name has one")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("live_rate: needs root (network namespaces, veth pairs, packet capture)")
    with open("/proc/sys/net/core/rmem_max", "r+") as f:
        if int(f.read()) < 16000000:
            f.seek(0)
            f.write("16000000\n")
    build = Path(args.build)
    SENDER.update(tool=args.sender, build=build)
    capture = build / f"live-{args.packets}-{args.flows}-{args.seed}.pcap"
    if not capture.exists():
        subprocess.run([build / "bench" / "gen_pcap", "--packets", str(args.packets), "--flows", str(args.flows),
                        "--seed", str(args.seed), "-o", capture], check=True, capture_output=True)
    probes = {
        "tapflow --threads 2": ["--threads", "2"],
        "tapflow --threads 2 --buffer-size 2": ["--threads", "2", "--buffer-size", "2"],
        "tapflow --threads 1 --buffer-size 2": ["--threads", "1", "--buffer-size", "2"],
        "tapflow --rx-queues 2 (AF_PACKET fanout)": ["--rx-queues", "2"],
        "tapflow --rx-queues 2 --buffer-size 2": ["--rx-queues", "2", "--buffer-size", "2"],
    }
    if shutil.which("softflowd") and shutil.which("softflowctl"):
        probes["softflowd (libpcap's 2 MiB)"] = ()
    if args.only:
        probes = {k: v for k, v in probes.items() if any(o in k for o in args.only.split(","))}
    results = {}
    with namespaces() as nets:
        sender, _, s_if, _ = nets
        alone = replay(sender, s_if, capture)[1]
        print(f"{args.sender} alone (nobody capturing): {alone:.0f} pps", flush=True)
        for name, extra in probes.items():
            print(f"{name}:", flush=True)
            top, dropped, _ = trial(name, nets, capture, build, None, extra)
            _, common_dropped, us = trial(name, nets, capture, build, args.common_pps, extra)
            if dropped == 0:
                results[name] = (top, True, top, us, common_dropped)
                continue
            lo, hi, best = 0, int(top), 0.0
            for _ in range(args.steps):
                mid = (lo + hi) // 2
                rated, dropped, _ = trial(name, nets, capture, build, mid, extra)
                if dropped == 0:
                    lo, best = mid, max(best, rated)
                else:
                    hi = mid
            results[name] = (best, False, top, us, common_dropped)

    print()
    print(f"capture: {capture} ({args.packets} packets, frames of 96 bytes at most, {args.flows} flows); "
          f"veth pair between two namespaces; {os.cpu_count()} cores shared by tcpreplay and the probe; "
          f"tcpreplay alone: {alone:.0f} pps")
    print(f"{'probe':<36} {'max pps, 0 drops':>17} {'tcpreplay top pps':>18} "
          f"{'us cpu/pkt @' + str(args.common_pps):>19} {'drops @' + str(args.common_pps):>13}")
    for name, (rate, bound, top, us, common_dropped) in results.items():
        shown = f"{'>= ' if bound else ''}{rate:.0f}"
        print(f"{name:<36} {shown:>17} {top:18.0f} {us:19.2f} {common_dropped:13}")
    if any(r[1] for r in results.values()):
        print(">= : nothing dropped even at tcpreplay's top speed: the sender, sharing the cores with the "
              "probe, was the limit")

if __name__ == "__main__":
    main()
