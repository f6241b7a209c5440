#!/usr/bin/env python3
"""Signals and vanished readers during a conversion (issue 13 #2, #3, #5):
  - SIGINT/SIGTERM while reading a pipe (`-r -`) or waiting for a FIFO's writer: tapflow stops
    reading within a second, exports every flow read (an IPFIX file tapflow collect reads back),
    prints the summary, writes --stats-json and exits 3, at --threads 1 and 2;
  - `-r -` gives the same flows as `-r FILE`;
  - the table's reader goes away (`| head -1`): one error line, exit 4 (records lost), and the
    records not printed are counted (printed + not printed = flows);
  - a ctl client that hangs up before reading its answer: the conversion goes on and exports
    every flow (SIGPIPE used to kill it with status 141).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

CAPTURE = common.DATA / "ndpi/wechat.pcap"
FLOWS = 378  # in CAPTURE


def tapflow(*args):
    return [common.tapflow_binary(), "--no-progress", *[str(a) for a in args]]


def collect_count(path):
    out = subprocess.run([common.tapflow_binary(), "collect", "--listen", f"file:{path}"],
                         capture_output=True, text=True, check=True).stdout
    return len(out.splitlines())


def stop_while_reading_a_pipe(tmp, threads, sig):
    out, stats = Path(tmp) / f"pipe{threads}.ipfix", Path(tmp) / f"pipe{threads}.json"
    log = Path(tmp) / f"pipe{threads}.err"
    with open(log, "w") as err_file:
        proc = subprocess.Popen(tapflow("-r", "-", "-n", f"file:{out}", "--threads", threads, "--stats-json", stats),
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err_file)
    proc.stdin.write(CAPTURE.read_bytes())
    proc.stdin.flush()  # the writer stays: tapflow waits in read() for more
    time.sleep(0.5)
    started = time.monotonic()
    proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        common.fail(f"--threads {threads}: {sig.name} while reading a pipe: still running after 10 s")
    finally:
        proc.stdin.close()
    err = log.read_text()
    waited = time.monotonic() - started
    if proc.returncode != 3:
        common.fail(f"--threads {threads}: {sig.name} while reading a pipe: exit {proc.returncode}, not 3: {err}")
    if waited > 2:
        common.fail(f"--threads {threads}: {sig.name}: took {waited:.1f} s to stop")
    if "tapflow summary" not in err or "stopped by a signal" not in err:
        common.fail(f"--threads {threads}: no summary or no word of the stop: {err}")
    s = json.loads(stats.read_text())
    if not s["interrupted"] or s["packets"]["read"] != 1672 or s["flows"]["packets"] != 1672:
        common.fail(f"--threads {threads}: stats say {s['interrupted']=}, {s['packets']}, {s['flows']}")
    if collect_count(out) != FLOWS:
        common.fail(f"--threads {threads}: {collect_count(out)} records in the file, not {FLOWS}")
    print(f"ok: --threads {threads}: {sig.name} while reading a pipe: exit 3 after {waited:.2f} s, "
          f"{FLOWS} flows in the file")


def stop_while_waiting_for_a_fifo_writer(tmp):
    fifo = Path(tmp) / "fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen(tapflow("-r", fifo), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        common.fail("SIGTERM while opening a FIFO with no writer: still running after 10 s")
    if proc.returncode != 3:
        common.fail(f"SIGTERM while opening a FIFO: exit {proc.returncode}, not 3: {err}")
    print("ok: SIGTERM while waiting for a FIFO's writer: exit 3")


def stdin_reads_as_the_file():
    by_path = subprocess.run(tapflow("-r", CAPTURE), capture_output=True, text=True, check=True).stdout
    by_stdin = subprocess.run(tapflow("-r", "-"), input=CAPTURE.read_bytes(), capture_output=True,
                              check=True).stdout.decode()
    if sorted(by_path.splitlines()) != sorted(by_stdin.splitlines()):
        common.fail("-r - does not give the flows of -r FILE")
    print("ok: -r - gives the same flows as -r FILE")


def reader_of_the_table_goes_away(tmp):
    # More table than a pipe holds (64 KiB), so tapflow is still writing when head has gone.
    capture = Path(tmp) / "many.pcap"
    gen = common.gen_binary()
    subprocess.run([gen, "--packets", "20000", "--flows", "5000", "--seed", "9", "-o", capture], check=True,
                   capture_output=True)
    stats = Path(tmp) / "head.json"
    shell = f"{' '.join(tapflow('-r', capture, '--stats-json', stats))} | head -1"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, timeout=30)
    if proc.returncode != 4:  # records lost: not printed
        common.fail(f"| head -1: exit {proc.returncode}, not 4: {proc.stderr}")
    errors = [l for l in proc.stderr.splitlines() if l.startswith("tapflow: error")]
    if len(errors) != 1 or "cannot write the flow table" not in errors[0]:
        common.fail(f"| head -1: expected one error line about the table: {proc.stderr}")
    s = json.loads(stats.read_text())
    flows = s["flows"]["expired"]
    if s["records_printed"] + s["records_not_printed"] != flows or s["records_not_printed"] == 0:
        common.fail(f"| head -1: printed {s['records_printed']} + not printed {s['records_not_printed']} != {flows}")
    print(f"ok: | head -1: exit 4, one error line, {s['records_not_printed']} records counted as not printed")


def ctl_client_hangs_up(tmp):
    control = Path(tmp) / "ctl"
    out = Path(tmp) / "ctl.ipfix"
    proc = subprocess.Popen(tapflow("-r", "-", "-n", f"file:{out}", "--control", control),
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    data = CAPTURE.read_bytes()
    proc.stdin.write(data[: len(data) // 2])
    proc.stdin.flush()
    for _ in range(100):
        if control.exists():
            break
        time.sleep(0.05)
    for _ in range(5):  # ask for every flow, then hang up without reading a byte
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(control))
            s.sendall(b"flows 100000\n")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    time.sleep(0.3)
    try:
        _, err = proc.communicate(input=data[len(data) // 2:], timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        common.fail("ctl client hung up: the conversion did not finish")
    if proc.returncode != 0:
        common.fail(f"ctl client hung up: exit {proc.returncode}: {err.decode()}")
    if collect_count(out) != FLOWS:
        common.fail(f"ctl client hung up: {collect_count(out)} records, not {FLOWS}")
    print(f"ok: ctl clients that hang up: the conversion exits 0 with {FLOWS} flows")


def ctl_top_views(tmp):
    """ctl top N bytes ranks flows and ctl top N hosts ranks hosts, each flow counting for both its
    ends; each says so in its header (issue 16). Live on lo (a conversion answers between batches,
    not while blocked on its input): datagrams from 127.0.0.2 to .3 and .4."""
    if os.geteuid() != 0:
        print("ctl top views: skipped (live capture on lo needs root)")
        return
    control = Path(tmp) / "top.ctl"
    # Only our datagrams: other tests send on lo meanwhile.
    proc = subprocess.Popen(tapflow("-i", "lo", "-n", "file:/dev/null", "--control", control, "udp", "and",
                                    "src", "host", "127.0.0.2"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    def ctl(*words):
        out = subprocess.run([common.tapflow_binary(), "ctl", "-s", str(control), *words], capture_output=True,
                             text=True, timeout=10)
        if out.returncode != 0:
            common.fail(f"ctl {' '.join(words)}: exit {out.returncode}: {out.stdout}{out.stderr}")
        return out.stdout
    try:
        for _ in range(100):
            if control.exists():
                break
            time.sleep(0.05)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.2", 0))
            for i in range(30):
                s.sendto(b"x" * 100, ("127.0.0.3", 9))
                s.sendto(b"y" * 10, ("127.0.0.4", 9 + i % 3))
        flows = []
        for _ in range(50):
            flows = json.loads(ctl("flows", "100000", "--json"))
            if sum(f["packets"] for f in flows) >= 60:
                break
            time.sleep(0.1)
        hosts = json.loads(ctl("top", "100000", "hosts", "--json"))
        if len(flows) != 4 or [h["host"] for h in hosts] != ["127.0.0.2", "127.0.0.3", "127.0.0.4"] \
                or sum(h["octets"] for h in hosts) != 2 * sum(f["octets"] for f in flows) \
                or [h["flows"] for h in hosts] != [4, 1, 3]:
            common.fail(f"ctl top hosts: {hosts} over flows {flows}")
        text = ctl("top", "2", "hosts")
        if not text.startswith("top 2 hosts by bytes, as source or destination") or len(text.splitlines()) != 4:
            common.fail(f"ctl top 2 hosts: {text}")
        text = ctl("top", "3", "bytes")
        if not text.startswith("top 3 flows by bytes\n") or len(text.splitlines()) != 5 or "127.0.0.3" not in text.splitlines()[2]:
            common.fail(f"ctl top 3 bytes: {text}")
        if not ctl("top", "2", "hosts", "packets").startswith("top 2 hosts by packets"):
            common.fail("ctl top 2 hosts packets: header")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    print(f"ok: ctl top hosts ranks {len(hosts)} hosts over both ends of {len(flows)} flows; top bytes ranks flows")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        stop_while_reading_a_pipe(tmp, 1, signal.SIGINT)
        stop_while_reading_a_pipe(tmp, 2, signal.SIGTERM)
        stop_while_waiting_for_a_fifo_writer(tmp)
        stdin_reads_as_the_file()
        reader_of_the_table_goes_away(tmp)
        ctl_top_views(tmp)
        ctl_client_hangs_up(tmp)


if __name__ == "__main__":
    main()
