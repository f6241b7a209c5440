#!/usr/bin/env python3
"""N threads give the same flow records as 1: the same capture through --threads 1, 2 and 3 must
print the same set of flows (keys, counters, times and end reasons), and conserve packets."""

import subprocess
import sys
import tempfile
from pathlib import Path

import common


def flows(capture, threads, extra=()):
    proc, stats = common.run_tapflow(["-r", capture, "--threads", threads, *extra])
    lines = sorted(proc.stdout.splitlines()[1:])
    return lines, stats


def main():
    with tempfile.TemporaryDirectory() as tmp:
        generated = Path(tmp) / "gen.pcap"
        # 10 k packets per second over 30 s of packet time, so idle and active timeouts fire too.
        subprocess.run([common.gen_binary(), "--packets", "300000", "--flows", "30000", "--rate", "10000",
                        "--seed", "7", "-o", str(generated)], check=True)
        cases = [(generated, ("--inactive-timeout", "2", "--active-timeout", "10")),
                 (common.DATA / "ndpi/gnutella.pcap", ()),
                 (common.DATA / "zeek/wikipedia.pcap", ())]
        for capture, extra in cases:
            reference, ref_stats = flows(capture, "1", extra)
            if not reference:
                common.fail(f"{capture}: no flows printed")
            for threads in ("2", "3"):
                got, stats = flows(capture, threads, extra)
                if got != reference:
                    missing = sorted(set(reference) - set(got))[:3]
                    extra_lines = sorted(set(got) - set(reference))[:3]
                    common.fail(f"{capture.name}: --threads {threads} differs from --threads 1: "
                                f"missing {missing}, extra {extra_lines}")
                if stats["flows"]["packets"] != ref_stats["packets"]["decoded"]:
                    common.fail(f"{capture.name}: --threads {threads} lost packets")
            reasons = ref_stats["flows"]["expired_by_reason"]
            print(f"{capture.name}: {len(reference)} flows identical with 1, 2 and 3 threads {reasons}")


if __name__ == "__main__":
    main()
