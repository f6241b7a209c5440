#!/usr/bin/env python3
"""Conservation over every capture in tests/data/pcaps (malformed ones included): the packets and
octets in the exported flows equal what the decoder accepted, every rejected packet is counted
under a reason, and the IPFIX file tapflow writes is read back by real peers — tshark (no
malformed or expert-error frames, same totals) and libfixbuf's ipfixDump."""

import subprocess
import sys
import tempfile
from pathlib import Path

import common


def tshark_ipfix_totals(path):
    proc = subprocess.run(["tshark", "-r", str(path), "-n", "-T", "fields", "-e", "cflow.packets",
                           "-e", "cflow.octets"], capture_output=True, text=True)
    if proc.returncode != 0:
        common.fail(f"tshark cannot read {path}: {proc.stderr.strip()}")
    out = proc.stdout
    records = packets = octets = 0
    for line in out.splitlines():
        p, o = (line.split("\t") + [""])[:2]
        if p:
            values = [int(v) for v in p.split(",")]
            records += len(values)
            packets += sum(values)
        if o:
            octets += sum(int(v) for v in o.split(","))
    return records, packets, octets


def ipfixdump_records(path):
    """Flow data records (templates 256 and 257); the options records (reliability statistics,
    sampling) that go with the templates are not flows."""
    proc = subprocess.run(["ipfixDump", "--in", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        common.fail(f"ipfixDump failed on {path}: {proc.stderr.strip()}")
    records, in_record = 0, False
    for line in proc.stdout.splitlines():
        if line.startswith("--- data record"):
            in_record = True
        elif in_record and "tid:" in line:
            tid = int(line.split("tid:")[1].split()[0])
            records += tid in (256, 257)
            in_record = False
    return records


def main():
    common.require_tools("tshark", "ipfixDump")
    captures = common.all_captures()
    if not captures:
        common.fail(f"no captures under {common.DATA}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for capture in captures:
            name = capture.relative_to(common.DATA)
            out = Path(tmp) / "out.ipfix"
            out.unlink(missing_ok=True)
            proc, stats = common.run_tapflow(["-r", capture, "-n", f"file:{out}"], check=False)
            if proc.returncode not in (0, 1) or stats is None:
                common.fail(f"{name}: tapflow exited {proc.returncode}: {proc.stderr}")
            if proc.returncode == 1:
                errors = [l for l in proc.stderr.splitlines() if l.startswith("tapflow:")]
                if len(errors) != 1:
                    common.fail(f"{name}: exit 1 must come with exactly one error line, got {errors}")
            pk, fl = stats["packets"], stats["flows"]
            exported = stats["exporters"][0]
            if sum(pk["rejected_by_reason"].values()) != pk["rejected"]:
                common.fail(f"{name}: rejected packets not all counted by reason: {pk}")
            if pk["decoded"] + pk["rejected"] != pk["read"]:
                common.fail(f"{name}: decoded + rejected != read: {pk}")
            if fl["packets"] != pk["decoded"] or fl["octets"] != pk["decoded_octets"]:
                common.fail(f"{name}: cache totals {fl['packets']}/{fl['octets']} != decoded "
                            f"{pk['decoded']}/{pk['decoded_octets']}")
            if fl["created"] != fl["expired"] or fl["active"] != 0 or exported["records"] != fl["expired"]:
                common.fail(f"{name}: flows created {fl['created']}, expired {fl['expired']}, "
                            f"exported {exported['records']}")
            if exported["records"] == 0:
                rows.append((str(name), pk["read"], pk["decoded"], pk["rejected"], fl["created"], proc.returncode))
                continue
            records, packets, octets = tshark_ipfix_totals(out)
            if (records, packets, octets) != (exported["records"], pk["decoded"], pk["decoded_octets"]):
                common.fail(f"{name}: tshark reads {records} records / {packets} packets / {octets} "
                            f"octets from the IPFIX file; tapflow decoded {pk['decoded']} packets, "
                            f"{pk['decoded_octets']} octets in {exported['records']} records")
            problems = common.tshark_problems(out)
            if problems:
                common.fail(f"{name}: tshark flags the IPFIX export: {problems[:5]}")
            dumped = ipfixdump_records(out)
            if dumped != exported["records"]:
                common.fail(f"{name}: ipfixDump reads {dumped} records, tapflow sent {exported['records']}")
            rows.append((str(name), pk["read"], pk["decoded"], pk["rejected"], fl["created"], proc.returncode))
    print(f"{'capture':<60} {'read':>6} {'decoded':>7} {'rejected':>8} {'flows':>6} exit")
    for r in rows:
        print(f"{r[0]:<60} {r[1]:>6} {r[2]:>7} {r[3]:>8} {r[4]:>6} {r[5]}")
    print(f"conservation: {len(rows)} captures, all conserved")


if __name__ == "__main__":
    main()
