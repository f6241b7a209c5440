#!/usr/bin/env python3
"""Delivery with the default pacing (--export-rate 2000 messages/s) to collectors left at their
default socket buffers (net.core.rmem_default, 208 KiB): a 1 M-packet capture of 100 k flows
converted at full speed, in NetFlow v5, v9 and IPFIX, to nfcapd without -B and to nfacctd without
nfacctd_pipe_size. Every record must arrive: nfcapd's files hold as many flows, packets and
bytes as tapflow exported, nfacctd's table as many packets and bytes, and neither socket counted a
drop (/proc/net/udp). The same conversion unpaced (--export-rate 0) is run once for the record:
its losses are printed, not checked (they depend on the machine). And a collector that comes up in
the middle of a run (UDP to nfcapd, TCP to tapflow collect): what it stored plus what tapflow
counted lost is every record exported, exactly, and the exit status is 4.

Skips (77) without nfcapd, nfdump or nfacctd.
"""

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import common
import interop_matrix as im

FORMATS = (5, 9, 10)



def convert(capture, url, version, tmp, rate=None):
    stats = Path(tmp) / f"stats-{version}-{time.monotonic_ns()}.json"
    cmd = [common.tapflow_binary(), "-r", capture, "-n", url, "-v", str(version), "--no-progress",
           "--stats-json", stats]
    if rate is not None:
        cmd += ["--export-rate", rate]
    started = time.monotonic()
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    wall = time.monotonic() - started
    if out.returncode != 0:
        common.fail(f"tapflow -v {version} -n {url}: exit {out.returncode}: {out.stderr}")
    s = json.loads(stats.read_text())
    e = s["exporters"][0]
    # v5 carries IPv4 flows only: `records` counts what was sent, IPv6 flows are `unexportable`.
    return {"records": e["records"], "unexportable": e["unexportable"], "packets": s["flows"]["packets"],
            "octets": s["flows"]["octets"], "wall": wall, "unsent": e["records_unsent"]}


def to_nfcapd(capture, version, tmp, rate=None):
    port = im.unique_port()
    directory = Path(tmp) / f"nfcapd-{port}"
    directory.mkdir()
    # No -B: the kernel's default receive buffer.
    proc = im.PROCS.start(["nfcapd", "-b", "127.0.0.1", "-p", port, "-w", directory, "-t", "3600"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    common.wait_for_udp_listener(port, proc)
    sent = convert(capture, f"udp://127.0.0.1:{port}", version, tmp, rate)
    common.wait_for_udp_drained(port)
    drops = im.udp_socket_state(port)[1]
    im.stop(proc, im.Nfcapd.STOP, "nfcapd")
    flows = common.nfdump_flows(directory)
    got = (len(flows), sum(int(f["ipkt"]) for f in flows), sum(int(f["ibyt"]) for f in flows))
    return sent, got, drops


def to_nfacctd(capture, version, tmp):
    # No nfacctd_pipe_size: the kernel's default receive buffer. The print plugin's cache has room
    # for the 100 k flows (the memory plugin's default table holds about 32 k aggregates and
    # silently drops the rest, so it cannot be the judge here).
    with common.nfacctd_print(tmp, "src_host,dst_host,src_port,dst_port,proto,tos") as (port, rows):
        sent = convert(capture, f"udp://127.0.0.1:{port}", version, tmp)
        common.wait_for_udp_drained(port)
        drops = im.udp_socket_state(port)[1]
    return sent, (sum(int(r["PACKETS"]) for r in rows), sum(int(r["BYTES"]) for r in rows)), drops


def slow_conversion(capture, url, tmp, extra=(), seconds=4.0):
    """tapflow -r - fed `capture` over `seconds` (a live-like pace from a file); returns the
    process and its stats path."""
    stats = Path(tmp) / f"stats-slow-{time.monotonic_ns()}.json"
    proc = subprocess.Popen([str(common.tapflow_binary()), "-r", "-", "-n", url, "--no-progress", "--stats-json",
                             str(stats), *extra], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    data = Path(capture).read_bytes()
    chunk = max(1, len(data) // 100)

    def feed():
        for i in range(0, len(data), chunk):
            proc.stdin.write(data[i:i + chunk])
            time.sleep(seconds / 100)
        proc.stdin.close()
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    return proc, feeder, stats


def absent_then_started(capture, tmp):
    """The collector comes up in the middle of the run: what it stored plus what tapflow counted
    lost is every record it exported, exactly (UDP: nfcapd, NetFlow v5; TCP: tapflow collect, IPFIX)."""
    results = []
    for scheme in ("udp", "tcp"):
        port = im.unique_port()  # free for UDP; TCP: bound by collect once it starts, so any free one
        directory = Path(tmp) / f"mid-{scheme}-{port}"
        directory.mkdir()
        # UDP in NetFlow v5: a v9 or IPFIX collector that comes up mid-run cannot read the data
        # until the next template refresh, a loss of its own that the exporter cannot see.
        proc, feeder, stats = slow_conversion(capture, f"{scheme}://127.0.0.1:{port}", tmp,
                                              ["-v", "5"] if scheme == "udp" else [])
        time.sleep(1.5)
        if scheme == "udp":
            collector = im.PROCS.start(["nfcapd", "-b", "127.0.0.1", "-p", port, "-w", directory, "-t", "3600"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            out = open(directory / "records.txt", "w")
            collector = im.PROCS.start([common.tapflow_binary(), "collect", "--listen", f"tcp://127.0.0.1:{port}",
                                        "--idle-timeout", "3000"], stdout=out, stderr=subprocess.DEVNULL)
        feeder.join()
        err = proc.stderr.read()
        proc.wait(timeout=60)
        s = json.loads(stats.read_text())["exporters"][0]
        if scheme == "udp":
            common.wait_for_udp_drained(port)
            im.stop(collector, im.Nfcapd.STOP, "nfcapd")
            stored = len(common.nfdump_flows(directory))
        else:
            collector.wait(timeout=30)
            out.close()
            stored = sum(1 for l in (directory / "records.txt").read_text().splitlines() if l.strip())
        print(f"  {scheme} collector started 1.5 s into a 4 s run: tapflow exported {s['records']}, counted "
              f"{s['records_unsent']} lost; the collector stored {stored}; exit {proc.returncode}", flush=True)
        if s["records_unsent"] == 0 or stored == 0 or stored + s["records_unsent"] != s["records"] or proc.returncode != 4:
            results.append(f"{scheme} collector started mid-run: exported {s['records']}, counted lost "
                           f"{s['records_unsent']}, stored {stored}, exit {proc.returncode}: {err.decode()[-300:]}")
    return results


def main():
    common.require_tools("nfcapd", "nfdump", "nfacctd")
    problems = []
    try:
        with tempfile.TemporaryDirectory(prefix="tapflow-delivery-") as tmp:
            capture = Path(tmp) / "m1.pcap"
            subprocess.run([common.gen_binary(), "--packets", "1000000",
                            "--flows", "100000", "--seed", "5", "-o", capture], check=True, capture_output=True)
            print("1 M packets, 100 k flows, default pacing, collectors with default socket buffers", flush=True)
            ipv4_totals = None
            for version in FORMATS:
                sent, got, drops = to_nfcapd(capture, version, tmp)
                want = (sent["records"], sent["packets"], sent["octets"])
                if version == 5:
                    # IPv4 flows only: the packets and bytes are what v9 stores of them, below.
                    want = (sent["records"], got[1], got[2])
                    ipv4_totals = (got[1], got[2])
                print(f"  v{version} -> nfcapd: sent {want} in {sent['wall']:.2f} s, stored {got}, "
                      f"socket drops {drops}", flush=True)
                if got != want or drops != 0 or sent["unsent"] != 0:
                    problems.append(f"v{version} to nfcapd: sent {want}, stored {got}, {drops} dropped")
            for version in FORMATS:
                sent, got, drops = to_nfacctd(capture, version, tmp)
                want = (sent["packets"], sent["octets"]) if version != 5 else ipv4_totals
                print(f"  v{version} -> nfacctd: sent {want} in {sent['wall']:.2f} s, table {got}, "
                      f"socket drops {drops}", flush=True)
                if got != want or drops != 0:
                    problems.append(f"v{version} to nfacctd: sent {want}, table {got}, {drops} dropped")
            spread = Path(tmp) / "spread.pcap"
            subprocess.run([common.gen_binary(), "--packets", "200000",
                            "--shape", "spread", "--seed", "6", "-o", spread], check=True, capture_output=True)
            problems += absent_then_started(spread, tmp)
            sent, got, drops = to_nfcapd(capture, 10, tmp, rate="0")
            print(f"  for the record, unpaced (--export-rate 0) IPFIX -> nfcapd: {sent['records']} records sent "
                  f"in {sent['wall']:.2f} s, {got[0]} stored, {drops} dropped by its socket", flush=True)
    finally:
        im.PROCS.kill_all()
    if problems:
        common.fail("; ".join(problems))
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
