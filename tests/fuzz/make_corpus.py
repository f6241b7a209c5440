#!/usr/bin/env python3
"""Builds the seed corpora of the fuzz targets from the test captures (run from anywhere):
  tests/fuzz/corpus/fuzz_decoder/          frames of tests/data/pcaps, each prefixed with one byte
                                           that selects its link type the way fuzz_decoder reads it
  tests/fuzz/corpus/fuzz_message_decoder/  IPFIX messages tapflow sends for a few captures
                                           (uses build/tapflow, or --tapflow=PATH)
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tapflow", default=str(ROOT / "build" / "tapflow"))
    args = parser.parse_args()
    print(f"fuzz_decoder: {decoder_corpus()} seeds")
    print(f"fuzz_message_decoder: {message_corpus(args.tapflow)} seeds")


if __name__ == "__main__":
    sys.exit(main())
