#!/usr/bin/env python3
"""Collector groups and multicast, against nfcapd/nfdump:
  - failover:A,B with A absent at the start: B takes over (one warning line), and what B stored
    plus what tapflow counted lost is every record, exactly;
  - failover:A,B during a run: A killed (B takes over), A back, B killed (A again): what they
    stored plus what tapflow counted lost is every record, exactly;
  - balance:A,B: the records add up across the two collectors, none twice;
  - udp://GROUP:PORT to a multicast group nfcapd joined (-J), IPv4, inside a network namespace
    of its own whose loopback carries multicast (root only; skipped otherwise).
Skips (77) without nfcapd or nfdump.
"""

import collections
import contextlib
import json
import os
import subprocess
import sys
import signal
import tempfile
import time
from pathlib import Path

import common

CAPTURE = common.DATA / "ndpi/wechat.pcap"


def keys(flows):
    return [(f["pr"], f["sa"], f["sp"], f["da"], f["dp"], f["ts"], f["ipkt"], f["ibyt"]) for f in flows]


def tapflow(url, tmp, extra=()):
    stats = Path(tmp) / f"stats-{os.urandom(4).hex()}.json"
    out = subprocess.run([common.tapflow_binary(), "-r", CAPTURE, "-n", url, "--no-progress", "--stats-json", stats,
                          *extra], capture_output=True, text=True)
    return out, json.loads(stats.read_text())


def failover(tmp):
    absent, port = common.free_udp_port(), common.free_udp_port()
    d = Path(tmp) / "failover"
    d.mkdir()
    with common.nfcapd(port, d):
        out, s = tapflow(f"failover:udp://127.0.0.1:{absent},udp://127.0.0.1:{port}", tmp)
    stored = common.nfdump_flows(d)
    e = s["exporters"][0]
    lines = [l for l in out.stderr.splitlines() if "takes over" in l]
    print(f"  failover, first collector absent: exit {out.returncode}, {e['records']} records, "
          f"{e['records_unsent']} counted lost, {len(stored)} stored by the second; {lines}", flush=True)
    if len(lines) != 1 or len(stored) + e["records_unsent"] != e["records"] or len(stored) == 0:
        common.fail(f"failover: {out.stderr}")
    if out.returncode != (4 if e["records_unsent"] else 0):
        common.fail(f"failover: exit {out.returncode} with {e['records_unsent']} records counted lost")


def failover_mid_run(tmp):
    """Both collectors up; the first is killed mid-run (the second takes over), comes back, then
    the second is killed (back to the first): what they stored plus what tapflow counted lost is
    every record, exactly. NetFlow v5, so a collector that comes back needs no templates."""
    import delivery
    capture = Path(tmp) / "spread.pcap"
    gen = common.gen_binary()
    subprocess.run([gen, "--packets", "300000", "--shape", "spread", "--seed", "7", "-o", capture], check=True,
                   capture_output=True)
    ports = [common.free_udp_port(), common.free_udp_port()]
    dirs = [Path(tmp) / f"mid{i}" for i in range(3)]
    for d in dirs:
        d.mkdir()

    def start(port, d):
        proc = subprocess.Popen(["nfcapd", "-b", "127.0.0.1", "-p", str(port), "-w", d, "-B", "16000000", "-t", "3600"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        common.wait_for_udp_listener(port, proc)
        return proc

    def stop(proc):
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)

    first, second = start(ports[0], dirs[0]), start(ports[1], dirs[1])
    proc, feeder, stats = delivery.slow_conversion(
        capture, f"failover:udp://127.0.0.1:{ports[0]},udp://127.0.0.1:{ports[1]}", tmp, ["-v", "5"], seconds=6)
    time.sleep(1.5)
    stop(first)
    time.sleep(1.5)
    first = start(ports[0], dirs[2])  # back again, on a fresh directory
    time.sleep(0.5)
    stop(second)
    feeder.join()
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    time.sleep(0.5)
    stop(first)
    e = json.loads(stats.read_text())["exporters"][0]
    stored = [len(common.nfdump_flows(d)) for d in dirs]
    switches = [l for l in err.splitlines() if "takes over" in l]
    print(f"  failover, first killed, back, second killed: {e['records']} records = stored {stored} + "
          f"{e['records_unsent']} counted lost; {len(switches)} switches; exit {proc.returncode}", flush=True)
    if sum(stored) + e["records_unsent"] != e["records"] or len(switches) != 2 or 0 in stored:
        common.fail(f"failover mid-run: {err[-600:]}")


def balance(tmp):
    ports = [common.free_udp_port(), common.free_udp_port()]
    dirs = [Path(tmp) / f"balance{i}" for i in range(2)]
    for d in dirs:
        d.mkdir()
    with common.nfcapd(ports[0], dirs[0]), common.nfcapd(ports[1], dirs[1]):
        out, s = tapflow(f"balance:udp://127.0.0.1:{ports[0]},udp://127.0.0.1:{ports[1]}", tmp)
    if out.returncode != 0:
        common.fail(f"balance: exit {out.returncode}: {out.stderr}")
    a, b = (keys(common.nfdump_flows(d)) for d in dirs)
    total = s["exporters"][0]["records"]
    # The same capture to one collector: the two halves together are exactly its records.
    port = common.free_udp_port()
    ref_dir = Path(tmp) / "balance-ref"
    ref_dir.mkdir()
    with common.nfcapd(port, ref_dir):
        tapflow(f"udp://127.0.0.1:{port}", tmp)
    ref = collections.Counter(keys(common.nfdump_flows(ref_dir)))
    print(f"  balance: {len(a)} + {len(b)} records = {total} exported = the {sum(ref.values())} of a single "
          f"collector, none twice", flush=True)
    if len(a) + len(b) != total or abs(len(a) - len(b)) > 1 or collections.Counter(a) + collections.Counter(b) != ref:
        common.fail(f"balance: {len(a)} + {len(b)} of {total}, not the single collector's records")


def multicast(tmp):
    if os.geteuid() != 0:
        print("  multicast: skipped (needs root for a network namespace)")
        return
    ns = f"tfm{os.getpid() % 100000}"
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
        print("  multicast: skipped (no network namespaces)")
        return
    try:
        for cmd in (["ip", "link", "set", "lo", "up", "multicast", "on"], ["ip", "route", "add", "239.0.0.0/8", "dev", "lo"]):
            subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True, capture_output=True)
        port = common.free_udp_port()
        d = Path(tmp) / "multicast"
        d.mkdir()
        collector = subprocess.Popen(["ip", "netns", "exec", ns, "nfcapd", "-J", "239.1.2.3", "-p", str(port), "-w", d,
                                      "-B", "16000000", "-t", "3600"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            import time
            time.sleep(1)
            out = subprocess.run(["ip", "netns", "exec", ns, common.tapflow_binary(), "-r", CAPTURE, "-n",
                                  f"udp://239.1.2.3:{port}", "--export-ttl", "2", "--export-source", "127.0.0.1",
                                  "--no-progress", "--stats-json", "-"], capture_output=True, text=True)
            time.sleep(1)
        finally:
            collector.terminate()
            collector.wait(timeout=20)
        if out.returncode != 0:
            common.fail(f"multicast: exit {out.returncode}: {out.stderr}")
        s = json.loads(out.stdout)
        stored = common.nfdump_flows(d)
        print(f"  multicast 239.1.2.3 (TTL 2, from 127.0.0.1): {len(stored)} of {s['exporters'][0]['records']} "
              f"records stored by nfcapd -J", flush=True)
        if len(stored) != s["exporters"][0]["records"]:
            common.fail("multicast: records missing")
    finally:
        with contextlib.suppress(Exception):
            for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split():
                os.kill(int(pid), 9)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def main():
    common.require_tools("nfcapd", "nfdump")
    with tempfile.TemporaryDirectory(prefix="tapflow-groups-") as tmp:
        failover(tmp)
        failover_mid_run(tmp)
        balance(tmp)
        multicast(tmp)
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
