#!/usr/bin/env python3
"""-i dpdk:PORT against -r FILE, with no NIC and no hugepages: DPDK's net_pcap vdev replays a shipped
capture into an RX queue (EAL --no-huge --no-pci), and tapflow must print exactly the flow records
that `-r` prints for the same file (keys, packets, octets, TCP flags, ToS, ingress interface; not
the times, which are the capture's with -r and the wall clock's with DPDK), on IPv4, IPv6, VLAN,
MPLS and fragment captures.

Several queues: the capture split in Python by a symmetric hash of the address pair (both
directions of a connection, and every fragment of a datagram, in one file), one rx_pcap= per
file, so net_pcap has one RX queue per file; --rx-queues 2 must give the same records as one
queue, with the port's counters on per-queue lines that add up to the packets sent.

Also: the command-line refusals (-i dpdk: mixed with an interface, --dpdk-eal without -i dpdk:, a
port the EAL does not have, more queues than the port has). Skips (77) when tapflow was built
without DPDK (after checking its one-line refusal) or when the EAL cannot start here.
"""

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import common

# Ethernet captures whose every frame is whole (caplen == len: net_pcap gives DPDK the captured
# bytes only, so a cut frame would have a shorter wire length than -r reports).
CAPTURES = [
    "zeek/wikipedia.pcap",          # IPv4 + IPv6, TCP + UDP, ARP
    "ndpi/wechat.pcap",             # 158 flows, IPv4 + IPv6
    "zeek/vlan-qinqinq.pcap",       # three stacked VLAN tags
    "zeek/mpls-in-vlan.pcap",       # MPLS label stack inside a VLAN
    "zeek/ipv4/fragmented-4.pcap",  # IPv4 TCP fragments
    "zeek/ipv6-fragmented-dns.pcap",  # IPv6 fragment headers
    "zeek/dns-edns-ecs.pcap",       # IPv4 fragments, 88 flows
    "tcpdump/ipv6-routing-header.pcap",
]
# Two RX queues: captures with enough address pairs that both shards get packets.
SPLIT_CAPTURES = ["ndpi/wechat.pcap", "zeek/dns-edns-ecs.pcap", "zeek/wikipedia.pcap"]
# Nothing expires on a timer in either run: -r's packet times span minutes, DPDK's a few ms.
NO_TIMEOUTS = ["--active-timeout", "604800", "--inactive-timeout", "604800"]

RUNS = [0]
MBUF_DATA_ROOM = 2048  # RTE_MBUF_DEFAULT_DATAROOM: the first segment of a chained mbuf


# ---- pcap files

def read_pcap(path):
    """(header bytes, endian, [(record header bytes, frame bytes)]) of a classic pcap file."""
    data = Path(path).read_bytes()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        common.fail(f"{path}: not a classic pcap file")
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0xFFFF
    if linktype != 1:
        common.fail(f"{path}: link type {linktype}, not Ethernet")
    records, offset = [], 24
    while offset + 16 <= len(data):
        caplen, length = struct.unpack(endian + "II", data[offset + 8:offset + 16])
        if caplen != length:
            common.fail(f"{path}: a frame was cut ({caplen} of {length} bytes): not a test capture for net_pcap")
        records.append((data[offset:offset + 16], data[offset + 16:offset + 16 + caplen]))
        offset += 16 + caplen
    return data[:24], records


def address_pair(frame):
    """The outermost IP header's two addresses, or None (ARP, other protocols)."""
    offset, ethertype = 14, struct.unpack("!H", frame[12:14])[0]
    while ethertype in (0x8100, 0x88A8, 0x9100) and len(frame) >= offset + 4:
        ethertype = struct.unpack("!H", frame[offset + 2:offset + 4])[0]
        offset += 4
    if ethertype in (0x8847, 0x8848):
        while len(frame) >= offset + 4:
            bottom = frame[offset + 2] & 1
            offset += 4
            if bottom:
                break
        version = frame[offset] >> 4 if len(frame) > offset else 0
        ethertype = {4: 0x0800, 6: 0x86DD}.get(version, 0)
    if ethertype == 0x0800 and len(frame) >= offset + 20:
        return frame[offset + 12:offset + 16], frame[offset + 16:offset + 20]
    if ethertype == 0x86DD and len(frame) >= offset + 40:
        return frame[offset + 8:offset + 24], frame[offset + 24:offset + 40]
    return None


def shard_of(frame, shards):
    """A symmetric hash of the address pair: both directions, and every fragment, alike."""
    pair = address_pair(frame)
    if pair is None:
        return 0
    low, high = sorted(pair)
    return zlib.crc32(low + high) % shards


def split_pcap(path, shards, directory):
    header, records = read_pcap(path)
    parts = [[] for _ in range(shards)]
    for record in records:
        parts[shard_of(record[1], shards)].append(record)
    files = []
    for i, part in enumerate(parts):
        out = Path(directory) / f"{Path(path).stem}.q{i}.pcap"
        out.write_bytes(header + b"".join(h + f for h, f in part))
        files.append((out, len(part)))
    return files


# ---- tapflow runs

def rows(stdout):
    """The table's flows without their times and end reasons, sorted."""
    out = []
    for line in stdout.splitlines()[1:]:
        words = line.split()
        # first seen (date, time), duration | proto source -> destination packets octets flags tos if | reason
        out.append(" ".join(words[3:12]))
    return sorted(out)


def reference(capture):
    proc, stats = common.run_tapflow(["-r", capture, *NO_TIMEOUTS])
    return rows(proc.stdout), stats


def eal_arguments(vdev, prefix):
    # --no-huge: plain memory (-m MB); --no-pci: no device scan; a file prefix of its own so runs
    # in parallel never share EAL state; --no-shconf/--no-telemetry: no runtime files or sockets.
    return (f"-l 0 --no-huge -m 256 --no-pci --no-shconf --no-telemetry --file-prefix={prefix} "
            f"--log-level=error {vdev}")


def run_dpdk(tmp, vdev, expected_packets, extra=(), expect_status=0):
    """tapflow -i dpdk:0 on `vdev` until it has read `expected_packets`, then SIGTERM.
    Returns (stdout, stderr, stats)."""
    RUNS[0] += 1
    n = RUNS[0]
    prefix = f"tapflow-test-{os.getpid()}-{n}"
    control = Path(tmp) / f"ctl{n}"
    stats_path = Path(tmp) / f"stats{n}.json"
    out_path, err_path = Path(tmp) / f"out{n}.txt", Path(tmp) / f"err{n}.txt"
    cmd = [common.tapflow_binary(), "-i", "dpdk:0", "--dpdk-eal", eal_arguments(vdev, prefix), "--control",
           str(control), "--stats-json", str(stats_path), "--no-progress", *NO_TIMEOUTS, *extra]
    try:
        with open(out_path, "w") as out, open(err_path, "w") as err:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err)
            deadline = time.time() + 30
            read = -1
            while time.time() < deadline:
                if proc.poll() is not None:
                    break
                if control.exists():
                    answer = subprocess.run([common.tapflow_binary(), "ctl", "-s", str(control), "stats", "--json"],
                                            capture_output=True, text=True)
                    if answer.returncode == 0:
                        read = json.loads(answer.stdout)["packets"]["read"]
                        if read >= expected_packets:
                            break
                time.sleep(0.05)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                status = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                common.fail(f"{' '.join(cmd)}: did not exit within 30 s of SIGTERM")
        stderr = err_path.read_text()
        if "cannot initialise DPDK" in stderr:
            print(f"SKIP: DPDK's EAL cannot start here: {stderr.strip()}")
            sys.exit(common.SKIP)
        if status != expect_status:
            common.fail(f"{' '.join(cmd)} exited {status} (expected {expect_status}): {stderr}")
        if expect_status == 0 and read < expected_packets:
            common.fail(f"{vdev}: tapflow read {read} of {expected_packets} packets within 30 s: {stderr}")
        stats = json.loads(stats_path.read_text()) if stats_path.exists() and stats_path.stat().st_size else None
        return out_path.read_text(), stderr, stats
    finally:
        shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)


def check_same(name, got, want):
    if got != want:
        missing = sorted(set(want) - set(got))[:3]
        extra = sorted(set(got) - set(want))[:3]
        common.fail(f"{name}: {len(got)} flows with DPDK, {len(want)} with -r; missing {missing}, extra {extra}")


def refusals(tmp):
    """One line and exit 2 for the mistakes found on the command line."""
    wiki = common.DATA / "zeek/wikipedia.pcap"
    cases = [
        (["-i", "dpdk:0", "-i", "lo"], "cannot be mixed with other interfaces"),
        (["-r", wiki, "--dpdk-eal=--no-huge"], "--dpdk-eal needs -i dpdk:PORT"),
        (["-i", "dpdk:zero"], "expected dpdk:PORT"),
        (["-i", "dpdk:0", "tcp"], "cannot apply to -i dpdk:PORT"),
    ]
    for args, message in cases:
        proc = subprocess.run([common.tapflow_binary(), "--control", "none", *map(str, args)], capture_output=True,
                              text=True, timeout=30)
        if proc.returncode != 2 or message not in proc.stderr or len(proc.stderr.strip().splitlines()) != 1:
            common.fail(f"tapflow {' '.join(map(str, args))}: exit {proc.returncode}, expected 2 and one line "
                        f"with '{message}': {proc.stderr!r}")
    print(f"refusals: {len(cases)} command-line mistakes exit 2 with one line")


def main():
    # Refused before any EAL start: built without DPDK, or mixed with a kernel interface.
    probe = subprocess.run([common.tapflow_binary(), "--control", "none", "-i", "dpdk:0", "-i", "lo"],
                           capture_output=True,
                           text=True, timeout=30, stdin=subprocess.DEVNULL)
    if "built without DPDK" in probe.stderr:
        if probe.returncode != 2 or len(probe.stderr.strip().splitlines()) != 1:
            common.fail(f"a build without DPDK: exit {probe.returncode}, expected 2 and one line: {probe.stderr!r}")
        print(f"SKIP: {probe.stderr.strip()} (checked: exit 2, one line)")
        sys.exit(common.SKIP)
    with tempfile.TemporaryDirectory() as tmp:
        refusals(tmp)
        wiki = common.DATA / "zeek/wikipedia.pcap"
        _, stderr, _ = run_dpdk(tmp, f"--vdev=net_pcap0,rx_pcap={wiki}", 136, ["-i", "dpdk:0"], expect_status=1)
        if "dpdk:0 is named twice" not in stderr:
            common.fail(f"-i dpdk:0 twice: {stderr}")
        _, stderr, _ = run_dpdk(tmp, f"--vdev=net_pcap0,rx_pcap={wiki}", 0, ["-i", "dpdk:3"], expect_status=1)
        if "no DPDK port 3; the EAL found: 0 (net_pcap)" not in stderr:
            common.fail(f"-i dpdk:3 on one vdev: {stderr}")
        print("refusals: a port named twice and a port the EAL does not have exit 1, naming the ports found")

        for name in CAPTURES:
            capture = common.DATA / name
            want, ref_stats = reference(capture)
            if not want:
                common.fail(f"{name}: -r printed no flow")
            packets = len(read_pcap(capture)[1])
            stdout, stderr, stats = run_dpdk(tmp, f"--vdev=net_pcap0,rx_pcap={capture}", packets)
            check_same(name, rows(stdout), want)
            capture_lines = stats["capture"]
            if [c["interface"] for c in capture_lines] != ["dpdk:0"] or capture_lines[0]["received"] != packets:
                common.fail(f"{name}: capture counters {capture_lines}, expected dpdk:0 with {packets} received")
            # A frame longer than an mbuf's data room comes as a chain: its first segment is what
            # is captured (the headers are there), its whole length is the wire length.
            frames = read_pcap(capture)[1]
            want_packets = dict(ref_stats["packets"], captured_bytes=sum(min(len(f), MBUF_DATA_ROOM) for _, f in frames))
            if stats["packets"] != want_packets:
                common.fail(f"{name}: packet counters {stats['packets']} with DPDK, expected {want_packets}")
            summary = f"capture on dpdk:0: {packets} received, 0 missed (RX ring full), 0 errors, 0 without an mbuf"
            if summary not in stderr or "dropped_no_buffer" not in capture_lines[0]:
                common.fail(f"{name}: no '{summary}' in the summary, or no dropped_no_buffer in the JSON: {stderr}")
            print(f"{name}: {len(want)} flows, {packets} packets: DPDK net_pcap = -r")

        # One file, two queues asked: the port has one, and says so.
        capture = common.DATA / "zeek/wikipedia.pcap"
        stdout, stderr, stats = run_dpdk(tmp, f"--vdev=net_pcap0,rx_pcap={capture}", 136, ["--rx-queues", "2"])
        if "has only 1 RX queue: using 1, not the 2 asked by --rx-queues" not in stderr or stats["flows"]["shards"] != 1:
            common.fail(f"--rx-queues 2 on a one-queue port: shards {stats['flows']['shards']}, stderr {stderr}")
        print("--rx-queues 2 on a one-file net_pcap: one queue, and a warning saying so")

        # A PMD with RSS: net_null (an endless stream of zeroed 64-byte frames on every queue)
        # takes the symmetric-key RSS configuration for 2 queues, and each queue delivers.
        _, stderr, stats = run_dpdk(tmp, "--vdev=net_null0", 10000, ["--rx-queues", "2"])
        lines = {c["interface"]: c["received"] for c in stats["capture"]}
        read = stats["packets"]["read"]
        if (stats["flows"]["shards"] != 2 or set(lines) != {"dpdk:0/q0", "dpdk:0/q1"} or min(lines.values()) == 0
                or sum(lines.values()) < read or stats["packets"]["rejected_by_reason"]["not_ip"] != read
                or "warning" in stderr):
            common.fail(f"net_null with --rx-queues 2: shards {stats['flows']['shards']}, queues {lines}, read {read}, "
                        f"stderr {stderr}")
        print(f"net_null (RSS) with --rx-queues 2: {read} frames read over 2 queues {lines}, no warning")

        for name in SPLIT_CAPTURES:
            capture = common.DATA / name
            want, _ = reference(capture)
            parts = split_pcap(capture, 2, tmp)
            if any(count == 0 for _, count in parts):
                common.fail(f"{name}: a shard of the split is empty: {parts}")
            total = sum(count for _, count in parts)
            vdev = "--vdev=net_pcap0," + ",".join(f"rx_pcap={path}" for path, _ in parts)
            stdout, stderr, stats = run_dpdk(tmp, vdev, total, ["--rx-queues", "2"])
            check_same(f"{name} in 2 queues", rows(stdout), want)
            if stats["flows"]["shards"] != 2:
                common.fail(f"{name}: {stats['flows']['shards']} shards with --rx-queues 2")
            lines = {c["interface"]: c["received"] for c in stats["capture"]}
            if lines != {"dpdk:0/q0": parts[0][1], "dpdk:0/q1": parts[1][1]}:
                common.fail(f"{name}: per-queue counters {lines}, expected {[c for _, c in parts]}")
            print(f"{name}: {len(want)} flows split {parts[0][1]}/{parts[1][1]} packets over 2 RX queues: same "
                  f"records as -r, per-queue counters add up")


if __name__ == "__main__":
    main()
