#!/usr/bin/env python3
"""Faults tapflow must survive with a clear word and the right exit code:
  - collector absent: UDP export to a closed loopback port; tapflow finishes, counts every record
    lost (the datagram before each ICMP refusal too) in --stats-json, says so in one line and in
    one counting the loss, and exits 4;
  - disk full under a file: destination (a 64 KiB tmpfs when mounting works, else /dev/full): the
    errors are counted and logged once, a second destination (nfcapd over UDP) still receives
    every flow, and the exit status is 4;
  - a capture cut in the middle of a record: one error line naming the file, exit 1, and every flow
    built from the records before the cut is exported (same records as the capture cut cleanly at
    the last whole record);
  - unreadable files (missing, a directory, not a capture, no permission when not root): one error
    line naming the file, exit 1, and the flows of the files read before it are still exported;
  - bad arguments: exit 2 with a one-line message;
  - a symbolic link another user made is not followed by file: or --stats-json.
"""

import contextlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import common


def error_lines(proc):
    return [l for l in proc.stderr.splitlines() if l.startswith("tapflow:")]


def collect_lines(path):
    out = subprocess.run([common.tapflow_binary(), "collect", "--listen", f"file:{path}"],
                         capture_output=True, text=True, check=True).stdout
    return sorted(out.splitlines())


def gen_capture(tmp):
    gen = common.gen_binary()
    path = Path(tmp) / "gen.pcap"
    subprocess.run([gen, "--packets", "100000", "--flows", "20000", "--seed", "5", "-o", str(path)],
                   check=True)
    return path


def collector_absent():
    port = common.free_udp_port()  # bound then closed: nothing listens there
    proc, stats = common.run_tapflow(["-r", common.DATA / "ndpi/wechat.pcap", "-n", f"udp://127.0.0.1:{port}"],
                                     check=False)
    exporter = stats["exporters"][0] if stats else {}
    if proc.returncode != 4:
        common.fail(f"collector absent: exit {proc.returncode}, not 4 (records lost): {proc.stderr}")
    # Every datagram went nowhere: each ICMP refusal also reveals the loss of the one before it,
    # so every record is counted (only about half were when the previous datagram was missed).
    if exporter.get("records_unsent") != exporter.get("records") or exporter.get("send_errors") != exporter.get("messages"):
        common.fail(f"collector absent: not every record counted lost: {exporter}")
    errors = error_lines(proc)
    if len(errors) != 2 or f"127.0.0.1:{port}" not in errors[0] or "did not reach" not in errors[1]:
        common.fail(f"collector absent: expected a line naming the destination and one counting the loss, got {errors}")
    print(f"collector absent: exit 4, {exporter['records_unsent']} of {exporter['records']} records counted lost: "
          f"{errors[0]} / {errors[1]}")


@contextlib.contextmanager
def full_file_destination(tmp):
    """A file: destination on a full device: a 64 KiB tmpfs if this process may mount, else /dev/full."""
    mount_point = Path(tmp) / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                             capture_output=True).returncode == 0
    try:
        yield (mount_point / "out.ipfix") if mounted else Path("/dev/full"), mounted
    finally:
        if mounted:
            subprocess.run(["umount", str(mount_point)], check=False)


def disk_full(tmp):
    if shutil.which("nfcapd") is None or shutil.which("nfdump") is None:
        print("disk full: SKIPPED (nfcapd/nfdump missing)")
        return
    capture = gen_capture(tmp)
    port = common.free_udp_port()
    nfdir = Path(tmp) / "nfcapd"
    nfdir.mkdir()
    with full_file_destination(tmp) as (target, mounted):
        with common.nfcapd(port, nfdir):
            proc, stats = common.run_tapflow(["-r", capture, "-n", f"file:{target}",
                                              "-n", f"udp://127.0.0.1:{port}"], check=False)
        where = "64 KiB tmpfs" if mounted else "/dev/full"
        if proc.returncode != 4 or stats is None:
            common.fail(f"disk full ({where}): exit {proc.returncode}, not 4 (records lost): {proc.stderr}")
        file_exp, udp_exp = stats["exporters"]
        if file_exp["send_errors"] == 0 or file_exp["records_unsent"] == 0:
            common.fail(f"disk full ({where}): no write errors counted: {file_exp}")
        errors = error_lines(proc)
        if len(errors) != 2 or str(target) not in errors[0] or "did not reach file:" not in errors[1]:
            common.fail(f"disk full ({where}): expected a line naming {target} and one counting the loss, got {errors}")
        if mounted and target.stat().st_size > 64 * 1024:
            common.fail(f"disk full: {target} is larger than its file system")
    flows = common.nfdump_flows(nfdir)
    expired = stats["flows"]["expired"]
    packets = sum(int(f["ipkt"]) for f in flows)
    if udp_exp["send_errors"] != 0 or len(flows) != expired or packets != stats["packets"]["decoded"]:
        common.fail(f"disk full ({where}): nfcapd got {len(flows)} flows / {packets} packets, tapflow "
                    f"expired {expired} flows of {stats['packets']['decoded']} packets ({udp_exp})")
    print(f"disk full ({where}): {file_exp['send_errors']} write errors counted, one line: {errors[0]}; "
          f"nfcapd still received all {len(flows)} flows")


def pcap_record_offsets(data):
    """Offsets of the records of a little- or big-endian classic pcap file."""
    e = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    offsets, off = [], 24
    while off + 16 <= len(data):
        offsets.append(off)
        off += 16 + struct.unpack(e + "I", data[off + 8:off + 12])[0]
    return offsets


def truncated_capture(tmp):
    source = common.DATA / "zeek/wikipedia.pcap"
    data = source.read_bytes()
    offsets = pcap_record_offsets(data)
    k = len(offsets) // 2
    whole = Path(tmp) / "whole-records.pcap"
    whole.write_bytes(data[:offsets[k]])
    for label, cut_at in (("in a record header", offsets[k] + 7),
                          ("in a record's data", (offsets[k] + 16 + offsets[k + 1]) // 2)):
        cut = Path(tmp) / "cut.pcap"
        cut.write_bytes(data[:cut_at])
        out_cut, out_whole = Path(tmp) / "cut.ipfix", Path(tmp) / "whole.ipfix"
        proc, stats = common.run_tapflow(["-r", cut, "-n", f"file:{out_cut}"], check=False)
        ref_proc, ref_stats = common.run_tapflow(["-r", whole, "-n", f"file:{out_whole}"])
        errors = error_lines(proc)
        if proc.returncode != 1 or len(errors) != 1 or str(cut) not in errors[0]:
            common.fail(f"truncated {label}: exit {proc.returncode}, error lines {errors}; expected exit 1 "
                        f"and one line naming {cut}")
        if stats["packets"]["read"] != k or stats["packets"] != ref_stats["packets"]:
            common.fail(f"truncated {label}: read {stats['packets']}, the {k} whole records give "
                        f"{ref_stats['packets']}")
        if stats["flows"]["created"] != stats["exporters"][0]["records"]:
            common.fail(f"truncated {label}: {stats['flows']['created']} flows built, "
                        f"{stats['exporters'][0]['records']} exported")
        got, want = collect_lines(out_cut), collect_lines(out_whole)
        if got != want or not want:
            common.fail(f"truncated {label}: the exported records differ from those of the {k} whole "
                        f"records ({len(got)} vs {len(want)})")
        print(f"truncated {label}: exit 1, one line: {errors[0]}; all {len(got)} flows of the {k} "
              f"records before the cut exported")


def unreadable_files(tmp):
    not_a_capture = Path(tmp) / "notes.txt"
    not_a_capture.write_text("not a capture\n" * 10)
    cases = [("missing", Path(tmp) / "missing.pcap"), ("a directory", Path(tmp)),
             ("not a capture", not_a_capture)]
    if os.geteuid() != 0:
        no_permission = Path(tmp) / "secret.pcap"
        shutil.copy(common.DATA / "ndpi/wechat.pcap", no_permission)
        no_permission.chmod(0)
        cases.append(("without permission", no_permission))
    good = common.DATA / "ndpi/wechat.pcap"
    _, good_stats = common.run_tapflow(["-r", good, "-n", "file:/dev/null"])
    for label, path in cases:
        proc, stats = common.run_tapflow(["-r", good, "-r", path, "-n", "file:/dev/null"], check=False)
        errors = error_lines(proc)
        if proc.returncode != 1 or len(errors) != 1 or str(path) not in errors[0]:
            common.fail(f"unreadable file ({label}): exit {proc.returncode}, error lines {errors}; "
                        f"expected exit 1 and one line naming {path}")
        if stats is None or stats["exporters"][0]["records"] != good_stats["exporters"][0]["records"]:
            common.fail(f"unreadable file ({label}): the flows of the file before it were not all exported")
        print(f"unreadable file ({label}): exit 1, one line: {errors[0]}")


def nothing_readable():
    """Only missing files: their error lines alone, no summary of zeros burying them."""
    proc = subprocess.run([common.tapflow_binary(), "-r", "/nonexistent/a.pcap", "-r", "/nonexistent/b.pcap"],
                          capture_output=True, text=True, timeout=30)
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    if proc.returncode != 1 or len(lines) != 2 or any("a.pcap" not in l and "b.pcap" not in l for l in lines):
        common.fail(f"only missing files: exit {proc.returncode}, stderr {lines}; expected exit 1 and their two lines")
    print(f"only missing files: exit 1, two lines: {lines[0]}")


def v5_names_ipv6():
    """v5 cannot carry IPv6: the summary says IPv6 and what to use instead."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        proc, stats = common.run_tapflow(["-r", common.DATA / "ndpi/wechat.pcap", "-v", "5",
                                          "-n", f"udp://127.0.0.1:{sink.getsockname()[1]}"], check=False)
    if "IPv6 records not exportable in NetFlow v5 (use -v 9 or -v 10)" not in proc.stderr:
        common.fail(f"v5 with IPv6: the summary does not name IPv6 and the way out: {proc.stderr}")
    print(f"v5 with IPv6: {stats['exporters'][0]['unexportable']} records, named as IPv6 with -v 9 / -v 10 suggested")


def bad_arguments():
    capture = str(common.DATA / "ndpi/wechat.pcap")
    cases = [["--no-such-option"], ["-r"], ["-r", capture, "--mtu", "100"],
             ["-r", capture, "--cache-size", "many"], ["-r", capture, "--no-progress=99999999999999999999999"], ["-r", capture, "-n", "http://1.2.3.4:5"],
             ["-r", capture, "-n", "udp://host:99999"], ["-r", capture, "-v", "7"], [],
             ["-r", capture, "--metrics", "9464"],  # a bad argument, found late: still 2
             ["-i", "lo", "-6"]]  # an unknown option after -i, not a capture filter
    for args in cases:
        proc = subprocess.run([common.tapflow_binary(), *args], capture_output=True, text=True, timeout=30)
        lines = [l for l in proc.stderr.splitlines() if l.strip()]
        if proc.returncode != 2 or len(lines) != 1 or proc.stdout:
            common.fail(f"tapflow {' '.join(args)}: exit {proc.returncode}, stderr {lines}, stdout "
                        f"{proc.stdout[:200]!r}; expected exit 2 and one line")
        print(f"bad arguments {' '.join(args) or '(none)'}: exit 2: {lines[0]}")
    # The message says what is wrong (issue 16), one line, exit 2.
    said = [(["-n", "::1:2055"], "an IPv6 address needs brackets: udp://[::1]:2055"),
            (["-n", "udp://host"], "missing port: expected HOST:PORT"),
            (["-n", "udp://host:70000"], "port 70000 is out of range (0-65535)"),
            (["-n", "quic://host:1"], "unknown scheme 'quic://'"),
            (["-n", "host:no-such-service"], "unknown service 'no-such-service' for udp"),
            (["--inactive-timeout", "1x"], "'1x': expected seconds or a duration like 90s, 15m, 1h30m"),
            (["--active-timeout", "1m30"], "expected seconds or a duration like 90s, 15m, 1h30m"),
            (["--template-refresh", "2d"], "'2d' is out of range: 1s to 1d"),
            # softflowd's letters that do not map answer with tapflow's spelling.
            (["-T", "full"], "tapflow has no -T; flows are tracked by the full 5-tuple plus ToS and interface"),
            (["-t", "tcp=300"], "tapflow has one inactive timeout for every protocol (--inactive-timeout"),
            (["-P", "tcp"], "the transport is in the export URL")]
    for args, expected in said:
        args = ["-r", capture, *args]
        proc = subprocess.run([common.tapflow_binary(), *args], capture_output=True, text=True, timeout=30)
        lines = [l for l in proc.stderr.splitlines() if l.strip()]
        if proc.returncode != 2 or len(lines) != 1 or expected not in lines[0]:
            common.fail(f"tapflow {' '.join(args)}: exit {proc.returncode}, stderr {lines}; expected exit 2 "
                        f"and one line saying {expected!r}")
        print(f"bad argument {' '.join(args[2:])}: exit 2: {lines[0]}")
    # softflowd's letters that map onto tapflow options, and -n with a comma list.
    proc = subprocess.run([common.tapflow_binary(), "-r", capture, "-d", "-m", "5000", "-t", "maxlife=10m",
                           "-t", "general=30", "-n", "file:/dev/null", "--no-progress", "--stats-json", "-"],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 or json.loads(proc.stdout)["flows"]["cache_capacity"] != 5000:
        common.fail(f"softflowd letters -d -m -t: exit {proc.returncode}: {proc.stderr}")
    # Durations with units are accepted wherever seconds are.
    proc = subprocess.run([common.tapflow_binary(), "-r", capture, "-n", "file:/dev/null", "--no-progress",
                           "--inactive-timeout", "1m", "--active-timeout", "1h30m", "--template-refresh", "90s"],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        common.fail(f"durations with units: exit {proc.returncode}: {proc.stderr}")


def options_without_effect():
    """An option that does nothing in the chosen mode gives one warning line each (issue 16) and the
    run goes on; a malformed ctl request is refused before connecting, exit 2 with the usage."""
    capture = str(common.DATA / "ndpi/wechat.pcap")
    cases = [(["--engine-id", "3", "--engine-type", "1"],
              ["--engine-type sets a NetFlow v5 header field; ignored with IPFIX (-v 10)",
               "--engine-id sets a NetFlow v5 header field; ignored with IPFIX (-v 10)"]),
             (["-v", "9", "--engine-id", "3"], ["--engine-id sets a NetFlow v5 header field; ignored with NetFlow v9 (-v 9)"]),
             (["--snaplen", "100", "--no-promisc", "--buffer-size", "8", "--immediate", "--pidfile", "/nonexistent/pid"],
              [f"{o} applies to live capture (-i); ignored with -r" for o in
               ("--snaplen", "--no-promisc", "--buffer-size", "--immediate", "--pidfile")]),
             (["--scale-sampled"], ["--scale-sampled does nothing without sampling (-s N); ignored"]),
             (["-s", "10", "--scale-sampled"], [])]
    for args, expected in cases:
        proc = subprocess.run([common.tapflow_binary(), "-r", capture, "--no-progress",  # the table: any -v
                               "--log-level", "warning", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, timeout=60)
        warnings = [l.removeprefix("tapflow: warning: ") for l in proc.stderr.splitlines()]
        if proc.returncode != 0 or warnings != expected:
            common.fail(f"tapflow {' '.join(args)}: exit {proc.returncode}, warnings {warnings}, expected {expected}")
    v5 = subprocess.run([common.tapflow_binary(), "-r", capture, "-v", "5", "--no-progress", "--log-level", "warning",
                         "--observation-domain", "4", "--template-refresh", "1m", "--template-refresh-packets", "5"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60)
    for option in ("--observation-domain is a NetFlow v9/IPFIX header field; ignored with NetFlow v5 (-v 5)",
                   "--template-refresh does nothing with NetFlow v5 (-v 5), which has no templates; ignored",
                   "--template-refresh-packets does nothing with NetFlow v5 (-v 5), which has no templates"):
        if option not in v5.stderr:
            common.fail(f"-v 5: no warning {option!r}: {v5.stderr}")
    for words, expected in [(["flows", "-1"], "'flows -1': N is a whole number from 1"),
                            (["stats", "extra"], "'stats' takes no argument, got 'extra'")]:
        proc = subprocess.run([common.tapflow_binary(), "ctl", "-s", "/nonexistent/ctl", *words],
                              capture_output=True, text=True, timeout=30)
        lines = proc.stderr.splitlines()
        if proc.returncode != 2 or len(lines) != 2 or expected not in lines[0] or not lines[1].startswith("usage: tapflow ctl"):
            common.fail(f"tapflow ctl {' '.join(words)}: exit {proc.returncode}, {lines}; expected exit 2, the error and the usage")
    print("options without effect: one warning each; ctl flows -1 and ctl stats extra refused (exit 2, usage)")


def capture_permission_first():
    """As a user who may not capture, -i says so first (run as root or give CAP_NET_RAW), not the
    control socket's EACCES on /run (issue 16)."""
    if os.geteuid() != 0:
        print("capture permission: skipped (needs root to become nobody)")
        return
    def become_nobody():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    proc = subprocess.run([common.tapflow_binary(), "-i", "lo", "-n", "127.0.0.1:9"], capture_output=True, text=True,
                          timeout=30, preexec_fn=become_nobody)
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    if proc.returncode != 1 or not lines or "CAP_NET_RAW" not in lines[0] or "control socket" in proc.stderr:
        common.fail(f"-i lo as nobody: exit {proc.returncode}, {lines}; expected exit 1 and the capture permission first")
    print(f"capture permission: {lines[0]}")


def symlinks_of_other_users(tmp):
    """file: and --stats-json as root never follow a link another user made (issue 13 #14): with
    fs.protected_symlinks off, a link in /tmp would make root overwrite any file. Root's own links
    (/dev/stdout) are still followed."""
    if os.geteuid() != 0:
        print("symlinks: skipped (needs root to give a link another owner)")
        return
    victim = Path(tmp) / "victim"
    victim.write_text("precious\n")
    link = Path(tmp) / "link"
    os.symlink(victim, link)
    os.lchown(link, 65534, 65534)  # nobody's link
    proc, _ = common.run_tapflow(["-r", common.DATA / "ndpi/wechat.pcap", "-n", f"file:{link}"], check=False)
    if proc.returncode != 2 or "symbolic link owned by another user" not in proc.stderr:
        common.fail(f"file: through another user's link: exit {proc.returncode}: {proc.stderr}")
    cmd = [common.tapflow_binary(), "--no-progress", "-r", common.DATA / "ndpi/wechat.pcap", "-n", "file:/dev/null",
           "--stats-json", link]
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if proc.returncode != 1 or "symbolic link owned by another user" not in proc.stderr:
        common.fail(f"--stats-json through another user's link: exit {proc.returncode}: {proc.stderr}")
    if victim.read_text() != "precious\n":
        common.fail("the link's target was overwritten")
    own = Path(tmp) / "own-link"
    os.symlink(Path(tmp) / "own-target", own)
    common.run_tapflow(["-r", common.DATA / "ndpi/wechat.pcap", "-n", f"file:{own}"])
    if (Path(tmp) / "own-target").stat().st_size == 0:
        common.fail("root's own link was not followed")
    print("symlinks: another user's link refused for file: (exit 2) and --stats-json (exit 1); root's own followed")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        collector_absent()
        disk_full(tmp)
        truncated_capture(tmp)
        unreadable_files(tmp)
        bad_arguments()
        nothing_readable()
        v5_names_ipv6()
        options_without_effect()
        capture_permission_first()
        symlinks_of_other_users(tmp)


if __name__ == "__main__":
    main()
