#!/usr/bin/env python3
"""--rotate by the flows' own clock (issue 15): a generated capture moved to 2017-06-30 23:57 UTC,
seven minutes long (so across a day and a month), converted with
  -n file:DIR/ipfix/%Y/%m/%d/flows.%H%M -n json:DIR/json/flows --rotate 60
must give files named by the capture's minutes (the JSON path, with no conversion, gets nfcapd's
.YYYYMMDDhhmm), each IPFIX file readable alone by `tapflow collect` and ipfixDump (templates in
each), every IPFIX message's export time within its file's minute and every JSON record ended
before its file's minute did, and the records across files exactly those of a run without
--rotate (flows, packets, octets). A path whose pattern is coarser than the interval is warned
about; json:- is not rotated (warned)."""

import calendar
import datetime
import json
import shutil
import struct
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import common

START = calendar.timegm((2017, 6, 30, 23, 57, 0))
GEN_START = 1_700_000_000  # bench/gen_pcap's first timestamp


def shifted_capture(tmp):
    """gen_pcap's capture with every timestamp moved by START - GEN_START."""
    raw = Path(tmp) / "gen.pcap"
    subprocess.run([common.gen_binary(), "--packets", "40000", "--flows", "4000", "--duration", "420",
                    "-o", str(raw)], check=True, capture_output=True)
    data = bytearray(raw.read_bytes())
    magic = struct.unpack_from("<I", data, 0)[0]
    order = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    offset = 24
    while offset + 16 <= len(data):
        seconds, fraction, caplen, _ = struct.unpack_from(order + "IIII", data, offset)
        struct.pack_into(order + "I", data, offset, seconds - GEN_START + START)
        offset += 16 + caplen
    out = Path(tmp) / "2017.pcap"
    out.write_bytes(bytes(data))
    return out


def ipfix_export_times(path):
    data = path.read_bytes()
    times, offset = [], 0
    while offset + 16 <= len(data):
        version, length, export_time = struct.unpack_from("!HHI", data, offset)
        if version != 10 or length < 16:
            common.fail(f"{path}: not an IPFIX message at offset {offset}")
        times.append(export_time)
        offset += length
    return times


def collect_json(path):
    proc = subprocess.run([common.tapflow_binary(), "collect", "--json", "--listen", f"file:{path}"],
                          capture_output=True, text=True)
    if proc.returncode != 0 or "0 data sets without template" not in proc.stderr:
        common.fail(f"collect cannot read {path} on its own: {proc.stderr}")
    return [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]


def flow_keys(records):
    return Counter((r["source"], r["destination"], r["source_port"], r["destination_port"], r["protocol"],
                    r["packets"], r["octets"], r["first_ms"], r["last_ms"]) for r in records)


def minute_of(name):
    """The interval start a file's name gives (YYYYMMDDhhmm at its end, or Y/m/d/flows.hhmm)."""
    return calendar.timegm(datetime.datetime.strptime(name, "%Y%m%d%H%M").timetuple())


def main():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        capture = shifted_capture(tmp)
        base = ["-r", str(capture), "--no-progress", "--inactive-timeout", "15", "--active-timeout", "60"]
        common.run_tapflow(base + ["-n", f"file:{tmp / 'all.ipfix'}", "-n", f"json:{tmp / 'all.json'}"])
        whole_ipfix = flow_keys(collect_json(tmp / "all.ipfix"))
        whole_json = flow_keys(json.loads(l) for l in (tmp / "all.json").read_text().splitlines())
        if whole_ipfix != whole_json or not whole_ipfix:
            common.fail("the run without --rotate: IPFIX and JSON records differ")

        proc, stats = common.run_tapflow(base + ["--rotate", "1m", "-n", f"file:{tmp}/ipfix/%Y/%m/%d/flows.%H%M",
                                                 "-n", f"json:{tmp}/json/flows"])
        ipfix_files = sorted((tmp / "ipfix").rglob("flows.*"))
        json_files = sorted((tmp / "json").glob("flows.*"))
        ipfix_minutes = [minute_of("".join(p.relative_to(tmp / "ipfix").parts).replace("flows.", "")) for p in ipfix_files]
        json_minutes = [minute_of(p.name.split(".")[1]) for p in json_files]
        end = START + 420  # the last packet comes just before
        for minutes, what in ((ipfix_minutes, "IPFIX"), (json_minutes, "JSON")):
            # Every minute of the capture has records (flows end all the time); the last holds the
            # flows forced out at the end, at the last packet's time.
            want = list(range(START, end, 60))
            if minutes != want:
                common.fail(f"{what} files for minutes {[datetime.datetime.utcfromtimestamp(m) for m in minutes]}, "
                            f"expected the capture's {len(want)} minutes from 2017-06-30 23:57 UTC")
        if not (tmp / "ipfix/2017/07/01/flows.0000").exists() or not (tmp / "ipfix/2017/06/30/flows.2359").exists():
            common.fail(f"expected directories per day across the month: {[str(p) for p in ipfix_files]}")

        rotated_ipfix = []
        for path, minute in zip(ipfix_files, ipfix_minutes):
            times = ipfix_export_times(path)
            if not times or any(not minute <= t < minute + 60 for t in times):
                common.fail(f"{path}: export times {sorted(set(times))} outside its minute {minute}")
            records = collect_json(path)
            if any(r["last_ms"] > (minute + 60) * 1000 for r in records):
                common.fail(f"{path}: a record that ended after its file's minute")
            rotated_ipfix += records
            if shutil.which("ipfixDump"):
                dump = subprocess.run(["ipfixDump", "--in", str(path)], capture_output=True, text=True)
                if dump.returncode != 0 or "--- template record" not in dump.stdout:
                    common.fail(f"ipfixDump cannot read {path} on its own: {dump.stderr[:300]}")
        rotated_json = []
        for path, minute in zip(json_files, json_minutes):
            records = [json.loads(l) for l in path.read_text().splitlines()]
            if not records or any(r["last_ms"] > (minute + 60) * 1000 for r in records):
                common.fail(f"{path}: empty, or a record that ended after its file's minute")
            rotated_json += records
        for got, what in ((flow_keys(rotated_ipfix), "IPFIX"), (flow_keys(rotated_json), "JSON")):
            if got != whole_ipfix:
                common.fail(f"{what}: the rotated files hold {sum(got.values())} records, the whole run "
                            f"{sum(whole_ipfix.values())}; {len(got - whole_ipfix)} not in it, "
                            f"{len(whole_ipfix - got)} missing")
        exported = [e["records"] for e in stats["exporters"]]
        if exported != [sum(whole_ipfix.values())] * 2:
            common.fail(f"--stats-json says {exported} records exported")
        packets = sum(r["packets"] for r in rotated_ipfix)
        octets = sum(r["octets"] for r in rotated_ipfix)

        proc, _ = common.run_tapflow(base + ["--rotate", "5m", "-n", f"file:{tmp}/coarse.%H", "-n", "json:-"])
        for expected in ("names consecutive intervals alike", "does not apply to json:-"):
            if expected not in proc.stderr:
                common.fail(f"no warning '{expected}': {proc.stderr}")
        print(f"--rotate 1m: {len(ipfix_files)} IPFIX and {len(json_files)} JSON files named by the capture's "
              f"minutes (2017-06-30 23:57 to 2017-07-01 00:03 UTC), each self-describing; "
              f"{len(rotated_ipfix)} records, {packets} packets, {octets} octets as without --rotate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
