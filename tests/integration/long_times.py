#!/usr/bin/env python3
"""NetFlow v5 and v9 carry flow times as 32-bit milliseconds of sysUpTime, which wraps after 49.7
days. Inputs longer than that must still give every flow its own time: nfcapd/nfdump must show
the same first and last times (to the millisecond) in v5 and v9 as in IPFIX, which carries
absolute times, for
  - ndpi/sites.pcapng, whose packets span years;
  - wechat.pcap read twice, the second copy shifted 100 days later (editcap -t), as two -r files.

Skips (77) without nfcapd, nfdump or editcap.
"""

import datetime
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common


def flows_at_nfcapd(inputs, version, tmp):
    port = common.free_udp_port()
    directory = Path(tmp) / f"v{version}-{port}"
    directory.mkdir()
    with common.nfcapd(port, directory):
        cmd = [common.tapflow_binary(), "--no-progress", "-n", f"udp://127.0.0.1:{port}", "-v", str(version)]
        for i in inputs:
            cmd += ["-r", str(i)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            common.fail(f"tapflow -v {version}: exit {out.returncode}: {out.stderr}")
    rows = {}
    for f in common.nfdump_flows(directory):
        if version == 5 and ":" in f["sa"]:
            continue
        key = (f["pr"], f["sa"], f["sp"], f["da"], f["dp"], f["ipkt"], f["ibyt"])
        rows.setdefault(key, []).append((f["ts"], f["te"]))
    return {k: sorted(v) for k, v in rows.items()}


def rows_at_nfacctd(inputs, version, tmp):
    """pmacct's nfacctd (print plugin, CSV), aggregated on the 5-tuple and both timestamps."""
    with common.nfacctd_print(tmp, "src_host,dst_host,src_port,dst_port,proto,timestamp_start,timestamp_end",
                              pipe_size=16000000, cache_entries=16411, extra="timestamps_secs: false") as (port, rows):
        cmd = [common.tapflow_binary(), "--no-progress", "-n", f"udp://127.0.0.1:{port}", "-v", str(version)]
        for i in inputs:
            cmd += ["-r", str(i)]
        subprocess.run(cmd, capture_output=True, check=False)

    def when(t):
        return datetime.datetime.fromisoformat(t).replace(tzinfo=datetime.timezone.utc).timestamp()
    return [((r["SRC_IP"], r["DST_IP"], r["SRC_PORT"], r["DST_PORT"], r["PROTOCOL"]), when(r["TIMESTAMP_START"]),
             when(r["TIMESTAMP_END"]), int(r["PACKETS"])) for r in rows]


def check_pmacct(name, inputs, tmp):
    """nfacctd: every v5/v9 row starts and ends within a second of an IPFIX row of the same flow
    (v9's header has whole seconds only, so pmacct's v9 times round), and the packets add up."""
    ipfix = rows_at_nfacctd(inputs, 10, tmp)
    by_key = {}
    for key, start, end, _ in ipfix:
        by_key.setdefault(key, []).append((start, end))
    for version in (9, 5):
        rows = rows_at_nfacctd(inputs, version, tmp)
        want_packets = sum(p for k, *_, p in ipfix if version != 5 or ":" not in k[0])
        off = [r for r in rows if not any(abs(r[1] - s) <= 1 and abs(r[2] - e) <= 1 for s, e in by_key.get(r[0], []))]
        if not rows or off or sum(r[3] for r in rows) != want_packets:
            common.fail(f"{name}: nfacctd v{version}: {len(off)} of {len(rows)} rows with no IPFIX flow within 1 s "
                        f"(e.g. {off[:2]}), packets {sum(r[3] for r in rows)} of {want_packets}")
        print(f"  {name}: nfacctd v{version}: all {len(rows)} rows within a second of IPFIX's times, "
              f"{want_packets} packets", flush=True)


def check(name, inputs, tmp):
    ipfix = flows_at_nfcapd(inputs, 10, tmp)
    span = sorted(t for times in ipfix.values() for pair in times for t in pair)
    for version in (9, 5):
        got = flows_at_nfcapd(inputs, version, tmp)
        want = {k: v for k, v in ipfix.items() if version != 5 or ":" not in k[1]}
        if got != want:
            wrong = [(k, want.get(k), got.get(k)) for k in sorted(set(want) | set(got)) if want.get(k) != got.get(k)]
            common.fail(f"{name}: v{version} times differ from IPFIX's for {len(wrong)} flows, e.g. {wrong[:3]}")
        print(f"  {name}: v{version} gives the same {sum(len(v) for v in got.values())} flows with the same "
              f"first/last times as IPFIX ({span[0]} .. {span[-1]})", flush=True)


def main():
    common.require_tools("nfcapd", "nfdump", "editcap")
    with tempfile.TemporaryDirectory(prefix="tapflow-long-") as tmp:
        check("sites.pcapng (years of packets)", [common.DATA / "ndpi/sites.pcapng"], tmp)
        if shutil.which("nfacctd"):
            check_pmacct("sites.pcapng", [common.DATA / "ndpi/sites.pcapng"], tmp)
        wechat = common.DATA / "ndpi/wechat.pcap"
        later = Path(tmp) / "wechat-100-days-later.pcap"
        subprocess.run(["editcap", "-t", str(100 * 86400), str(wechat), str(later)], check=True, capture_output=True)
        check("wechat.pcap, then a copy 100 days later", [wechat, later], tmp)
        if shutil.which("nfacctd"):
            check_pmacct("wechat.pcap + 100 days", [wechat, later], tmp)
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
