#!/usr/bin/env python3
"""--fields, --key and --biflow (issue 14) on a capture crafted here: QinQ and single-tagged
frames, an MPLS label stack, IPv6 with a flow label, fragments, a TCP connection seen from its SYN
and one seen from its SYN-ACK.
- --fields: each record's MACs, VLAN ids, MPLS labels and flow label are the first packet's as
  tshark decodes them; the fragment flags and packet lengths are the flow's.
- --key: adding vlanId splits a flow seen on two VLANs; src,dst,proto merges the ports away.
- --biflow: one record per connection, the SYN sender as source (also when the SYN-ACK came
  first), each direction with its own ToS; forward + reverse packets and octets = decoded.
- The IPFIX file with --fields and --biflow: tshark flags no frame, ipfixDump reads the reverse
  and layer-2 elements. nfcapd (v9 and IPFIX) stores the VLAN, MACs and MPLS labels; with
  --biflow, v9 gets uniflows whose totals equal the decoded ones.
- -v 5 with --fields stops at once with one line."""

import collections
import json
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import common

A_MAC, B_MAC = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload, flags_offset=0x4000, total=None, tos=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, tos, total or 20 + len(payload), 7, flags_offset, 64, proto, 0,
                    bytes(src), bytes(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def ipv6(src, dst, nxt, payload, flow_label):
    return struct.pack("!IHBB16s16s", 6 << 28 | flow_label, len(payload), nxt, 64, bytes(src), bytes(dst)) + payload


def tcp(sport, dport, flags, data=b""):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 0x50, flags, 65535, 0, 0) + data


def udp(sport, dport, data):
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def eth(dst, src, payload, ethertype=0x0800, tags=()):
    """Ethernet with 802.1Q/802.1ad tags (TPID, VID) in front of `ethertype`."""
    header = dst + src
    for tpid, vid in tags:  # dst src TPID1 TCI1 TPID2 TCI2 ethertype
        header += struct.pack("!HH", tpid, vid)
    return header + struct.pack("!H", ethertype) + payload


def mpls(labels, payload):
    out = b""
    for i, label in enumerate(labels):
        out += struct.pack("!I", label << 12 | (0x100 if i == len(labels) - 1 else 0) | 64)
    return out + payload


SYN, ACK, FIN, PSH = 0x02, 0x10, 0x01, 0x08
a, b = [10, 0, 0, 1], [10, 0, 0, 2]
c, d = [10, 1, 0, 1], [10, 1, 0, 2]
v6a, v6b = [0x20, 1, 0xd, 0xb8] + [0] * 11 + [1], [0x20, 1, 0xd, 0xb8] + [0] * 11 + [2]
QINQ = ((0x88A8, 100), (0x8100, 200))


def frames():
    """(seconds, frame) in time order."""
    f = []
    t = 1_700_000_000
    # A TCP connection on QinQ 100/200, seen from its SYN: 4 packets from a, 3 from b; b marks
    # its packets DSCP EF (ToS 0xb8), a sends ToS 0.
    conn = [(a, b, 1000, 80, SYN, b""), (b, a, 80, 1000, SYN | ACK, b""), (a, b, 1000, 80, ACK, b""),
            (a, b, 1000, 80, PSH | ACK, b"x" * 100), (b, a, 80, 1000, PSH | ACK, b"y" * 300),
            (a, b, 1000, 80, FIN | ACK, b""), (b, a, 80, 1000, FIN | ACK, b"")]
    for i, (s, dd, sp, dp, fl, data) in enumerate(conn):
        src_mac, dst_mac = (A_MAC, B_MAC) if s == a else (B_MAC, A_MAC)
        f.append((t + i, eth(dst_mac, src_mac, ipv4(s, dd, 6, tcp(sp, dp, fl, data), tos=0xb8 if s == b else 0),
                             tags=QINQ)))
    # The same UDP 5-tuple on VLAN 101 and on VLAN 102, and an answer on 101.
    f.append((t + 10, eth(B_MAC, A_MAC, ipv4(a, b, 17, udp(5000, 53, b"q" * 20)), tags=((0x8100, 101),))))
    f.append((t + 11, eth(B_MAC, A_MAC, ipv4(a, b, 17, udp(5000, 53, b"q" * 30)), tags=((0x8100, 102),))))
    f.append((t + 12, eth(A_MAC, B_MAC, ipv4(b, a, 17, udp(53, 5000, b"r" * 60)), tags=((0x8100, 101),))))
    # MPLS 16001/16002 carrying UDP, 3 packets; then a fragmented datagram (first and later fragment).
    for i in range(3):
        f.append((t + 20 + i, eth(B_MAC, A_MAC, mpls([16001, 16002], ipv4(c, d, 17, udp(7, 7, b"m" * (10 * i)))),
                                  ethertype=0x8847)))
    f.append((t + 30, eth(B_MAC, A_MAC, ipv4(c, d, 17, udp(9, 9, b"f" * 64), flags_offset=0x2000))))
    f.append((t + 31, eth(B_MAC, A_MAC, ipv4(c, d, 17, b"g" * 40, flags_offset=9))))
    # IPv6, flow label 0xabcde, a connection seen from its SYN-ACK (b answered a's unseen SYN).
    f.append((t + 40, eth(A_MAC, B_MAC, ipv6(v6b, v6a, 6, tcp(443, 2000, SYN | ACK), 0xabcde), ethertype=0x86DD)))
    f.append((t + 41, eth(B_MAC, A_MAC, ipv6(v6a, v6b, 6, tcp(2000, 443, ACK), 0x12345), ethertype=0x86DD)))
    f.append((t + 42, eth(B_MAC, A_MAC, ipv6(v6a, v6b, 6, tcp(2000, 443, PSH | ACK, b"z" * 50), 0x12345),
                          ethertype=0x86DD)))
    return f


def write_pcap(path):
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for seconds, frame in frames():
            out.write(struct.pack("<IIII", seconds, 0, len(frame), len(frame)) + frame)


def write_tap_pcapng(path):
    """The IPv4 TCP connection as an optical tap records it: a's packets on interface 0, b's on 1."""
    def block(kind, body):
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", 1, 0, 65535)) * 2
    for seconds, frame in frames()[:7]:
        interface = 0 if frame[6:12] == A_MAC else 1  # the source MAC says who sent it
        us = seconds * 1_000_000
        out += block(6, struct.pack("<IIIII", interface, us >> 32, us & 0xFFFFFFFF, len(frame), len(frame)) + frame)
    path.write_bytes(out)


def json_records(args):
    proc, stats = common.run_tapflow(args + ["-n", "json:-"])
    return [json.loads(l) for l in proc.stdout.splitlines() if l.strip()], stats


def tshark_first_packets(capture):
    """For each (src, dst, proto, sport, dport, first vlan): the first packet's MACs, VLAN ids,
    MPLS labels and IPv6 flow label as tshark decodes them."""
    fields = ["eth.src", "eth.dst", "vlan.id", "mpls.label", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
              "ipv6.flow", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "ip.proto", "ipv6.nxt"]
    # Some tshark versions join repeated fields with a backslash whatever is asked.
    cmd = ["tshark", "-r", str(capture), "-n", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=/"]
    for name in fields:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    first = {}
    for line in out.splitlines():
        col = dict(zip(fields, (line.split("\t") + [""] * len(fields))[:len(fields)]))
        src, dst = (col["ip.src"], col["ip.dst"]) if col["ip.src"] else (col["ipv6.src"], col["ipv6.dst"])
        proto = int(col["ip.proto"] or col["ipv6.nxt"])
        sport = int(col["tcp.srcport"] or col["udp.srcport"] or 0)
        dport = int(col["tcp.dstport"] or col["udp.dstport"] or 0)
        vlans = [int(v) for v in re.split(r"[/\\,]", col["vlan.id"]) if v]
        key = (src, dst, proto, sport, dport, vlans[0] if vlans else 0)
        if key in first:
            continue
        labels = [int(v) for v in re.split(r"[/\\,]", col["mpls.label"]) if v]
        first[key] = {"sourceMacAddress": col["eth.src"], "destinationMacAddress": col["eth.dst"],
                      "vlanId": vlans[0] if vlans else 0, "dot1qCustomerVlanId": vlans[1] if len(vlans) > 1 else 0,
                      "mpls": labels, "flowLabelIPv6": int(col["ipv6.flow"], 16) if col["ipv6.flow"] else None}
    return first


def flow_key(r):
    return (r["source"], r["destination"], r["protocol"], r["source_port"], r["destination_port"])


def main():
    common.require_tools("tshark")
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "record-fields.pcap"
        write_pcap(capture)
        n_frames = len(frames())
        wanted = tshark_first_packets(capture)

        # --fields: the first packet's layer-2, MPLS and IPv6 fields, as tshark decodes them.
        fields = "vlan,inner-vlan,smac,dmac,mpls,mpls2,mpls3,flow-label,frag,min-length,max-length,direction,icmp"
        records, stats = json_records(["-r", capture, "--fields", fields, "--key", "default,vlan"])
        if stats["packets"]["decoded"] != n_frames:
            common.fail(f"decoded {stats['packets']['decoded']} of {n_frames} frames: {stats['packets']}")
        checked = 0
        for r in records:
            want = wanted.get(flow_key(r) + (r["vlanId"],))
            if want is None:
                continue  # a later fragment: no ports in tshark's view
            checked += 1
            for name in ("sourceMacAddress", "destinationMacAddress", "vlanId", "dot1qCustomerVlanId"):
                if r[name] != want[name]:
                    common.fail(f"{flow_key(r)}: {name} {r[name]}, tshark says {want[name]}")
            labels = [int(r[n].split("-")[0]) for n in ("mplsTopLabelStackSection", "mplsLabelStackSection2",
                                                          "mplsLabelStackSection3")]
            if labels[:len(want["mpls"])] != want["mpls"] or any(labels[len(want["mpls"]):]):
                common.fail(f"{flow_key(r)}: MPLS labels {labels}, tshark says {want['mpls']}")
            if want["flowLabelIPv6"] is not None and r["flowLabelIPv6"] != want["flowLabelIPv6"]:
                common.fail(f"{flow_key(r)}: flow label {r['flowLabelIPv6']:#x}, tshark says {want['flowLabelIPv6']:#x}")
            if r["flowDirection"] != 255:
                common.fail(f"{flow_key(r)}: direction {r['flowDirection']} from a pcap that has none")
        if checked < 6:
            common.fail(f"only {checked} records matched tshark's flows: {records}")
        frag = [r for r in records if r["source"] == "10.1.0.1" and r["protocol"] == 17 and r["source_port"] == 0]
        first_frag = [r for r in records if r["source_port"] == 9]
        if not frag or frag[0]["fragmentFlags"] != 0x10 or not first_frag or first_frag[0]["fragmentFlags"] != 0x20:
            common.fail(f"fragment flags: later {frag}, first {first_frag}")
        mpls_flow = [r for r in records if r["source_port"] == 7]
        if not mpls_flow or (mpls_flow[0]["minimumIpTotalLength"], mpls_flow[0]["maximumIpTotalLength"]) != (28, 48):
            common.fail(f"MPLS flow lengths: {mpls_flow}")
        print(f"--fields: {checked} records carry the first packet's MACs, VLANs, labels and flow label as tshark")

        # --key: the VLAN splits the UDP 5-tuple seen on two VLANs; dropping the ports merges.
        dns = [r for r in records if r["destination_port"] == 53]
        if sorted(r["vlanId"] for r in dns) != [101, 102]:
            common.fail(f"--key default,vlan: the DNS query flows are {dns}")
        plain, _ = json_records(["-r", capture])
        if len([r for r in plain if r["destination_port"] == 53]) != 1:
            common.fail("the default key split the DNS query by VLAN")
        coarse, _ = json_records(["-r", capture, "--key", "src,dst,proto"])
        pairs = collections.Counter((r["source"], r["destination"], r["protocol"]) for r in plain)
        if len(coarse) != len(pairs) or any(r["source_port"] or r["destination_port"] for r in coarse):
            common.fail(f"--key src,dst,proto: {len(coarse)} records for {len(pairs)} address pairs")
        print(f"--key: vlanId splits 1 flow into 2; src,dst,proto gives {len(coarse)} records for {len(plain)}")

        # --biflow: one record per connection, the SYN sender first; forward + reverse = decoded.
        bi, stats = json_records(["-r", capture, "--biflow"])
        pk = sum(r["packets"] + r["reverse_packets"] for r in bi)
        oc = sum(r["octets"] + r["reverse_octets"] for r in bi)
        if (pk, oc) != (stats["packets"]["decoded"], stats["packets"]["decoded_octets"]):
            common.fail(f"--biflow: forward + reverse {pk} packets {oc} octets, decoded {stats['packets']}")
        tcp4 = [r for r in bi if r["protocol"] == 6 and ":" not in r["source"]]
        if len(tcp4) != 1 or (tcp4[0]["source"], tcp4[0]["packets"], tcp4[0]["reverse_packets"]) != ("10.0.0.1", 4, 3) \
                or tcp4[0]["biflow_direction"] != "initiator" or tcp4[0]["end_reason"] != "end of flow":
            common.fail(f"--biflow: the IPv4 connection is {tcp4}")
        # ToS is each direction's own, not part of a biflow's key.
        if (tcp4[0]["tos"], tcp4[0]["reverse_tos"]) != (0, 0xb8):
            common.fail(f"--biflow: ToS {tcp4[0]['tos']} / reverse {tcp4[0]['reverse_tos']}, sent 0 / 184")
        tcp6 = [r for r in bi if r["protocol"] == 6 and ":" in r["source"]]
        if len(tcp6) != 1 or tcp6[0]["source"] != "2001:db8::1" or tcp6[0]["source_port"] != 2000 \
                or (tcp6[0]["packets"], tcp6[0]["reverse_packets"]) != (2, 1) or tcp6[0]["biflow_direction"] != "initiator":
            common.fail(f"--biflow: the connection seen from its SYN-ACK is {tcp6}")
        dns = [r for r in bi if 53 in (r["destination_port"], r["source_port"])]
        if len(dns) != 1 or (dns[0]["packets"], dns[0]["reverse_packets"]) != (2, 1):
            common.fail(f"--biflow: the DNS exchange is {dns}")
        print(f"--biflow: {len(bi)} records for {len(plain)} uniflows; forward + reverse = decoded")

        # An optical tap: each direction on its own interface. Uniflows keep the interface; a
        # biflow pairs the two and carries each direction's, at one thread or two.
        tap = Path(tmp) / "tap.pcapng"
        write_tap_pcapng(tap)
        uni, _ = json_records(["-r", tap])
        if sorted((r["source"], r["ingress_interface"]) for r in uni) != [("10.0.0.1", 0), ("10.0.0.2", 1)]:
            common.fail(f"tap capture: uniflows {[(r['source'], r['ingress_interface']) for r in uni]}")
        for threads in ("1", "2"):
            tb, _ = json_records(["-r", tap, "--biflow", "--threads", threads])
            got = [(r["source"], r["packets"], r["reverse_packets"], r["ingress_interface"],
                    r["reverse_ingress_interface"], r["tos"], r["reverse_tos"]) for r in tb]
            if got != [("10.0.0.1", 4, 3, 0, 1, 0, 0xb8)]:
                common.fail(f"tap capture --biflow --threads {threads}: {got}")
        print("--biflow on a tap's two interfaces: one record, ingress interface 0 forward and 1 reverse")

        # IPFIX: tshark and ipfixDump read the reverse and layer-2 elements.
        ipfix = Path(tmp) / "fields.ipfix"
        common.run_tapflow(["-r", capture, "--biflow", "--fields", fields, "-n", f"file:{ipfix}"])
        problems = common.tshark_problems(ipfix)
        if problems:
            common.fail(f"tshark flags {ipfix}: {problems[:3]}")
        shown = subprocess.run(["tshark", "-r", str(ipfix), "-n", "-V"], capture_output=True, text=True).stdout
        for needle in ("Reverse", "VLAN", "MPLS"):
            if needle.lower() not in shown.lower():
                common.fail(f"tshark shows no '{needle}' in the IPFIX file")
        if shutil.which("ipfixDump"):
            dump = subprocess.run(["ipfixDump", "--in", str(ipfix)], capture_output=True, text=True)
            for needle in ("reversePacketDeltaCount", "vlanId", "sourceMacAddress", "mplsTopLabelStackSection",
                           "flowLabelIPv6", "biflowDirection"):
                if dump.returncode != 0 or needle not in dump.stdout:
                    common.fail(f"ipfixDump (exit {dump.returncode}) shows no {needle}: {dump.stderr[:300]}")
            print("IPFIX: tshark flags nothing; ipfixDump reads the reverse, VLAN, MAC, MPLS and flow label elements")

        # nfcapd: VLAN, MACs and MPLS from v9 and IPFIX; a --biflow run to v9 arrives as uniflows.
        if shutil.which("nfcapd"):
            for version in (9, 10):
                port = common.free_udp_port()
                directory = Path(tmp) / f"nfcapd{version}"
                directory.mkdir()
                with common.nfcapd(port, directory):
                    common.run_tapflow(["-r", capture, "--fields", "vlan,smac,dmac,mpls,mpls2", "-v", str(version),
                                        "-n", f"udp://127.0.0.1:{port}"])
                flows = common.nfdump_flows(directory)
                mpls_rows = [f for f in flows if f["sp"] == "7"]
                dns_rows = [f for f in flows if f["dp"] == "53"]
                if not mpls_rows or not mpls_rows[0]["mpls1"].startswith("16001") \
                        or not mpls_rows[0]["mpls2"].startswith("16002"):
                    common.fail(f"nfdump v{version}: MPLS labels {mpls_rows[:1]}")
                if not dns_rows or dns_rows[0]["svln"] != "101" or dns_rows[0]["ismc"] != "02:00:00:00:00:01" \
                        or dns_rows[0]["idmc"] != "02:00:00:00:00:02":
                    common.fail(f"nfdump v{version}: VLAN and MACs {dns_rows[:1]}")
                print(f"nfcapd v{version}: {len(flows)} flows, VLAN, MACs and MPLS labels as sent")
            port = common.free_udp_port()
            directory = Path(tmp) / "nfcapd-biflow"
            directory.mkdir()
            with common.nfcapd(port, directory):
                _, stats = common.run_tapflow(["-r", capture, "--biflow", "-v", "9", "-n", f"udp://127.0.0.1:{port}"])
            flows = common.nfdump_flows(directory)
            packets = sum(int(f["ipkt"]) for f in flows)
            if packets != stats["packets"]["decoded"] or len(flows) != len(plain):
                common.fail(f"--biflow -v 9: nfdump has {len(flows)} flows of {packets} packets, "
                            f"expected {len(plain)} uniflows of {stats['packets']['decoded']}")
            print(f"--biflow -v 9: {len(flows)} uniflows at nfcapd, every packet")
            port = common.free_udp_port()
            directory = Path(tmp) / "nfcapd-biflow-ipfix"
            directory.mkdir()
            with common.nfcapd(port, directory):
                common.run_tapflow(["-r", capture, "--biflow", "-n", f"udp://127.0.0.1:{port}"])
            flows = common.nfdump_flows(directory)
            # nfdump 1.7.1 reads RFC 5103's reverse counters as its out packets/bytes.
            inp, outp = sum(int(f["ipkt"]) for f in flows), sum(int(f["opkt"]) for f in flows)
            if len(flows) != len(bi) or inp + outp != stats["packets"]["decoded"] \
                    or outp != sum(r["reverse_packets"] for r in bi):
                common.fail(f"--biflow IPFIX at nfdump: {len(flows)} records, {inp} in + {outp} out packets; "
                            f"tapflow sent {len(bi)} biflows")
            print(f"--biflow IPFIX at nfdump 1.7.1: {len(flows)} records, {inp} in packets + {outp} out "
                  f"(the reverse counters) = decoded")

        # v5 has no field for them: one line, exit 2.
        proc, _ = common.run_tapflow(["-r", capture, "--fields", "vlan", "-v", "5", "-n", "udp://127.0.0.1:9"],
                                     check=False)
        if proc.returncode != 2 or "NetFlow v5 (-v 5) has no field for vlanId" not in proc.stderr \
                or len(proc.stderr.strip().splitlines()) != 1:
            common.fail(f"-v 5 --fields vlan: exit {proc.returncode}: {proc.stderr}")
        print("-v 5 --fields vlan: refused in one line")
    print("PASS")


if __name__ == "__main__":
    main()
