#!/usr/bin/env python3
"""SYN flood into a small cache: N TCP SYNs from random sources (every packet a new flow) through
--cache-size 65536. Every packet is accounted (the flows hold every decoded packet, every flow
created is expired), the flows pushed out carry flowEndReason lackOfResources in the IPFIX output,
tapflow warns "flow cache full" exactly once, and peak RSS stays flat: a run of N packets uses
within 10% of the memory of a smaller one (300 k for 2 M, N/3 otherwise; the cache is bounded,
nothing grows with the flood).
Throughput is a benchmark's business, not this test's.

  flood.py --tapflow=PATH --gen=PATH [--packets N]   (default 300000; 2000000 under the slow label)
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import common

CACHE_SIZE = 65536



# Linux keeps a process's peak RSS across exec, so a child forked straight from this (possibly
# large) Python would report this process's memory. A fresh, small interpreter forks tapflow and
# reports its ru_maxrss instead.
MEASURE = """
import os, sys, time
start = time.monotonic()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, time.monotonic() - start)
"""


def run_measured(cmd):
    """Runs cmd; returns (returncode, stderr text, peak RSS in KiB, seconds)."""
    with tempfile.TemporaryFile() as err:
        out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], stdout=subprocess.PIPE,
                             stderr=err, text=True).stdout.split()
        err.seek(0)
        return int(out[0]), err.read().decode(errors="replace"), int(out[1]), float(out[2])


def flood(tmp, packets, check_records):
    capture = Path(tmp) / f"flood-{packets}.pcap"
    subprocess.run([common.gen_binary(), "--syn-flood",
                    "--packets", str(packets), "--seed", "3", "-o", str(capture)], check=True)
    ipfix = Path(tmp) / f"flood-{packets}.ipfix"
    stats_path = Path(tmp) / f"flood-{packets}.json"
    cmd = [common.tapflow_binary(), "--no-progress", "-r", str(capture), "--cache-size", str(CACHE_SIZE),
           "-n", f"file:{ipfix}", "--stats-json", str(stats_path)]
    rc, stderr, rss_kib, seconds = run_measured(cmd)
    capture.unlink()
    if rc != 0:
        common.fail(f"{' '.join(cmd)} exited {rc}: {stderr}")
    stats = json.loads(stats_path.read_text())
    pk, fl = stats["packets"], stats["flows"]
    reasons = fl["expired_by_reason"]
    if pk["read"] != packets or pk["decoded"] != packets:
        common.fail(f"{packets}: read {pk['read']}, decoded {pk['decoded']} of {packets} SYNs")
    if fl["packets"] != pk["decoded"] or fl["octets"] != pk["decoded_octets"]:
        common.fail(f"{packets}: flows hold {fl['packets']} packets / {fl['octets']} octets, decoded "
                    f"{pk['decoded']} / {pk['decoded_octets']}")
    if fl["created"] != fl["expired"] or fl["active"] != 0:
        common.fail(f"{packets}: created {fl['created']}, expired {fl['expired']}, active {fl['active']}")
    # Random sources nearly never repeat: about one flow per packet.
    if fl["created"] < packets * 0.99:
        common.fail(f"{packets}: only {fl['created']} flows from {packets} random-source SYNs")
    evicted = reasons["lack_of_resources"]
    if evicted + reasons["forced_end"] != fl["created"] or reasons["forced_end"] > CACHE_SIZE:
        common.fail(f"{packets}: a flood into a full cache must end flows by lack of resources "
                    f"(or at end of input, at most {CACHE_SIZE}): {reasons}")
    if evicted < fl["created"] - CACHE_SIZE:
        common.fail(f"{packets}: {evicted} evictions, expected at least {fl['created'] - CACHE_SIZE}")
    exported = stats["exporters"][0]
    if exported["records"] != fl["expired"] or exported["send_errors"] != 0:
        common.fail(f"{packets}: exported {exported}, expired {fl['expired']}")
    warnings = [l for l in stderr.splitlines() if "flow cache full" in l]
    if len(warnings) != 1:
        common.fail(f"{packets}: expected one 'flow cache full' warning on stderr, got {len(warnings)}: "
                    f"{warnings[:3]}")
    if check_records:
        # The records themselves say why they ended, as a collector reads them.
        out = subprocess.run([common.tapflow_binary(), "collect", "--listen", f"file:{ipfix}"],
                             capture_output=True, text=True, check=True).stdout
        lines = out.splitlines()
        by_reason = sum(1 for l in lines if l.endswith("end lack of resources"))
        if len(lines) != exported["records"] or by_reason != evicted:
            common.fail(f"{packets}: the IPFIX file holds {len(lines)} records, {by_reason} with "
                        f"flowEndReason lackOfResources; expected {exported['records']} and {evicted}")
    ipfix.unlink()
    print(f"{packets} SYNs: {fl['created']} flows, {evicted} evicted (lack of resources), "
          f"{reasons['forced_end']} at end of input; peak RSS {rss_kib // 1024} MiB; "
          f"{packets / seconds / 1e6:.2f} Mpps (not checked)", flush=True)
    return rss_kib


def main():
    packets = int(common.arg("packets", "300000"))
    with tempfile.TemporaryDirectory() as tmp:
        # The 2 M run is compared with a 300 k one, the default 300 k run with a 100 k one.
        small_packets = 300000 if packets > 300000 else packets // 3
        small = flood(tmp, small_packets, check_records=True)
        large = flood(tmp, packets, check_records=packets <= 300000)
    if large > small * 1.10:
        common.fail(f"peak RSS grows with the flood: {small // 1024} MiB for {small_packets} SYNs, "
                    f"{large // 1024} MiB for {packets}")
    print(f"peak RSS flat: {small // 1024} MiB -> {large // 1024} MiB")


if __name__ == "__main__":
    main()
