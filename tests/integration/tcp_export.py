#!/usr/bin/env python3
"""IPFIX over TCP (RFC 7011 §10.4): tapflow exports to `tapflow collect --listen tcp://` while
tshark captures the loopback stream; the collector receives every record tapflow counted, tshark
decodes the stream with no malformed or expert-error frames and the same totals. Then the
collector is absent: tapflow says so once, counts every record as unsent and still exits 0."""

import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import common

CAPTURES = ["ndpi/wechat.pcap", "zeek/wikipedia.pcap", "tcpdump/ipv6-routing-header.pcap"]


def collect_totals(text):
    records = packets = octets = 0
    for line in text.splitlines():
        m = re.search(r" packets (\d+) bytes (\d+) ", line)
        if m:
            records += 1
            packets += int(m.group(1))
            octets += int(m.group(2))
    return records, packets, octets


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    common.require_tools("tshark")
    tapflow = common.tapflow_binary()
    for name in CAPTURES:
        capture = common.DATA / name
        with tempfile.TemporaryDirectory() as tmp:
            port = free_tcp_port()
            wire = Path(tmp) / "tcp.pcapng"
            sniffer = subprocess.Popen(["tshark", "-i", "lo", "-f", f"tcp port {port}", "-w", str(wire), "-q"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            out = open(Path(tmp) / "collect.txt", "w+")
            collector = None
            try:
                deadline = time.time() + 10
                while "Capture started" not in (line := sniffer.stderr.readline()):
                    if time.time() > deadline or sniffer.poll() is not None:
                        common.fail(f"tshark did not start capturing on lo: {line}")
                # Only now: tshark can take longer than the collector's idle timeout to start on a
                # loaded machine, and the collector would be gone before tapflow connects.
                collector = subprocess.Popen([tapflow, "collect", "--listen", f"tcp://127.0.0.1:{port}",
                                              "--idle-timeout", "4000"], stdout=out, stderr=subprocess.PIPE,
                                             text=True)
                # The collector says when it listens (before that, tapflow would be refused).
                deadline = time.time() + 10
                while "listening on TCP" not in (line := collector.stderr.readline()):
                    if time.time() > deadline or collector.poll() is not None:
                        common.fail(f"collect did not start listening: {line}")
                proc, stats = common.run_tapflow(["-r", capture, "-n", f"tcp://127.0.0.1:{port}"])
                collector.wait(timeout=30)
            finally:
                if collector is not None:
                    collector.kill()
                time.sleep(0.5)
                sniffer.send_signal(signal.SIGINT)
                sniffer.wait(timeout=20)
            out.seek(0)
            got = collect_totals(out.read())
            exporter = stats["exporters"][0]
            want = (exporter["records"], stats["flows"]["packets"], stats["flows"]["octets"])
            if exporter["send_errors"] != 0 or got != want:
                common.fail(f"{name}: collect received {got} (records, packets, octets), tapflow sent {want}, "
                            f"{exporter['send_errors']} send errors")
            tshark_fields = subprocess.run(
                ["tshark", "-r", str(wire), "-n", "-d", f"tcp.port=={port},cflow", "-T", "fields",
                 "-e", "cflow.packets", "-e", "cflow.octets"], capture_output=True, text=True, check=True).stdout
            records = packets = octets = 0
            for line in tshark_fields.splitlines():
                p, o = (line.split("\t") + [""])[:2]
                if p:
                    records += len(p.split(","))
                    packets += sum(int(v) for v in p.split(","))
                if o:
                    octets += sum(int(v) for v in o.split(","))
            if (records, packets, octets) != want:
                common.fail(f"{name}: tshark decodes {(records, packets, octets)} from the TCP stream, tapflow sent {want}")
            problems = common.tshark_problems(wire, ["-d", f"tcp.port=={port},cflow"])
            if problems:
                common.fail(f"{name}: tshark flags the TCP export: {problems[:5]}")
            print(f"{name:<40} {records:>5} records {packets:>7} packets {octets:>10} octets: collect = tshark = tapflow")

    # Nobody listening: refused, logged once, every record counted unsent, exit 4 (records lost).
    port = free_tcp_port()
    proc, stats = common.run_tapflow(["-r", common.DATA / CAPTURES[0], "-n", f"tcp://127.0.0.1:{port}"],
                                     check=False)
    if proc.returncode != 4:
        common.fail(f"collector down: exit {proc.returncode}, not 4: {proc.stderr}")
    exporter = stats["exporters"][0]
    if proc.stderr.count("cannot connect") != 1:
        common.fail(f"expected one 'cannot connect' line, stderr was: {proc.stderr}")
    if exporter["records"] == 0 or exporter["send_errors"] != exporter["messages"]:
        common.fail(f"collector down: {exporter}")
    print(f"collector down: {exporter['messages']} messages / {exporter['records']} records counted unsent, one log line")


if __name__ == "__main__":
    main()
