#!/usr/bin/env python3
"""Builds the seed corpora of the fuzz targets from the test captures (run from anywhere):
  tests/fuzz/corpus/fuzz_decoder/          frames of tests/data/pcaps, each prefixed with one byte
                                           that selects its link type the way fuzz_decoder reads it
  tests/fuzz/corpus/fuzz_message_decoder/  IPFIX messages tapflow sends for a few captures
                                           (uses build/tapflow, or --tapflow=PATH), and NetFlow
                                           v5 and v9 messages laid out here as tapflow's encoders
                                           lay them out (templates, options, padding)
  tests/fuzz/corpus/fuzz_pcap_reader/      whole small files: the start of each classic pcap of
                                           tests/data/pcaps (a few records), in both byte orders
                                           and both precisions, cut mid-record, with a record
                                           longer than the snapshot, a few pcapng starts, whole
                                           pcapng files of several link types and sections, pcap 2.5
fuzz_url's corpus is small and hand-written, so it is kept in git as is.
Corpora stay small (< 300 files, < 1 MB per target): a few frames per capture, deduplicated."""

import argparse
import hashlib
import socket
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
# Same order as kLinkTypes in fuzz_decoder.cpp.
LINK_TYPES = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276]
FRAMES_PER_CAPTURE = 5
MAX_FILES = 280


def pcap_frames(data):
    """(link type, frame) of every record of a pcap or pcapng file; stops at a truncated record."""
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = "<" if magic[0] in (0xD4, 0x4D) else ">"
        link = struct.unpack(e + "I", data[20:24])[0] & 0xFFFF
        off = 24
        while off + 16 <= len(data):
            caplen = struct.unpack(e + "I", data[off + 8:off + 12])[0]
            frame = data[off + 16:off + 16 + caplen]
            if len(frame) < caplen:
                return
            yield link, frame
            off += 16 + caplen
    elif magic == b"\x0a\x0d\x0d\x0a":
        off, e, links = 0, "<", []
        while off + 12 <= len(data):
            if data[off:off + 4] == b"\x0a\x0d\x0d\x0a":
                e = "<" if data[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
                links = []
            btype, blen = struct.unpack(e + "II", data[off:off + 8])
            if blen < 12 or off + blen > len(data):
                return
            body = data[off + 8:off + blen - 4]
            if btype == 1:
                links.append(struct.unpack(e + "H", body[:2])[0])
            elif btype == 6 and len(body) >= 20:
                iface, _, _, caplen = struct.unpack(e + "IIII", body[:16])
                if iface < len(links):
                    yield links[iface], body[20:20 + caplen]
            elif btype == 3 and links:
                yield links[0], body[4:]
            off += blen


def write(directory, blob):
    name = hashlib.sha1(blob).hexdigest()
    (directory / name).write_bytes(blob)


def decoder_corpus():
    out = CORPUS / "fuzz_decoder"
    out.mkdir(parents=True, exist_ok=True)
    seen = set()
    captures = sorted(p for p in (ROOT / "tests" / "data" / "pcaps").rglob("*")
                      if p.suffix in (".pcap", ".pcapng"))
    for capture in captures:
        taken = 0
        for link, frame in pcap_frames(capture.read_bytes()):
            if link not in LINK_TYPES:
                continue
            blob = bytes([LINK_TYPES.index(link)]) + frame[:512]
            # One seed per distinct (link type, first 64 bytes' shape) keeps the corpus varied.
            key = (link, len(frame) // 32, frame[12:14] if link == 1 else frame[:1])
            if key in seen:
                continue
            seen.add(key)
            write(out, blob)
            taken += 1
            if taken == FRAMES_PER_CAPTURE or len(seen) >= MAX_FILES:
                break
        if len(seen) >= MAX_FILES:
            break
    return len(list(out.iterdir()))


def reader_corpus():
    """Small whole files for fuzz_pcap_reader: each classic pcap's header and first records,
    rewritten in the other byte order and precision, cut inside a record, or with a record longer
    than the snapshot; the first 2 KiB of a few pcapng files."""
    out = CORPUS / "fuzz_pcap_reader"
    out.mkdir(parents=True, exist_ok=True)
    captures = sorted(p for p in (ROOT / "tests" / "data" / "pcaps").rglob("*")
                      if p.suffix in (".pcap", ".pcapng", ".cap"))
    pcapng = 0
    for capture in captures:
        if len(list(out.iterdir())) >= 200:
            break
        data = capture.read_bytes()
        magic = data[:4]
        if magic == b"\x0a\x0d\x0d\x0a":
            if pcapng < 8:
                write(out, data[:2048])
                pcapng += 1
            continue
        if magic not in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"):
            continue
        e = "<" if magic[0] in (0xD4, 0x4D) else ">"
        ns = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        _, major, minor, zone, sigfigs, snap, link = struct.unpack(e + "IHHiIII", data[:24])
        records, off = [], 24
        while off + 16 <= len(data) and len(records) < 3:
            sec, sub, caplen, length = struct.unpack(e + "IIII", data[off:off + 16])
            frame = data[off + 16:off + 16 + min(caplen, 200)]
            records.append((sec, sub, len(frame), max(length, len(frame)), frame))
            off += 16 + caplen
        if not records:
            continue

        def build(order, nano, snaplen, recs):
            m = 0xA1B23C4D if nano else 0xA1B2C3D4
            blob = struct.pack(order + "IHHiIII", m, major, minor, zone, sigfigs, snaplen, link)
            for sec, sub, caplen, length, frame in recs:
                blob += struct.pack(order + "IIII", sec, sub, caplen, length) + frame
            return blob

        snaplen = max(snap, max(r[2] for r in records))
        write(out, build(e, ns, snaplen, records))
        write(out, build(">" if e == "<" else "<", not ns, snaplen, records))
        whole = build(e, ns, snaplen, records)
        write(out, whole[:len(whole) - 7])
        if records[0][2] > 8:
            write(out, build(e, ns, records[0][2] - 8, records))  # first record over the snapshot
    pcapng_seeds(out)
    return len(list(out.iterdir()))


def pcapng_seeds(out):
    """Whole pcapng files libpcap refuses (interfaces of different link types, sections of either
    byte order) and a pcap 2.5 file, for PcapngReader and the 2.5 path."""
    pcaps = ROOT / "tests" / "data" / "pcaps"
    for name in ("pcapng-test-generator/output_le/basic/test006.pcapng",
                 "pcapng-test-generator/output_be/difficult/test202.pcapng",
                 "pcapng-test-generator/output_le/basic/test010.pcapng"):
        write(out, (pcaps / name).read_bytes())
    write(out, (pcaps / "zeek/ldap/gap-data-missing.pcapng").read_bytes()[:6000])
    v25 = bytearray((pcaps / "tcpdump/LINKTYPE_RAW_ipv4.pcap").read_bytes())
    v25[6:8] = b"\x05\x00" if v25[0] == 0xD4 else b"\x00\x05"
    write(out, bytes(v25))


def message_corpus(tapflow):
    """IPFIX messages tapflow sends over UDP with --mtu 576 (small ones, so the fuzzer mutates
    quickly), each seed the template message followed by one data message."""
    out = CORPUS / "fuzz_message_decoder"
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for capture in ("ndpi/wechat.pcap", "zeek/ipv6-fragmented-dns.pcap", "zeek/communityid/sctp.pcap",
                    "zeek/wikipedia.pcap", "ndpi/sites.pcapng", "tcpdump/quic_handshake.pcap",
                    "tcpdump/resp_1_benchmark.pcap", "zeek/vlan-qinqinq.pcap"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            subprocess.run([tapflow, "--no-progress", "--mtu", "576", "-r",
                            str(ROOT / "tests/data/pcaps" / capture), "-n", f"udp://127.0.0.1:{port}"],
                           check=True, capture_output=True)
            sock.settimeout(0.2)
            messages = []
            try:
                while True:
                    messages.append(sock.recv(65536))
            except socket.timeout:
                pass
        templates = [m for m in messages if len(m) >= 20 and m[16:18] == b"\x00\x02"]
        data = [m for m in messages if len(m) >= 20 and struct.unpack(">H", m[16:18])[0] >= 256]
        if templates:
            write(out, templates[0])
        for message in data[:15]:
            write(out, (templates[0] if templates else b"") + message)
            count += 1
    # And the messages of the RFC 5655 file tapflow writes, cut by the length at offset 2.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.ipfix"
        subprocess.run([tapflow, "--no-progress", "-r", str(ROOT / "tests/data/pcaps/ndpi/wechat.pcap"),
                        "-n", f"file:{path}"], check=True, capture_output=True)
        blob, off = path.read_bytes(), 0
        while off + 4 <= len(blob):
            length = struct.unpack(">H", blob[off + 2:off + 4])[0]
            if length < 16:
                break
            write(out, blob[off:off + length])
            off += length
    return len(list(out.iterdir()))


def netflow_corpus():
    """NetFlow v5 and v9 seeds, and IPFIX messages with options templates and records, as
    exporter/netflow_v5_encoder.cpp, netflow_v9_encoder.cpp and ipfix_encoder.cpp write them
    (tests/netflow_encoder_test.cpp has the same layouts byte by byte)."""
    out = CORPUS / "fuzz_message_decoder"
    out.mkdir(parents=True, exist_ok=True)
    now, up = 1700000002, 1002000

    def v5(count, sampling, sequence=0):
        header = struct.pack(">HHIIIIBBH", 5, count, up + 500, now, 500000000, sequence, 1, 2, sampling)
        records = b"".join(struct.pack(">4s4s4sHHIIIIHHBBBBHHBBH", bytes([10, 0, 0, i]), bytes([192, 168, 1, 2]),
                                       bytes(4), 7, 0, 3 + i, 1000 * (i + 1), up - 2000, up - 100,
                                       40000 + i, 443, 0, 0x1b, 6, 0x28, 0, 0, 0, 0, 0)
                           for i in range(count))
        return header + records

    def flowset(set_id, body, pad=True):
        padding = (-(len(body) + 4) % 4) if pad else 0
        return struct.pack(">HH", set_id, 4 + len(body) + padding) + body + bytes(padding)

    v9_fields4 = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (5, 1), (6, 1), (2, 8), (1, 8), (22, 4),
                  (21, 4), (136, 1), (10, 4), (52, 1), (53, 1), (60, 1)]
    v9_fields6 = [(27, 16), (28, 16)] + v9_fields4[2:]

    def template(template_id, fields):
        return struct.pack(">HH", template_id, len(fields)) + b"".join(struct.pack(">HH", *f) for f in fields)

    def v9_record(i, v6=False):
        address = bytes([0x20, 1, 0xd, 0xb8] + [0] * 11 + [i]) if v6 else bytes([10, 0, 0, i])
        other = bytes([0x20, 1, 0xd, 0xb8] + [0] * 11 + [2]) if v6 else bytes([192, 168, 1, 2])
        return (address + other + struct.pack(">HHBBBQQIIBIBBB", 40000 + i, 443, 6, 0x28, 0x1b, 3, 1000,
                                                 up - 2000, up - 100, 1, 7, 60, 64, 6 if v6 else 4))

    def v9(sequence, count, body):
        return struct.pack(">HHIIII", 9, count, up, now, sequence, 5) + body

    v9_templates = flowset(0, template(256, v9_fields4) + template(257, v9_fields6))
    options_template = flowset(1, struct.pack(">HHHHHHHHH", 258, 4, 8, 1, 4, 34, 4, 35, 1))
    options_data = flowset(258, struct.pack(">IIB", 5, 100, 1))
    data4 = flowset(256, b"".join(v9_record(i) for i in range(3)))
    data6 = flowset(257, v9_record(9, True))
    first = v9(0, 2 + 1 + 1 + 3 + 1, v9_templates + options_template + options_data + data4 + data6)
    second = v9(1, 3, data4)

    def ipfix(sequence, body):
        return struct.pack(">HHIII", 10, 16 + len(body), now, sequence, 5) + body

    def ipfix_set(set_id, body):
        return struct.pack(">HH", set_id, 4 + len(body)) + body

    def options_template_record(template_id, fields):
        return struct.pack(">HHH", template_id, len(fields), 1) + b"".join(struct.pack(">HH", *f) for f in fields)

    sampling = [(302, 8), (304, 2), (305, 4), (306, 4)]
    exporting = [(144, 4), (41, 8), (42, 8), (40, 8), (166, 8), (167, 8), (168, 8), (323, 8), (323, 8)]
    metering = [(149, 4), (164, 8), (165, 8), (323, 8), (323, 8)]
    ipfix_fields = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (5, 1), (6, 2), (2, 8), (1, 8), (152, 8),
                    (153, 8), (136, 1), (10, 4), (52, 1), (53, 1), (60, 1), (302, 8)]
    ipfix_first = ipfix(0, ipfix_set(2, template(256, ipfix_fields))
                        + ipfix_set(3, options_template_record(260, sampling)
                                    + options_template_record(258, exporting)
                                    + options_template_record(259, metering))
                        + ipfix_set(260, struct.pack(">QHII", 1, 1, 1, 99))
                        + ipfix_set(258, struct.pack(">IQQQQQQQQ", 5, 0, 0, 0, 1, 3, 120, 1699999000000, now * 1000))
                        + ipfix_set(259, struct.pack(">IQQQQ", 5, 7, 900, 1699999000000, now * 1000))
                        + ipfix_set(256, bytes([10, 0, 0, 1, 192, 168, 1, 2]) + struct.pack(
                            ">HHBBHQQQQBIBBBQ", 40000, 443, 6, 0, 0x12, 3, 120, now * 1000 - 5, now * 1000, 1, 3,
                            60, 64, 4, 1)))
    seeds = [v5(2, 0x4064), v5(1, 0) + v5(3, 0x8010, 1), v5(30, 0), first, first + second,
             v9(0, 2, v9_templates) + v9(1, 1 + 1, options_template + options_data),
             ipfix_first, ipfix_first + ipfix(4, ipfix_set(256, bytes(8) + bytes(57)))]
    for seed in seeds:
        write(out, seed)
    return len(seeds)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tapflow", default=str(ROOT / "build" / "tapflow"))
    args = parser.parse_args()
    print(f"fuzz_decoder: {decoder_corpus()} seeds")
    print(f"fuzz_pcap_reader: {reader_corpus()} seeds")
    print(f"fuzz_message_decoder: {message_corpus(args.tapflow)} seeds")
    print(f"fuzz_message_decoder: {netflow_corpus()} NetFlow v5/v9 and IPFIX options seeds added")


if __name__ == "__main__":
    sys.exit(main())
