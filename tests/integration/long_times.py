#!/usr/bin/env python3
"""NetFlow v5 and v9 carry flow times as 32-bit milliseconds of sysUpTime, which wraps after 49.7
days. Inputs longer than that must still give every flow its own time: nfcapd/nfdump must show
the same first and last times (to the millisecond) in v5 and v9 as in IPFIX, which carries
absolute times, for
  - ndpi/sites.pcapng, whose packets span years;
  - wechat.pcap read twice, the second copy shifted 100 days later (editcap -t), as two -r files.

Skips (77) without nfcapd, nfdump or editcap.
"""

import subprocess
import sys
import tempfile
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
        wechat = common.DATA / "ndpi/wechat.pcap"
        later = Path(tmp) / "wechat-100-days-later.pcap"
        subprocess.run(["editcap", "-t", str(100 * 86400), str(wechat), str(later)], check=True, capture_output=True)
        check("wechat.pcap, then a copy 100 days later", [wechat, later], tmp)
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
