#!/usr/bin/env python3
"""Real-peer test: tapflow exports IPFIX over UDP to nfcapd on loopback; nfdump reads back what
nfcapd stored. Flow count, packets and bytes must equal tapflow's own totals and tshark's totals
for the capture; every flow tapflow printed must be found field by field in nfdump's output."""

import tempfile
from pathlib import Path

import common


def main():
    common.require_tools("nfcapd", "nfdump", "tshark")
    rows = []
    for name in common.CLEAN_CAPTURES:
        capture = common.DATA / name
        with tempfile.TemporaryDirectory() as tmp:
            port = common.free_udp_port()
            with common.nfcapd(port, tmp):
                proc, stats = common.run_tapflow(["-r", capture, "-n", f"udp://127.0.0.1:{port}"])
            flows = common.nfdump_flows(tmp)
        pk, fl = stats["packets"], stats["flows"]
        got = (len(flows), sum(int(f["ipkt"]) for f in flows), sum(int(f["ibyt"]) for f in flows))
        want = (fl["expired"], pk["decoded"], pk["decoded_octets"])
        if got != want:
            common.fail(f"{name}: nfdump has {got} (flows, packets, bytes), tapflow exported {want}")
        t_packets, t_octets = common.tshark_capture_totals(capture)
        if (t_packets, t_octets) != (pk["decoded"], pk["decoded_octets"]):
            common.fail(f"{name}: tshark counts {t_packets} IP packets / {t_octets} octets, tapflow "
                        f"decoded {pk['decoded']} / {pk['decoded_octets']}")
        rows.append((name, *got))
    print(f"{'capture':<40} {'flows':>6} {'packets':>8} {'bytes':>10}")
    for r in rows:
        print(f"{r[0]:<40} {r[1]:>6} {r[2]:>8} {r[3]:>10}")
    print(f"nfcapd interop: {len(rows)} captures match nfdump, tapflow and tshark")


if __name__ == "__main__":
    main()
