#!/usr/bin/env python3
"""SIGHUP reopens file outputs (log rotation): tapflow captures UDP datagrams on the loopback of a network
namespace of our own, exporting into an IPFIX file; the test renames the file, sends SIGHUP,
lets traffic go on, then SIGTERM. Both files must be whole IPFIX files with their own templates
(ipfixDump and `tapflow collect` read them on their own), and together they hold every record
tapflow says it exported. Skips (77) when not root or namespaces are unavailable."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import common


def main():
    with common.loopback_netns("tfhup", "network namespace, packet capture") as ns:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "flows.ipfix"
            rotated = Path(tmp) / "flows.ipfix.1"
            stats_path = Path(tmp) / "stats.json"
            probe = subprocess.Popen(
                ["ip", "netns", "exec", ns, common.tapflow_binary(), "-i", "lo", "-n", f"file:{out}",
                 "--active-timeout", "1", "--inactive-timeout", "1", "--control", "none",
                 "--stats-json", str(stats_path), "--threads", "1"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            ping = subprocess.Popen(["ip", "netns", "exec", ns, "python3", "-c", common.UDP_DISCARD_SENDER],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(3)
                if probe.poll() is not None:
                    common.fail(f"tapflow exited early: {probe.stderr.read()}")
                os.rename(out, rotated)
                probe.send_signal(signal.SIGHUP)
                time.sleep(3)
                if probe.poll() is not None:
                    common.fail(f"SIGHUP stopped tapflow: {probe.stderr.read()}")
            finally:
                ping.terminate()
                ping.wait()
                probe.send_signal(signal.SIGTERM)
                _, err = probe.communicate(timeout=30)
            if probe.returncode != 0:
                common.fail(f"tapflow exited {probe.returncode}: {err}")
            if "reopening file outputs" not in err:
                common.fail(f"no log line for the SIGHUP: {err}")
            stats = json.loads(stats_path.read_text())
            exported = stats["exporters"][0]["records"]
            if not out.exists() or not rotated.exists():
                common.fail(f"expected both {rotated.name} and a new {out.name}")
            before, after = common.collect_file_records(rotated), common.collect_file_records(out)
            if before == 0 or after == 0 or before + after != exported:
                common.fail(f"records before rotation {before} + after {after} != exported {exported}")
            if shutil.which("ipfixDump"):
                for path in (rotated, out):
                    proc = subprocess.run(["ipfixDump", "--in", str(path)], capture_output=True, text=True)
                    if proc.returncode != 0 or "--- template record" not in proc.stdout:
                        common.fail(f"ipfixDump cannot read {path} on its own: {proc.stderr[:300]}")
            print(f"SIGHUP: {before} records in the rotated file, {after} in the new one, {exported} exported; "
                  f"both self-describing")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
