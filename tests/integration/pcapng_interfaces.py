#!/usr/bin/env python3
"""pcapng captures as tshark reads them (issue 13): every pcapng under tests/data/pcaps that
tshark reads gives tapflow as many packets as tshark counts, interface by interface (the
interface id is the flows' ingress_interface), and every packet read is in an exported flow or
rejected under a reason. tshark 4 also lists custom blocks as frames, without an interface id:
those are not packets. Then pcap 2.5: read as 2.4, the same records as the 2.4 original."""

import collections
import json
import subprocess
import tempfile
from pathlib import Path

import common


def tshark_packets_by_interface(capture):
    """{interface id: packets}, or None if tshark refuses the file."""
    proc = subprocess.run(["tshark", "-r", str(capture), "-n", "-T", "fields", "-e", "frame.interface_id"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    counts = collections.Counter(int(line) for line in proc.stdout.split() if line.strip())
    return dict(counts)


def tapflow_json(capture):
    """(stats, {ingress_interface: packets in the exported flows}, records)."""
    proc, stats = common.run_tapflow(["-r", capture, "-n", "json:-"], check=False)
    if proc.returncode != 0 or stats is None:
        common.fail(f"{capture}: tapflow exited {proc.returncode}: {proc.stderr}")
    by_interface = collections.Counter()
    records = []
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        by_interface[record["ingress_interface"]] += record["packets"]
        records.append(line)
    return stats, dict(by_interface), sorted(records)


def main():
    common.require_tools("tshark")
    captures = sorted(p for p in common.DATA.rglob("*.pcapng"))
    rows = []
    for capture in captures:
        name = capture.relative_to(common.DATA)
        expected = tshark_packets_by_interface(capture)
        if expected is None:
            continue  # tshark refuses it too (the libpcap test files of broken headers)
        stats, by_interface, _ = tapflow_json(capture)
        packets = stats["packets"]
        if packets["read"] != sum(expected.values()):
            common.fail(f"{name}: tapflow read {packets['read']} packets, tshark counts {sum(expected.values())}")
        if sum(by_interface.values()) + packets["rejected"] != packets["read"]:
            common.fail(f"{name}: {sum(by_interface.values())} packets in flows + {packets['rejected']} rejected "
                        f"!= {packets['read']} read")
        for interface, count in by_interface.items():
            if count > expected.get(interface, 0):
                common.fail(f"{name}: {count} packets on interface {interface} in flows, tshark counts "
                            f"{expected.get(interface, 0)}")
        if packets["rejected"] == 0 and by_interface != expected:
            common.fail(f"{name}: packets by interface {by_interface}, tshark {expected}")
        rows.append((str(name), packets["read"], packets["rejected"], by_interface))

    # pcap 2.5: the same bytes as a 2.4 capture but for the minor version.
    original = common.DATA / "zeek" / "wikipedia.pcap"
    with tempfile.TemporaryDirectory() as tmp:
        data = bytearray(original.read_bytes())
        if data[:4] != bytes.fromhex("d4c3b2a1") or data[6:8] != b"\x04\x00":
            common.fail(f"{original} is not a little-endian pcap 2.4 file")
        data[6:8] = b"\x05\x00"
        v25 = Path(tmp) / "wikipedia-2.5.pcap"
        v25.write_bytes(bytes(data))
        _, _, want = tapflow_json(original)
        stats, _, got = tapflow_json(v25)
        if got != want or not want:
            common.fail(f"pcap 2.5: {len(got)} records, not the {len(want)} of the 2.4 original")
        frames = subprocess.run(["tshark", "-r", str(v25), "-T", "fields", "-e", "frame.number"],
                                capture_output=True, text=True).stdout.split()
        if stats["packets"]["read"] != len(frames):
            common.fail(f"pcap 2.5: tapflow read {stats['packets']['read']} packets, tshark {len(frames)}")
        rows.append(("zeek/wikipedia.pcap as 2.5", stats["packets"]["read"], stats["packets"]["rejected"], {}))

    print(f"{'capture':<60} {'read':>6} {'rejected':>8} packets in flows by interface")
    for r in rows:
        print(f"{r[0]:<60} {r[1]:>6} {r[2]:>8} {r[3]}")
    print(f"pcapng_interfaces: {len(rows)} captures, every packet tshark counts")


if __name__ == "__main__":
    main()
