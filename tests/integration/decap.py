#!/usr/bin/env python3
"""--decap (issue 14): the tunnel captures of tests/data/pcaps (VXLAN, Geneve, ERSPAN type II,
VXLAN carrying IPv6) and a capture crafted here (GTP-U with and without extension headers, GRE
with a key, IP in IP, IPv6 in IPv4, VXLAN in GRE, equal inner headers in two VNIs) converted with
--decap all: the inner flows (addresses, protocol, ports or ICMP type/code, packets) are what
tshark decodes as each frame's innermost headers; frames whose tunnel carries no IP are rejected
(not_ip); read = decoded + rejected. The IPFIX file carries layer2SegmentId, which tshark decodes
without a malformed frame and ipfixDump reads. With --fields tunnelSourceAddress,
tunnelDestinationAddress each inner flow carries the innermost tunnel's outer addresses as tshark
decodes them (json: and the table; no export format has an element for them)."""

import collections
import re
import json
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import common

TUNNELS = ("vxlan", "geneve", "erspan", "gtp", "gre", "ip:ip", "ip:ipv6", "ipv6:ip", "ipv6:ipv6")
TRANSPORTS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload, ttl=64):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000, ttl, proto, 0,
                    bytes(src), bytes(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def ipv6(src, dst, nxt, payload):
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nxt, 64, bytes(src), bytes(dst)) + payload


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport, dport):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x02, 65535, 0, 0)


def eth(payload, ethertype=0x0800):
    return b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02" + struct.pack("!H", ethertype) + payload


def crafted(path):
    a, b = [10, 0, 0, 1], [10, 0, 0, 2]
    o1, o2 = [192, 0, 2, 1], [192, 0, 2, 2]
    v6a, v6b = [0x20, 1, 0xd, 0xb8] + [0] * 11 + [1], [0x20, 1, 0xd, 0xb8] + [0] * 11 + [2]
    inner = ipv4(a, b, 6, tcp(1234, 80))
    frames = [
        eth(ipv4(o1, o2, 17, udp(2152, 2152, struct.pack("!BBHI", 0x30, 0xFF, len(inner), 0x1001) + inner))),
        eth(ipv4(o1, o2, 17, udp(2152, 2152, struct.pack("!BBHIHBB", 0x34, 0xFF, len(inner) + 8, 0x1002, 0, 0, 0x85)
                                 + bytes([1, 0x10, 0x09, 0]) + inner))),
        eth(ipv4(o1, o2, 47, struct.pack("!HHI", 0x2000, 0x0800, 42) + inner)),
        eth(ipv4(o1, o2, 4, ipv4(a, b, 17, udp(5000, 53, b"abcd")))),
        eth(ipv4(o1, o2, 41, ipv6(v6a, v6b, 6, tcp(4321, 443)))),
        eth(ipv4(o1, o2, 47, struct.pack("!HHI", 0x2000, 0x0800, 7)
                 + ipv4(o2, o1, 17, udp(40000, 4789, struct.pack("!II", 0x08000000, 77 << 8) + eth(inner))))),
        eth(ipv4(o1, o2, 17, udp(40001, 4789, struct.pack("!II", 0x08000000, 5 << 8) + eth(inner)))),
        eth(ipv4(o1, o2, 17, udp(40001, 4789, struct.pack("!II", 0x08000000, 6 << 8) + eth(inner)))),
    ]
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(frame), len(frame)) + frame)


def tshark_inner(capture):
    """(Counter of inner 5-tuples -> packets, frames with a tunnel but no IP inside it)."""
    fields = ["frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport",
              "udp.srcport", "udp.dstport", "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code"]
    cmd = ["tshark", "-r", str(capture), "-n", "-d", "udp.port==8472,vxlan", "-T", "fields", "-E", "occurrence=a",
           "-E", "aggregator=/"]  # some tshark versions join with a backslash whatever is asked
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    flows, no_ip = collections.Counter(), 0
    for line in out.splitlines():
        cols = (line.split("\t") + [""] * len(fields))[:len(fields)]
        layers = cols[0].split(":")
        ips = [i for i, p in enumerate(layers) if p in ("ip", "ipv6")]
        if not ips:
            continue
        tunnel = [i for i, p in enumerate(layers) if p in ("vxlan", "geneve", "erspan", "gtp", "gre")]
        tunnel_end = max(tunnel) if tunnel else -1
        if len(ips) == 1 and tunnel_end < 0:
            continue  # not tunnelled
        if tunnel_end > ips[-1]:
            no_ip += 1  # a tunnel carrying ARP or the like
            continue
        last = layers[ips[-1]]

        def lastval(col):
            vals = [v for v in re.split(r"[/\\,]", col) if v]
            return vals[-1] if vals else ""
        if last == "ip":
            src, dst = lastval(cols[1]), lastval(cols[2])
        else:
            src, dst = lastval(cols[3]), lastval(cols[4])
        nxt = layers[ips[-1] + 1] if ips[-1] + 1 < len(layers) else ""
        proto = TRANSPORTS.get(nxt)
        sport = dport = 0
        if nxt == "tcp":
            sport, dport = int(lastval(cols[5])), int(lastval(cols[6]))
        elif nxt == "udp":
            sport, dport = int(lastval(cols[7])), int(lastval(cols[8]))
        elif nxt in ("icmp", "icmpv6"):
            t, c = (cols[9], cols[10]) if nxt == "icmp" else (cols[11], cols[12])
            dport = int(lastval(t)) * 256 + int(lastval(c))
        flows[(src, dst, proto, sport, dport)] += 1
    return flows, no_ip


def tshark_endpoints(capture):
    """{(inner source, inner destination): {(outer source, outer destination), ...}} for each
    tunnelled IP frame: the IP header just outside the innermost one is the innermost tunnel's."""
    fields = ["frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst"]
    cmd = ["tshark", "-r", str(capture), "-n", "-d", "udp.port==8472,vxlan", "-T", "fields", "-E", "occurrence=a",
           "-E", "aggregator=/"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    endpoints = collections.defaultdict(set)
    for line in out.splitlines():
        cols = (line.split("\t") + [""] * len(fields))[:len(fields)]
        layers = cols[0].split(":")
        ips = [i for i, p in enumerate(layers) if p in ("ip", "ipv6")]
        tunnel = [i for i, p in enumerate(layers) if p in ("vxlan", "geneve", "erspan", "gtp", "gre")]
        if len(ips) < 2 or (tunnel and max(tunnel) > ips[-1]):
            continue
        values = {"ip": ([v for v in re.split(r"[/\\,]", cols[1]) if v], [v for v in re.split(r"[/\\,]", cols[2]) if v]),
                  "ipv6": ([v for v in re.split(r"[/\\,]", cols[3]) if v], [v for v in re.split(r"[/\\,]", cols[4]) if v])}

        def address(i):
            family = layers[i]
            n = sum(1 for p in layers[:i] if p == family)
            return values[family][0][n], values[family][1][n]
        endpoints[address(ips[-1])].add(address(ips[-2]))
    return endpoints


def check_endpoints(capture, tmp):
    """--fields tunnelSourceAddress,tunnelDestinationAddress: each inner flow carries the outer
    addresses of a frame of it as tshark decodes them; the inner flows are those without --fields."""
    fields = ["--fields", "tunnel-src,tunnel-dst"]
    proc, _ = common.run_tapflow(["-r", capture, "--decap", "all", "-n", "json:-"] + fields)
    plain, _ = common.run_tapflow(["-r", capture, "--decap", "all", "-n", "json:-"])
    want = tshark_endpoints(capture)
    got, inner, plain_inner = collections.Counter(), collections.Counter(), collections.Counter()
    for line in plain.stdout.splitlines():
        r = json.loads(line)
        plain_inner[(r["source"], r["destination"], r.get("tunnel_id"))] += r["packets"]
    for line in proc.stdout.splitlines():
        r = json.loads(line)
        inner[(r["source"], r["destination"], r.get("tunnel_id"))] += r["packets"]
        if "tunnel_type" not in r:
            if "tunnelSourceAddress" in r:
                common.fail(f"{capture.name}: a flow through no tunnel has tunnel endpoints: {r}")
            continue
        pair = (r.get("tunnelSourceAddress"), r.get("tunnelDestinationAddress"))
        if pair not in want.get((r["source"], r["destination"]), set()):
            common.fail(f"{capture.name}: {r['source']} -> {r['destination']} has tunnel endpoints {pair}, "
                        f"tshark's are {want.get((r['source'], r['destination']))}")
        got[pair] += r["packets"]
    if inner != plain_inner:
        common.fail(f"{capture.name}: --fields changed the flows: {sorted(inner.items())} vs {sorted(plain_inner.items())}")
    if not got:
        common.fail(f"{capture.name}: no tunnelled flow")
    print(f"{capture.name}: tunnel endpoints as tshark's: {dict(got)}")


def main():
    common.require_tools("tshark")
    data = common.DATA / "tcpdump"
    with tempfile.TemporaryDirectory() as tmp:
        crafted_path = Path(tmp) / "crafted-tunnels.pcap"
        crafted(crafted_path)
        captures = [data / "vxlan.pcap", data / "geneve.pcap", data / "erspan-type-ii-2.pcap",
                    data / "gso-ipv4-vxlan-ipv6.pcap", crafted_path]
        for capture in captures:
            proc, stats = common.run_tapflow(["-r", capture, "--decap", "all", "-n", "json:-"])
            got = collections.Counter()
            tunnels = collections.Counter()
            for line in proc.stdout.splitlines():
                r = json.loads(line)
                if "tunnel_type" not in r:
                    continue
                tunnels[(r["tunnel_type"], r["tunnel_id"])] += r["packets"]
                got[(r["source"], r["destination"], r["protocol"], r["source_port"], r["destination_port"])] += r["packets"]
            want, no_ip = tshark_inner(capture)
            # tapflow prints TCP/UDP ports and ICMP type*256+code; other protocols have none, as tshark.
            want = collections.Counter({(s, d, p, sp, dp): n for (s, d, p, sp, dp), n in want.items()})
            got = collections.Counter({(s, d, p, sp, dp): n for (s, d, p, sp, dp), n in got.items()
                                       if p in TRANSPORTS.values()} | {k: n for k, n in got.items()
                                                                          if k[2] not in TRANSPORTS.values()})
            want_fixed = collections.Counter()
            for (s, d, p, sp, dp), n in want.items():
                want_fixed[(s, d, p if p is not None else None, sp, dp)] += n
            got_cmp = collections.Counter({k: n for k, n in got.items() if k[2] in TRANSPORTS.values()})
            want_cmp = collections.Counter({k: n for k, n in want_fixed.items() if k[2] is not None})
            if got_cmp != want_cmp:
                common.fail(f"{capture.name}: inner flows differ from tshark's\n tapflow {sorted(got_cmp.items())}\n"
                            f" tshark  {sorted(want_cmp.items())}")
            pk = stats["packets"]
            if pk["decoded"] + pk["rejected"] != pk["read"]:
                common.fail(f"{capture.name}: decoded + rejected != read: {pk}")
            if pk["rejected_by_reason"].get("not_ip", 0) < no_ip:
                common.fail(f"{capture.name}: {no_ip} tunnelled non-IP frames, rejected {pk['rejected_by_reason']}")
            print(f"{capture.name}: {sum(got_cmp.values())} inner packets in {len(got_cmp)} flows as tshark; "
                  f"tunnels {dict(tunnels)}")
            if capture == crafted_path:
                expect = {("gtp-u", 0x1001): 1, ("gtp-u", 0x1002): 1, ("gre", 42): 1, ("ip-in-ip", 0): 1,
                          ("ipv6-in-ipv4", 0): 1, ("vxlan", 77): 1, ("vxlan", 5): 1, ("vxlan", 6): 1}
                if dict(tunnels) != expect:
                    common.fail(f"crafted: tunnels {dict(tunnels)}, expected {expect}")

            check_endpoints(capture, tmp)

        # The tunnel endpoints need --decap, and only json: and the table show them.
        proc, _ = common.run_tapflow(["-r", crafted_path, "-n", "json:-", "--fields", "tunnel-src"], check=False)
        if proc.returncode != 2 or "needs --decap" not in proc.stderr:
            common.fail(f"--fields tunnel-src without --decap: exit {proc.returncode}, {proc.stderr!r}")
        proc, _ = common.run_tapflow(["-r", crafted_path, "--decap", "all", "--fields", "tunnel-src,vlan",
                                      "-n", f"file:{Path(tmp) / 'endpoints.ipfix'}", "-n", "json:-"])
        if "tunnelSourceAddress has no NetFlow or IPFIX element" not in proc.stderr:
            common.fail(f"no start-up line says IPFIX cannot carry the tunnel endpoints: {proc.stderr!r}")
        if "tunnelSourceAddress" not in proc.stdout:
            common.fail("json: does not show tunnelSourceAddress beside an IPFIX file")
        table, _ = common.run_tapflow(["-r", crafted_path, "--decap", "all", "--fields", "tunnel-src,tunnel-dst"])
        if "tunnel-src=192.0.2.2 tunnel-dst=192.0.2.1" not in table.stdout:  # VXLAN in GRE: the VTEPs
            common.fail(f"the table does not show the VTEPs of the VXLAN in GRE:\n{table.stdout}")
        print("the tunnel endpoints need --decap; IPFIX says it leaves them out; json: and the table show them")

        # Without --decap: the outer flows, as before.
        proc, stats = common.run_tapflow(["-r", crafted_path, "-n", "json:-"])
        if any("tunnel_type" in json.loads(l) for l in proc.stdout.splitlines()):
            common.fail("without --decap a record has a tunnel")

        # IPFIX: layer2SegmentId in the templates, read by tshark (UDP) and ipfixDump (file).
        ipfix = Path(tmp) / "decap.ipfix"
        common.run_tapflow(["-r", crafted_path, "--decap", "all", "-n", f"file:{ipfix}"])
        if shutil.which("ipfixDump"):
            dump = subprocess.run(["ipfixDump", "--in", str(ipfix)], capture_output=True, text=True)
            if dump.returncode != 0 or "layer2SegmentId" not in dump.stdout:
                common.fail(f"ipfixDump: exit {dump.returncode}, no layer2SegmentId: {dump.stderr[:400]}")
            vni = 0x01 << 56 | 77
            if str(vni) not in dump.stdout and hex(vni) not in dump.stdout.lower():
                common.fail(f"ipfixDump: no layer2SegmentId {vni:#x} (VXLAN 77)")
            print("ipfixDump reads layer2SegmentId")
        # The IPFIX file wrapped as UDP datagrams for tshark.
        udp_pcap = Path(tmp) / "ipfix.pcap"
        blob = ipfix.read_bytes()
        with open(udp_pcap, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            offset, i = 0, 0
            while offset < len(blob):
                length = struct.unpack("!H", blob[offset + 2:offset + 4])[0]
                frame = eth(ipv4([127, 0, 0, 1], [127, 0, 0, 1], 17, udp(40000, 4739, blob[offset:offset + length])))
                f.write(struct.pack("<IIII", 1700000000 + i, 0, len(frame), len(frame)) + frame)
                offset += length
                i += 1
        problems = common.tshark_problems(udp_pcap, ["-d", "udp.port==4739,cflow"])
        if problems:
            common.fail(f"tshark finds problems in the IPFIX messages: {problems[:5]}")
        shown = subprocess.run(["tshark", "-r", str(udp_pcap), "-n", "-d", "udp.port==4739,cflow", "-V"],
                               capture_output=True, text=True).stdout
        if "351" not in shown and "ayer2SegmentId" not in shown and "Layer 2 Segment" not in shown.title():
            common.fail("tshark does not show layer2SegmentId (351) in the templates")
        print("tshark decodes the IPFIX messages without a problem")
    print("PASS")


if __name__ == "__main__":
    main()
