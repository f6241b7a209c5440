#!/usr/bin/env python3
"""--user with SIGHUP and --rotate (issue 13, item 11): tapflow captures on the loopback of a
network namespace of its own as root and drops to nobody, exporting into an IPFIX file in a
directory nobody may write and into JSON lines rotated every 2 s; its --stats-json goes to a
directory only root may write, its pid file and control socket into a directory that does not
exist yet. The test asks the control socket as root, renames the IPFIX file, sends SIGHUP, then
SIGTERM. Every record must be in the old + new IPFIX files, the statistics written, the pid file
and socket removed at exit. A second run as nobody rotates JSON lines every second into
directories it makes (%M/%S.json): every record in them. A pid file in a directory nobody
cannot write is refused at start-up with one line. Skips (77) when not root, without a user
nobody, or without namespaces."""

import json
import os
import pwd
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import common


def main():
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        print("SKIP: no user nobody")
        return common.SKIP
    with common.loopback_netns("tfusr", "network namespace, packet capture, --user") as ns:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            os.chmod(tmp, 0o755)  # root's, and nobody may pass through it
            out = tmp / "out"
            out.mkdir()
            os.chown(out, nobody.pw_uid, nobody.pw_gid)
            ipfix, renamed = out / "flows.ipfix", out / "flows.ipfix.1"
            stats_path = tmp / "stats.json"
            run = tmp / "run"
            pidfile, control = run / "tapflow.pid", run / "tapflow.ctl"
            base = ["ip", "netns", "exec", ns, common.tapflow_binary(), "-i", "lo", "--user", "nobody",
                    "--no-progress", "--active-timeout", "1", "--inactive-timeout", "1", "--threads", "1"]

            refused = subprocess.run(base + ["--control", "none", "--pidfile", str(tmp / "tapflow.pid")],
                                     capture_output=True, text=True, timeout=30)
            if refused.returncode != 2 or f"directory '{tmp}' is not writable by nobody" not in refused.stderr:
                common.fail(f"a pid file nobody cannot remove: exit {refused.returncode}, {refused.stderr}")
            if (tmp / "tapflow.pid").exists():
                common.fail("the refused run left its pid file")


            def run_probe(args, during):
                probe = subprocess.Popen(base + args + ["--stats-json", str(stats_path)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                traffic = subprocess.Popen(["ip", "netns", "exec", ns, "python3", "-c", common.UDP_DISCARD_SENDER],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    time.sleep(3)
                    if probe.poll() is not None:
                        common.fail(f"tapflow exited early: {probe.stderr.read()}")
                    during(probe)
                finally:
                    traffic.terminate()
                    traffic.wait()
                    probe.send_signal(signal.SIGTERM)
                    _, err = probe.communicate(timeout=30)
                if probe.returncode != 0:
                    common.fail(f"tapflow exited {probe.returncode}: {err}")
                if not stats_path.exists() or stats_path.stat().st_size == 0:
                    common.fail(f"--stats-json in root's directory not written: {err}")
                return json.loads(stats_path.read_text())["exporters"][0]["records"], err

            def sighup(probe):
                for path in (run, pidfile, control, ipfix):
                    if not path.exists() or path.stat().st_uid != nobody.pw_uid:
                        common.fail(f"{path} missing or not nobody's")
                ctl = subprocess.run([common.tapflow_binary(), "ctl", "-s", str(control), "--json", "stats"],
                                     capture_output=True, text=True, timeout=20)
                if ctl.returncode != 0:
                    common.fail(f"tapflow ctl as root on nobody's socket: {ctl.stderr}")
                os.rename(ipfix, renamed)
                probe.send_signal(signal.SIGHUP)
                time.sleep(3)
                if probe.poll() is not None:
                    common.fail(f"SIGHUP stopped tapflow: {probe.stderr.read()}")

            exported, err = run_probe(["-n", f"file:{ipfix}", "--control", str(control), "--pidfile", str(pidfile)],
                                      sighup)
            for leftover in (pidfile, control):
                if leftover.exists():
                    common.fail(f"{leftover} left behind at exit")
            if not ipfix.exists():
                common.fail(f"no new {ipfix.name} after SIGHUP: {err}")
            before, after = common.collect_file_records(renamed), common.collect_file_records(ipfix)
            if before == 0 or after == 0 or before + after != exported:
                common.fail(f"IPFIX records before SIGHUP {before} + after {after} != exported {exported}")

            stats_path.unlink()
            json_exported, err = run_probe(["-n", f"json:{out}/json/%M/%S.json", "--rotate", "1", "--control", "none"],
                                           lambda probe: time.sleep(1))
            json_files = sorted((out / "json").rglob("*.json"))
            json_records = sum(len(p.read_text().splitlines()) for p in json_files)
            if len(json_files) < 2 or json_records != json_exported:
                common.fail(f"{len(json_files)} rotated JSON files with {json_records} records, exported "
                            f"{json_exported}: {err}")
            print(f"--user nobody: {before} + {after} IPFIX records around the SIGHUP, {json_records} in "
                  f"{len(json_files)} rotated JSON files, all exported; statistics written, pid file and socket "
                  f"removed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
