#!/usr/bin/env python3
"""Live capture end to end, on a veth pair between two network namespaces of our own.

  sender namespace                       capture namespace
  tcpreplay -i S0 ──── veth pair ────▶ C0: tapflow -i C0 -n udp://127.0.0.1:P ──▶ nfcapd (its lo)
            -i S1 ──── veth pair ────▶ C1  (second interface, for the interface-loss case)

Everything that talks to tapflow (nfcapd, `tapflow collect`, `tapflow ctl`, the metrics GET) runs
inside the capture namespace, on its own loopback: the script re-runs itself there with
`ip netns exec`, while the outer process owns the namespaces and always deletes them (and kills
anything left in them), whatever happens inside. Only this script's namespaces see the traffic.

Checks:
  - replay at a set rate (modest: zero kernel drops required), at top speed, and at top speed into
    a 1 MiB ring while tapflow is stopped (SIGSTOP), so the kernel must drop: tapflow's packets
    read + kernel drops = packets tcpreplay sent; nfcapd's flows, packets and bytes = what tapflow
    says it exported; and, when nothing was dropped, = the capture's totals as tshark counts them
    (with drops, the collector may only miss what the kernel dropped);
  - control socket: mode 0600, `ctl stats --json` and `ctl flows` before any expiry match what was
    sent, a second instance on the same socket fails with a clear message, `ctl expire` delivers
    every flow to a collector while tapflow keeps running;
  - SIGTERM in the middle of a replay: every flow tapflow created reaches the collector; SIGHUP
    (systemctl reload) leaves it running;
  - GET /metrics (urllib) answers with the counters;
  - interfaces going down, coming back, disappearing: one log line each, counted in the stats,
    capture goes on on the other interface; when the last one disappears tapflow exports every flow
    and exits 1 with a clear message.

With --rx-queues=N every case runs on AF_PACKET fanout (N sockets per interface in one
PACKET_FANOUT_HASH group, a worker each), and one more compares its records with --rx-queues 1.

Skips (77) when not root or when network namespaces are unavailable.
"""

import contextlib
import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import common

# Captures replayed from tests/data/pcaps: clean Ethernet ones (see common.CLEAN_CAPTURES), frames
# up to 8.3 KB (the veth MTU is raised to fit them).
CAPTURES = ["ndpi/wechat.pcap", "zeek/wikipedia.pcap", "ndpi/sites.pcapng", "zeek/vlan-qinqinq.pcap"]
MODEST_PPS = 4000
MTU = 9000



def run(cmd, check=True, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=check, **kw)


# ---------------------------------------------------------------------------------------------
# Outer process: namespaces and veth pairs, always cleaned up.

def outer():
    if os.geteuid() != 0:
        print("SKIP: needs root (network namespaces, veth pairs, packet capture)")
        return common.SKIP
    common.require_tools("ip", "tcpreplay", "nfcapd", "nfdump", "tshark")
    tag = f"{os.getpid() % 1000000}"
    sender, capture = f"tfl-s{tag}", f"tfl-c{tag}"
    pairs = [(f"tfls{tag}a", f"tflc{tag}a"), (f"tfls{tag}b", f"tflc{tag}b")]
    common.raise_rmem()  # net.core.rmem_max lives in the initial namespace

    # ctest stops a test that runs too long with SIGTERM: clean up then too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    created = []
    try:
        for ns in (sender, capture):
            if run(["ip", "netns", "add", ns], check=False).returncode != 0:
                print(f"SKIP: cannot create network namespace {ns}")
                return common.SKIP
            created.append(ns)
        for s_if, c_if in pairs:
            run(["ip", "link", "add", s_if, "mtu", MTU, "type", "veth", "peer", "name", c_if, "mtu", MTU])
            run(["ip", "link", "set", s_if, "netns", sender])
            run(["ip", "link", "set", c_if, "netns", capture])
            for ns, itf in ((sender, s_if), (capture, c_if)):
                # No IPv6 (no router solicitations, MLD or DAD) and no addresses: the only frames
                # on the link are the replayed ones.
                run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{itf}.disable_ipv6=1"])
                run(["ip", "-n", ns, "link", "set", itf, "up"])
        run(["ip", "-n", capture, "link", "set", "lo", "up"])
        inner = [sys.executable, __file__, "--inside", f"--sender={sender}",
                 f"--pairs={','.join(s + ':' + c for s, c in pairs)}"] + sys.argv[1:]
        return subprocess.run(["ip", "netns", "exec", capture] + inner, timeout=140).returncode
    finally:
        for ns in created:
            pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            run(["ip", "netns", "del", ns], check=False)
        # A pair whose move into a namespace failed is still here (deleting one end deletes both).
        for s_if, c_if in pairs:
            for itf in (s_if, c_if):
                if run(["ip", "link", "show", itf], check=False).returncode == 0:
                    run(["ip", "link", "del", itf], check=False)


# ---------------------------------------------------------------------------------------------
# Inner process, inside the capture namespace.

@functools.lru_cache(maxsize=None)
def tshark_totals(capture):
    """(packets, layer-3 octets) of a capture's IP packets as tshark decodes them, once each."""
    return common.tshark_capture_totals(capture)


class Env:
    def __init__(self, tmp):
        self.tmp = Path(tmp)
        self.sender = common.arg("sender")
        self.pairs = [tuple(p.split(":")) for p in common.arg("pairs").split(",")]
        self.runs = 0
        self.rx_queues = int(common.arg("rx-queues", "1"))
        # Every run on N fanout sockets per interface (--threads is then one worker per queue).
        self.extra = ["--rx-queues", str(self.rx_queues)] if self.rx_queues > 1 else []

    def replay(self, s_if, capture, pps=None, topspeed=False, loop=1):
        """tcpreplay from the sender namespace; returns the packets it sent successfully."""
        rate = ["--topspeed"] if topspeed else [f"--pps={pps}"]
        out = run(["ip", "netns", "exec", self.sender, "tcpreplay", "-q", "-i", s_if, *rate,
                   f"--loop={loop}", capture])
        text = out.stdout + out.stderr
        sent = re.search(r"Successful packets:\s+(\d+)", text)
        failed = re.search(r"Failed packets:\s+(\d+)", text)
        if not sent or (failed and int(failed.group(1)) != 0):
            common.fail(f"tcpreplay on {s_if}: {text}")
        return int(sent.group(1))


class Tapflow:
    """tapflow -i ... in the background, with a control socket and --stats-json."""

    def __init__(self, env, interfaces, exports, extra=()):
        env.runs += 1
        self.env = env
        self.control = env.tmp / f"ctl{env.runs}"
        self.stats_path = env.tmp / f"stats{env.runs}.json"
        self.stderr_path = env.tmp / f"stderr{env.runs}.txt"
        cmd = [common.tapflow_binary(), "--control", self.control, "--stats-json", self.stats_path]
        for itf in interfaces:
            cmd += ["-i", itf]
        for url in exports:
            cmd += ["-n", url]
        cmd += list(extra) + env.extra
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.DEVNULL, stderr=self.stderr)
        self.wait_ready()

    def ctl(self, *words, check=True):
        out = run([common.tapflow_binary(), "ctl", "-s", self.control, *words], check=False)
        if check and out.returncode != 0:
            common.fail(f"tapflow ctl {' '.join(words)}: exit {out.returncode}: {out.stdout}{out.stderr}")
        return out

    def stats_now(self):
        return json.loads(self.ctl("stats", "--json").stdout)

    def wait_ready(self):
        # The control socket answers once the capture is open (before that: "shutting down").
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                common.fail(f"tapflow exited {self.proc.returncode} at start: {self.log()}")
            if self.control.exists() and self.ctl("stats", "--json", check=False).returncode == 0:
                return
            time.sleep(0.05)
        common.fail("tapflow did not start capturing within 10 s")

    def wait_captured(self, expected, timeout=5):
        """Waits until tapflow has read (or the kernel dropped) `expected` packets; returns stats."""
        deadline = time.time() + timeout
        while True:
            s = self.stats_now()
            seen = s["packets"]["read"] + sum(c["dropped_kernel"] for c in s["capture"])
            if seen >= expected or time.time() > deadline:
                return s
            time.sleep(0.05)

    def stop(self, expect_status=0):
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            common.fail("tapflow did not exit within 20 s of SIGTERM")
        self.stderr.close()
        if status != expect_status:
            common.fail(f"tapflow exited {status}, expected {expect_status}: {self.log()}")
        # Every live run says in its first line what it captures and where the flows go.
        first = next((l for l in self.log().splitlines() if l.startswith("tapflow:")), "")
        if "capturing on " not in first or "exporting " not in first:
            common.fail(f"no start-up line naming the interfaces and destinations: {first!r}")
        return json.loads(self.stats_path.read_text())

    def log(self):
        if not self.stderr.closed:
            self.stderr.flush()
        return self.stderr_path.read_text()


@contextlib.contextmanager
def collector(env):
    port = common.free_udp_port()
    directory = env.tmp / f"nfcapd{port}"
    directory.mkdir()
    box = {}
    with common.nfcapd(port, directory):
        yield f"udp://127.0.0.1:{port}", box
    box["flows"] = common.nfdump_flows(directory)


def by_interface(stats):
    """The capture points merged per interface (fanout has one per queue): counters summed, the
    state and the times it went down as every queue sees them (queue 0's)."""
    out = {}
    for c in stats["capture"]:
        if c["interface"] not in out:
            out[c["interface"]] = dict(c)
            continue
        merged = out[c["interface"]]
        for key in ("received", "dropped_kernel", "dropped_interface"):
            merged[key] += c[key]
        if c["state"] != merged["state"] or c["went_down"] != merged["went_down"]:
            common.fail(f"{c['interface']}: its queues disagree: {stats['capture']}")
    return out


def totals(flows):
    return len(flows), sum(int(f["ipkt"]) for f in flows), sum(int(f["ibyt"]) for f in flows)


def check_conservation(name, stats, sent, flows, capture_totals, require_no_drops):
    """Collector = tapflow's exports; tapflow's packets + drops = sent; with no drops = tshark."""
    drops = sum(c["dropped_kernel"] + c["dropped_interface"] for c in stats["capture"])
    received = sum(c["received"] for c in stats["capture"])
    read = stats["packets"]["read"]
    got = totals(flows)
    exported = (stats["exporters"][0]["records"], stats["flows"]["packets"], stats["flows"]["octets"])
    print(f"  {name}: sent {sent}, kernel received {received}, tapflow read {read}, dropped {drops}; "
          f"collector {got[0]} flows {got[1]} packets {got[2]} bytes; tshark {capture_totals[0]} "
          f"packets {capture_totals[1]} bytes", flush=True)
    if require_no_drops and drops != 0:
        common.fail(f"{name}: {drops} packets dropped at a modest rate")
    if read + drops != sent:
        common.fail(f"{name}: tapflow read {read} + dropped {drops} != {sent} sent")
    if stats["flows"]["created"] != exported[0] or stats["flows"]["active"] != 0:
        common.fail(f"{name}: {stats['flows']['created']} flows created but {exported[0]} exported")
    if got != exported:
        common.fail(f"{name}: collector got {got}, tapflow exported (records, packets, octets) {exported}")
    tshark_packets, tshark_octets = capture_totals
    if drops == 0:
        if (got[1], got[2]) != (tshark_packets, tshark_octets):
            common.fail(f"{name}: collector {got[1]} packets {got[2]} bytes != tshark {capture_totals}")
    elif not (tshark_packets - drops <= got[1] <= tshark_packets and got[2] <= tshark_octets):
        common.fail(f"{name}: collector {got[1]} packets outside [{tshark_packets - drops}, {tshark_packets}]")


def replay_and_check(env, capture, loop, pps=None, topspeed=False, frozen=False):
    """With `frozen`, tapflow is stopped (SIGSTOP) with a 1 MiB ring during the replay, so the
    kernel must drop: the drops are reported and the totals account for them."""
    s_if, c_if = env.pairs[0]
    with collector(env) as (url, box):
        tf = Tapflow(env, [c_if], [url], ["--threads", "2"] + (["--buffer-size", "1"] if frozen else []))
        if frozen:
            tf.proc.send_signal(signal.SIGSTOP)
        try:
            sent = env.replay(s_if, capture, pps=pps, topspeed=topspeed, loop=loop)
        finally:
            if frozen:
                tf.proc.send_signal(signal.SIGCONT)
        tf.wait_captured(sent)
        stats = tf.stop()
    packets, octets = tshark_totals(capture)
    name = f"{Path(capture).name} x{loop} at {'top speed' if topspeed else f'{pps} pps'}"
    if frozen:
        name += ", tapflow stopped, 1 MiB ring"
        if sum(c["dropped_kernel"] for c in stats["capture"]) == 0:
            common.fail(f"{name}: the kernel dropped nothing")
    check_conservation(name, stats, sent, box["flows"], (packets * loop, octets * loop), require_no_drops=not topspeed)
    return stats


def control_socket(env, capture):
    """ctl stats/flows before expiry, mode 0600, a second instance refused, ctl expire exports.
    `capture` holds only UDP flows, so none ends before the timeouts (no FIN or RST)."""
    s_if, c_if = env.pairs[0]
    packets, octets = tshark_totals(capture)
    collect_port = common.free_udp_port()
    with collector(env) as (url, box):
        tf = Tapflow(env, [c_if], [url, f"udp://127.0.0.1:{collect_port}"], ["--threads", "2"])
        mode = tf.control.stat().st_mode & 0o777
        if mode != 0o600:
            common.fail(f"control socket mode {mode:o}, expected 600")
        sent = env.replay(s_if, capture, pps=MODEST_PPS)
        stats = tf.wait_captured(sent)
        if stats["packets"]["read"] != sent or stats["flows"]["packets"] != packets \
                or stats["flows"]["octets"] != octets or stats["flows"]["expired"] != 0:
            common.fail(f"ctl stats: read {stats['packets']['read']} of {sent}, flows {stats['flows']}, "
                        f"expected {packets} packets {octets} octets, nothing expired yet")
        flows = json.loads(tf.ctl("flows", "1000000", "--json").stdout)
        if (len(flows), sum(f["packets"] for f in flows), sum(f["octets"] for f in flows)) != \
                (stats["flows"]["active"], packets, octets):
            common.fail(f"ctl flows: {len(flows)} flows, {sum(f['packets'] for f in flows)} packets, "
                        f"expected {stats['flows']['active']} flows, {packets} packets")
        text = tf.ctl("flows", "5").stdout
        if f"5 of {stats['flows']['active']} active flows" not in text:
            common.fail(f"ctl flows 5: {text}")
        print(f"  ctl: socket 0600, stats and flows before expiry: {len(flows)} flows, {packets} packets, "
              f"{octets} octets = tshark", flush=True)

        second = run([common.tapflow_binary(), "-i", c_if, "--control", tf.control, "-n", url], check=False,
                     timeout=10)
        if second.returncode == 0 or "in use by another running tapflow" not in second.stderr:
            common.fail(f"second instance on the same socket: exit {second.returncode}: {second.stderr}")
        print(f"  ctl: second instance refused, exit {second.returncode}: {second.stderr.strip()}", flush=True)

        # The second collector stops by itself once it has every flow: proof that `ctl expire`
        # delivered them while tapflow was still running.
        receiver = subprocess.Popen([common.tapflow_binary(), "collect", "--listen",
                                     f"udp://127.0.0.1:{collect_port}", "--max-records",
                                     str(len(flows)), "--idle-timeout", "5000"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        common.wait_for_udp_listener(collect_port, receiver)
        tf.ctl("expire")
        out, err = receiver.communicate(timeout=10)
        records = [l for l in out.splitlines() if l.strip()]
        after = tf.stats_now()
        if len(records) != len(flows) or after["flows"]["active"] != 0 or tf.proc.poll() is not None:
            common.fail(f"ctl expire: collector got {len(records)} of {len(flows)} records, "
                        f"{after['flows']['active']} still active: {err}")
        print(f"  ctl expire: the collector received all {len(records)} flows, tapflow still running",
              flush=True)
        final = tf.stop()
    if final["flows"]["expired_by_reason"]["forced_end"] != len(flows):
        common.fail(f"ctl expire: {final['flows']['expired_by_reason']}")
    check_conservation(f"{capture.name} under ctl", final, sent, box["flows"], (packets, octets), True)


def sigterm_during_traffic(env, capture):
    """SIGTERM while packets still arrive: every flow created reaches the collector."""
    s_if, c_if = env.pairs[0]
    with collector(env) as (url, box):
        tf = Tapflow(env, [c_if], [url], ["--threads", "2"])
        replay = subprocess.Popen(["ip", "netns", "exec", env.sender, "tcpreplay", "-q", "-i", s_if,
                                   "--pps=20000", str(capture)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # SIGTERM once a quarter of the capture went by, while the rest is still coming.
        tf.wait_captured(10000, timeout=10)
        stats = tf.stop()
        still_sending = replay.poll() is None
        replay.wait(timeout=30)
    got = totals(box["flows"])
    exported = (stats["exporters"][0]["records"], stats["flows"]["packets"], stats["flows"]["octets"])
    print(f"  SIGTERM during traffic (replay still running: {still_sending}): tapflow created "
          f"{stats['flows']['created']} flows, read {stats['packets']['read']} packets; collector "
          f"{got[0]} flows {got[1]} packets {got[2]} bytes", flush=True)
    if not still_sending or stats["packets"]["read"] < 10000:
        common.fail(f"SIGTERM flush: {stats['packets']['read']} packets read before SIGTERM, replay still "
                    f"running: {still_sending}; the case needs both")
    if got != exported or stats["flows"]["created"] != got[0] or stats["flows"]["packets"] != stats["packets"]["decoded"]:
        common.fail(f"SIGTERM flush: collector {got}, tapflow exported {exported}, created "
                    f"{stats['flows']['created']}, decoded {stats['packets']['decoded']}")


def metrics(env):
    """GET /metrics: Prometheus text with the counters tapflow has."""
    s_if, c_if = env.pairs[0]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    capture = common.DATA / "zeek/wikipedia.pcap"
    with collector(env) as (url, _):
        tf = Tapflow(env, [c_if], [url], ["--metrics", f"127.0.0.1:{port}"])
        sent = env.replay(s_if, capture, pps=MODEST_PPS)
        tf.wait_captured(sent)
        # systemctl reload sends SIGHUP (reopen file: outputs): never fatal.
        tf.proc.send_signal(signal.SIGHUP)
        time.sleep(0.2)
        if tf.proc.poll() is not None:
            common.fail(f"SIGHUP stopped tapflow (exit {tf.proc.returncode})")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            content_type = response.headers.get("Content-Type", "")
            body = response.read().decode()
        tf.stop()
    values = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            # Fanout: one sample per queue; the interface's is their sum (its up gauge, their minimum).
            key = re.sub(r',?queue="\d+"', "", key).replace("{,", "{")
            if key.startswith("tapflow_capture_interface_up") and key in values:
                values[key] = min(values[key], float(value))
            else:
                values[key] = values.get(key, 0) + float(value) if key.startswith("tapflow_capture_") else float(value)
    want = {"tapflow_packets_read_total": sent,
            f'tapflow_capture_received_total{{interface="{c_if}"}}': sent,
            f'tapflow_capture_dropped_total{{interface="{c_if}",where="kernel"}}': 0,
            f'tapflow_capture_interface_up{{interface="{c_if}"}}': 1,
            f'tapflow_capture_interface_down_total{{interface="{c_if}"}}': 0}
    for key, value in want.items():
        if values.get(key) != value:
            common.fail(f"/metrics: {key} = {values.get(key)}, expected {value}\n{body}")
    if not content_type.startswith("text/plain") or values.get("tapflow_flows_active", 0) <= 0:
        common.fail(f"/metrics: content type {content_type}, flows_active {values.get('tapflow_flows_active')}")
    print(f"  /metrics: {len(values)} samples, packets_read_total {sent:.0f} = sent, "
          f"flows_active {values['tapflow_flows_active']:.0f}", flush=True)


def interface_loss(env):
    """Down, up, deleted: a line each, counted; capture goes on; the last one gone = exit 1."""
    (s_a, c_a), (s_b, c_b) = env.pairs
    capture = common.DATA / "zeek/wikipedia.pcap"
    packets, octets = tshark_totals(capture)
    with collector(env) as (url, box):
        tf = Tapflow(env, [c_a, c_b], [url], ["--threads", "1"])
        sent = env.replay(s_a, capture, pps=MODEST_PPS) + env.replay(s_b, capture, pps=MODEST_PPS)
        tf.wait_captured(sent)

        run(["ip", "link", "del", c_b])  # deletes its peer in the sender namespace too
        time.sleep(0.5)
        if tf.proc.poll() is not None:
            common.fail(f"tapflow exited when {c_b} disappeared: {tf.log()}")
        sent += env.replay(s_a, capture, pps=MODEST_PPS)
        stats = tf.wait_captured(sent)
        by_name = by_interface(stats)
        if by_name[c_b]["state"] != "closed" or by_name[c_b]["went_down"] != 1 \
                or by_name[c_a]["state"] != "capturing" or stats["packets"]["read"] != sent:
            common.fail(f"after deleting {c_b}: {stats['capture']}, read {stats['packets']['read']} of {sent}")
        lines = [l for l in tf.log().splitlines() if c_b in l and not l.startswith("tapflow: capturing on ")]
        if len(lines) != 1 or "disappeared" not in lines[0] or "still capturing on 1 other" not in lines[0]:
            common.fail(f"expected one log line about {c_b}, got {lines}")
        print(f"  {c_b} deleted: one line ({lines[0]}); capture goes on on {c_a}", flush=True)

        run(["ip", "link", "set", c_a, "down"])
        time.sleep(0.3)
        if by_interface(tf.stats_now())[c_a]["state"] != "down":
            common.fail(f"{c_a} down: {tf.stats_now()['capture']}")
        run(["ip", "link", "set", c_a, "up"])
        # The sender's end needs the carrier back before it can send.
        deadline = time.time() + 5
        while "LOWER_UP" not in run(["ip", "-n", env.sender, "link", "show", s_a]).stdout:
            if time.time() > deadline:
                common.fail(f"{s_a} has no carrier after {c_a} came back up")
            time.sleep(0.05)
        sent += env.replay(s_a, capture, pps=MODEST_PPS)
        stats = tf.wait_captured(sent)
        a = by_interface(stats)[c_a]
        lines = [l for l in tf.log().splitlines() if c_a in l and not l.startswith("tapflow: capturing on ")]
        if a["state"] != "capturing" or a["went_down"] != 1 or stats["packets"]["read"] != sent \
                or len(lines) != 2 or "went down" not in lines[0] or "resumed" not in lines[1]:
            common.fail(f"{c_a} down and up: {a}, read {stats['packets']['read']} of {sent}, log {lines}")
        print(f"  {c_a} down then up: two lines ({'; '.join(lines)}), counted, capture resumed", flush=True)

        run(["ip", "link", "del", c_a])
        try:
            status = tf.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            common.fail(f"tapflow still running after its last interface {c_a} disappeared")
        tf.stderr.close()
        final = json.loads(tf.stats_path.read_text())
    log = tf.log()
    if status != 1 or "no interface left to capture on" not in log:
        common.fail(f"last interface gone: exit {status}, log {log}")
    last = [l for l in log.splitlines() if "no interface left" in l][0]
    print(f"  {c_a} deleted too: exit 1, every flow exported: {last}", flush=True)
    check_conservation("two interfaces, one lost", final, sent, box["flows"], (packets * 4, octets * 4), True)


def same_records_as_one_queue(env, capture):
    """The same replay with --rx-queues 1 and N: the same flows (key, packets, bytes) at nfcapd."""
    s_if, c_if = env.pairs[0]
    keyed = {}
    for queues in (1, env.rx_queues):
        saved, env.extra = env.extra, ["--rx-queues", str(queues)]
        try:
            with collector(env) as (url, box):
                tf = Tapflow(env, [c_if], [url])
                sent = env.replay(s_if, capture, pps=20000)
                tf.wait_captured(sent)
                stats = tf.stop()
        finally:
            env.extra = saved
        if sum(c["dropped_kernel"] for c in stats["capture"]) != 0:
            common.fail(f"--rx-queues {queues}: the kernel dropped packets at 20000 pps")
        keyed[queues] = sorted((f["pr"], f["sa"], f["sp"], f["da"], f["dp"], int(f["ipkt"]), int(f["ibyt"]))
                               for f in box["flows"])
        if queues > 1 and stats["flows"]["shards"] != queues:
            common.fail(f"--rx-queues {queues}: {stats['flows']['shards']} shards")
    if keyed[1] != keyed[env.rx_queues]:
        diff = set(keyed[1]) ^ set(keyed[env.rx_queues])
        common.fail(f"--rx-queues {env.rx_queues} gives other flows than --rx-queues 1: {sorted(diff)[:10]}")
    print(f"  --rx-queues {env.rx_queues}: the same {len(keyed[1])} flows as --rx-queues 1", flush=True)


def inner():
    with tempfile.TemporaryDirectory(prefix="tapflow-live-") as tmp:
        env = Env(tmp)
        started = time.time()
        gen = Path(tmp) / "gen.pcap"
        # Full frames (gen_pcap cuts them at 96 bytes by default; tcpreplay sends what is captured).
        subprocess.run([common.gen_binary(), "--packets", "40000",
                        "--flows", "4000", "--seed", "11", "--snaplen", "1600", "-o", gen],
                       check=True, capture_output=True)
        print(f"replays at {MODEST_PPS} pps (no drop allowed) and at top speed", flush=True)
        for name in CAPTURES:
            replay_and_check(env, common.DATA / name, loop=1, pps=MODEST_PPS)
        replay_and_check(env, gen, loop=1, pps=20000)
        if env.rx_queues > 1:
            same_records_as_one_queue(env, gen)
        for capture, loop in ((common.DATA / "ndpi/wechat.pcap", 10), (gen, 3)):
            replay_and_check(env, capture, loop=loop, topspeed=True)
        replay_and_check(env, gen, loop=1, topspeed=True, frozen=True)
        print("control socket", flush=True)
        udp = Path(tmp) / "udp.pcap"
        subprocess.run([common.gen_binary(), "--packets", "4000",
                        "--flows", "400", "--udp-fraction", "1", "--seed", "12", "--snaplen", "1600",
                        "-o", udp], check=True, capture_output=True)
        control_socket(env, udp)
        print("signals and metrics", flush=True)
        sigterm_during_traffic(env, gen)
        metrics(env)
        print("interface loss", flush=True)
        interface_loss(env)
        print(f"OK ({time.time() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(inner() if "--inside" in sys.argv else outer())
