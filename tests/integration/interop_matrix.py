#!/usr/bin/env python3
"""Interop matrix: tapflow exports NetFlow v5, NetFlow v9 and IPFIX, unsampled and sampled, to every
real peer at once (one tapflow run, one -n per peer) and each peer's view is compared with what
tapflow says it exported:

  collect  `tapflow collect` on UDP: the reference record list (times, keys, counters, flags, ToS),
           its count equal to the exporter's, no sequence gap or malformed message;
  nfcapd   nfdump's JSON: the same records field by field, the counters multiplied as nfcapd
           multiplies a hand-built announcement of the same rate (see "peer sampling behaviour"),
           no sequence error;
  nfacctd  pmacct's print plugin (CSV) aggregated on src_host,dst_host,src_port,dst_port,proto,tos:
           the same keys with the same packets and bytes each, and the sampling_rate primitive
           equal to what nfacctd reports for the hand-built announcement;
  tshark   the UDP export captured on loopback (dumpcap) and decoded as cflow: no malformed or
           expert-error frame, the same record count, packets and octets, the announced rate.

Across formats: for the same capture and a reproducible sampling (none, deterministic), v9 carries
exactly IPFIX's records and v5 exactly IPFIX's IPv4 records, its IPv6 flows counted as
unexportable. Every datagram sent is accounted for at each socket (no kernel drop).

Issue 14's rows: a wide key (VLAN and MAC), --biflow (IPFIX: one record per connection, forward +
reverse = decoded, nfdump's out counters = the reverse ones; v9: the IPFIX run's biflows as
uniflows) and --decap on VXLAN and Geneve captures (the inner flows, in every format).

Exit 0 = pass, 1 = a mismatch (all listed with the commands that show it), 77 = a tool is missing.
"""

import collections
import concurrent.futures
import contextlib
import datetime
import ipaddress
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import common

RATE = 10
# (capture, what it brings to the matrix). All are in common.CLEAN_CAPTURES.
CAPTURES = [
    ("ndpi/wechat.pcap", "IPv4+IPv6, TCP/UDP, IGMP, ICMPv6"),
    ("zeek/linux_dlt_sll2.pcap", "ICMP + ICMPv6"),
    ("zeek/vlan-qinqinq.pcap", "3 stacked VLAN tags"),
    ("zeek/mpls-in-vlan.pcap", "MPLS in VLAN"),
    ("zeek/communityid/sctp.pcap", "SCTP"),
    ("zeek/ipv6-fragmented-dns.pcap", "IPv6 only, fragments"),
]
FORMATS = {5: "v5", 9: "v9", 10: "IPFIX"}
SAMPLINGS = {
    "none": [],
    f"det:{RATE}": ["-s", str(RATE)],
    f"random:{RATE}": ["--sample", f"random:{RATE}"],
}
SCALED = (f"det:{RATE} scaled", ["-s", str(RATE), "--scale-sampled"])
CONCURRENT_ROWS = 3  # peers mostly wait (nfacctd takes ~2 s to stop); 3 rows keep 2 cores busy
PROTOCOL_NUMBERS = {"tcp": 6, "udp": 17, "icmp": 1, "ipv6-icmp": 58, "icmpv6": 58, "sctp": 132,
                    "igmp": 2, "gre": 47, "esp": 50, "vrrp": 112}


# Mismatches reported and waiting for a decision, by (format version, peer, category): shown in
# the matrix as "known", not failing the test; a known failure that no longer happens fails it
# (so that the entry is removed).
KNOWN_FAILURES = {
    # Example: (9, "nfcapd", "icmp"): "nfdump shows v9 ICMP type/code as 0/0 (no ICMP_TYPE)" held
    # until c9f3fa8 added ICMP_TYPE (32) to the v9 templates. Categories: None, "icmp", "times",
    # "times-1970" (nfcapd stores 1970 for a v9 LAST_SWITCHED of 0).
}
# Entries that depend on timing: not reported when they do not happen.
SOMETIMES = {key for key, why in KNOWN_FAILURES.items() if why.startswith("sometimes")}


class HarnessError(Exception):
    """A peer did not start or stop as expected: the run says nothing about tapflow."""


# --- processes -----------------------------------------------------------------------------------

class Processes:
    """Every process the test starts, so that none survives a failure."""

    def __init__(self):
        self._lock = threading.Lock()
        self._procs = []

    def start(self, cmd, **kwargs):
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        proc = subprocess.Popen([str(c) for c in cmd], text=True, **kwargs)
        with self._lock:
            self._procs.append(proc)
        return proc

    def kill_all(self):
        with self._lock:
            procs, self._procs = self._procs, []
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)


PROCS = Processes()
_ports_lock = threading.Lock()
_ports_used = set()


def unique_port():
    """A free UDP port never used before in this run, so that captured datagrams map to one row."""
    while True:
        port = common.free_udp_port()
        with _ports_lock:
            if port not in _ports_used:
                _ports_used.add(port)
                return port


def udp_socket_state(port):
    """(receive queue bytes, drops) of the UDP socket bound to 127.0.0.1:port, or None."""
    wanted = f"0100007F:{port:04X}"
    with contextlib.suppress(OSError), open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[1] == wanted:
                return int(cols[4].split(":")[1], 16), int(cols[-1])
    return None


class LogReader:
    """Reads a peer's log stream on a thread for the peer's whole life, so that the test can wait
    for lines while the pipe never fills."""

    def __init__(self, stream):
        self.lines = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        # Text mode reads '\r' (progress lines) as a line end too.
        with stream:
            for line in stream:
                with self._changed:
                    self.lines.append(line)
                    self._changed.notify_all()

    def wait_for(self, needles, proc, what, timeout=10.0):
        deadline = time.time() + timeout
        with self._changed:
            while not all(any(n in l for l in self.lines) for n in needles):
                if proc.poll() is not None or time.time() > deadline:
                    raise HarnessError(f"{what} not ready after {timeout:.0f} s (exit "
                                       f"{proc.poll()}): {self.text()[-600:]}")
                self._changed.wait(0.05)

    def count(self, needle):
        with self._changed:
            return sum(needle in l for l in self.lines)

    def text(self):
        return "".join(self.lines)

    def join(self):
        self._thread.join(10)


def stop(proc, sig, what, timeout=20):
    """Sends `sig` (unless already sent) and waits for the process to end."""
    request_stop(proc, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise HarnessError(f"{what} did not stop within {timeout} s")


def request_stop(proc, sig):
    """Signals a peer to stop without waiting, so that several peers stop at the same time."""
    if proc.poll() is None and not getattr(proc, "stop_requested", False):
        proc.send_signal(sig)
        proc.stop_requested = True


# --- peers ---------------------------------------------------------------------------------------

class Nfcapd:
    STOP = signal.SIGTERM  # nfcapd closes and renames its file

    def __init__(self, workdir):
        self.port = unique_port()
        self.dir = Path(workdir) / "nfcapd"
        self.dir.mkdir()
        self.proc = PROCS.start(["nfcapd", "-b", "127.0.0.1", "-p", self.port, "-w", self.dir,
                                 "-B", "16000000", "-t", "3600"], stderr=subprocess.STDOUT)
        self.log = LogReader(self.proc.stdout)

    def wait_ready(self):
        deadline = time.time() + 10
        while udp_socket_state(self.port) is None:
            if self.proc.poll() is not None or time.time() > deadline:
                raise HarnessError(f"nfcapd on {self.port} did not start: {self.log.text()}")
            time.sleep(0.02)

    def finish(self):
        stop(self.proc, self.STOP, "nfcapd")
        self.log.join()
        # Usually one file; two when the run crosses nfcapd's hourly rotation.
        files = sorted(p for p in self.dir.rglob("nfcapd.*") if ".current." not in p.name)
        if not files:
            raise HarnessError(f"nfcapd left no file in {self.dir}")
        env = dict(os.environ, TZ="UTC")
        self.flows = []
        samplers = []
        for path in files:
            proc = subprocess.run(["nfdump", "-r", path, "-o", "json"], capture_output=True,
                                  text=True, env=env)
            if proc.returncode != 0:
                raise HarnessError(f"nfdump -r {path} -o json: {proc.stderr.strip()}")
            # With no flow, nfdump 1.7.1 prints "[\nNo matching flows\n]".
            text = proc.stdout.strip()
            self.flows += [] if "No matching flows" in text else json.loads(text)
            # The exporters and their samplers ("Sampler: Generic Sampler: algorithm: 1, packet
            # interval: 1, packet space: 9") as nfcapd recorded them.
            exporters = subprocess.run(["nfdump", "-E", path], capture_output=True, text=True,
                                       env=env).stdout
            samplers += [x for x in re.findall(r"Sampler: (.*)", exporters) if x not in samplers]
        self.samplers = samplers
        # One statistics line per file nfcapd closed.
        stats = re.findall(r"Sequence Errors: (\d+), Bad Packets: (\d+)", self.log.text())
        self.sequence_errors, self.bad_packets = ((sum(int(m[0]) for m in stats), sum(int(m[1]) for m in stats))
                                                  if stats else (None, None))


class Nfacctd:
    """nfacctd with the memory plugin, queried with the pmacct client: unlike the print plugin,
    which writes only when it stops, the table can be read while nfacctd runs, so the test can
    wait until the core has handed every datagram to the plugin (stopping sooner loses them).

    The core hands data to the plugin over ZeroMQ (plugin_pipe_zmq): with the default home-grown
    ring, a burst of a few hundred records overflows the ring's wake-up pipe ("WARN ... Failed
    during write: Resource temporarily unavailable") and the records behind the lost wake-up
    never reach the plugin (seen in about 1 run in 2 of wechat.pcap on 2 busy cores)."""
    AGGREGATE = "src_host,dst_host,src_port,dst_port,proto,tos,sampling_rate"
    STOP = signal.SIGINT

    def __init__(self, workdir, renormalize=False, name="nfacctd"):
        self.port = unique_port()
        self.pipe = Path(workdir) / f"{name}.pipe"
        config = Path(workdir) / f"{name}.conf"
        config.write_text(f"""daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: {self.port}
nfacctd_pipe_size: 16000000
nfacctd_disable_checks: false
plugin_pipe_zmq: true
plugins: memory
imt_path: {self.pipe}
imt_mem_pools_number: 0
aggregate: {self.AGGREGATE}
nfacctd_renormalize: {"true" if renormalize else "false"}
""")
        self.proc = PROCS.start(["nfacctd", "-f", config], stderr=subprocess.STDOUT)
        self.log = LogReader(self.proc.stdout)
        self.rows = []

    def wait_ready(self):
        # The core binds its socket and the plugin starts in either order; data that arrives
        # before both are up is lost.
        self.log.wait_for(["waiting for NetFlow/IPFIX data", "waiting for data on"], self.proc,
                          "nfacctd")
        # The core's line does not say the plugin is up: a renormalising nfacctd under ASan once
        # stored none of the calibration records sent right after it. Wait until the plugin
        # answers on its pipe, then give the core's ZeroMQ link to it a moment.
        deadline = time.time() + 10
        while time.time() < deadline:
            answer = subprocess.run(["pmacct", "-p", self.pipe, "-s"], capture_output=True, text=True)
            if answer.returncode == 0 and "For a total of" in answer.stdout:
                break
            time.sleep(0.05)
        time.sleep(0.5)

    def query(self):
        """The plugin's table. Its answer ends with "For a total of: N entries"; an answer cut
        short (the plugin writes it without blocking and gives up on EAGAIN under load, logging
        "Failed during write") lacks it or has fewer rows, and is asked again."""
        for _ in range(50):
            proc = subprocess.run(["pmacct", "-p", self.pipe, "-s"], capture_output=True,
                                  text=True)
            lines = proc.stdout.splitlines()
            total = re.search(r"For a total of: (\d+) entries", proc.stdout)
            rows = [l.split() for l in lines[1:] if l.strip() and not l.startswith("For a total")]
            if proc.returncode == 0 and total and int(total[1]) == len(rows):
                break
            time.sleep(0.05)
        else:
            raise HarnessError(f"pmacct -p {self.pipe} -s: no complete answer in 50 tries: "
                               f"{proc.stderr.strip()}")
        header = lines[0].split()
        result = []
        for cols in rows:
            row = dict(zip(header, cols))
            if row.get("SRC_IP") == "0" or row.get("DST_IP") == "0":
                # An entry without addresses: seen a few times on a loaded machine (1 run in ~20),
                # when nfacctd accounts a record it decoded without its flow template's address
                # fields. Not a flow of ours; kept apart so that the comparison still sees every
                # flow, and a real loss still shows as a missing key or packet.
                self.addressless = getattr(self, "addressless", 0) + 1
                continue
            proto = row["PROTOCOL"].lower()
            result.append({
                "key": (int(proto) if proto.isdigit() else PROTOCOL_NUMBERS[proto],
                        normal_address(row["SRC_IP"]), normal_address(row["DST_IP"]),
                        int(row["SRC_PORT"]), int(row["DST_PORT"]), int(row["TOS"])),
                "packets": int(row["PACKETS"]), "bytes": int(row["BYTES"]),
                "rate": int(row["SAMPLING_RATE"])})
        return result

    def wait_for(self, done, timeout=10.0):
        """Queries the table until done(rows) holds or `timeout` passes; keeps the last rows."""
        deadline = time.time() + timeout
        while True:
            self.rows = self.query()
            if done(self.rows) or time.time() > deadline:
                return
            time.sleep(0.05)

    def finish(self):
        stop(self.proc, self.STOP, "nfacctd")
        self.log.join()
        self.problems = [l.strip() for l in self.log.lines if l.startswith(("WARN", "ERROR"))]


class Collect:
    STOP = signal.SIGTERM
    RECORD = re.compile(r"^(\S+) (\S+) (\S+)\s+(.*?) packets (\d+) bytes (\d+)(.*)$")

    def __init__(self, workdir):
        self.port = unique_port()
        self.output = Path(workdir) / "collect.txt"
        with open(self.output, "w") as out:
            self.proc = PROCS.start([common.tapflow_binary(), "collect", "--listen",
                                     f"udp://127.0.0.1:{self.port}"], stdout=out)
        self.log = LogReader(self.proc.stderr)

    def wait_ready(self):
        self.log.wait_for(["collect: listening on"], self.proc, "tapflow collect")

    def finish(self):
        if hasattr(self, "records"):
            return
        stop(self.proc, self.STOP, "tapflow collect")
        self.log.join()
        self.err = self.log.text()
        self.records, self.other_lines = [], []
        for line in self.output.read_text().splitlines():
            record = parse_collect_record(line)
            if record:
                self.records.append(record)
            elif line.strip():
                self.other_lines.append(line)
        m = re.search(r"collect summary: (\d+) messages, (\d+) records .*?(\d+) sequence gaps .*?"
                      r"(\d+) malformed messages, (\d+) data sets without template", self.err)
        if not m:
            raise HarnessError(f"tapflow collect printed no summary: {self.err[-500:]}")
        # "collect: SOURCE vN domain D: options: ..." (NetFlow v9/IPFIX options records, v5 header
        # sampling bits), each printed once unless it changes.
        self.options = re.findall(r"^collect: \S+ v\d+ domain \d+: options: (.*)$", self.err,
                                  re.MULTILINE)
        self.messages, self.record_count, self.gaps, self.malformed, self.without_template = \
            (int(x) for x in m.groups())


class Dumpcap:
    """dumpcap on lo for the datagrams to `port`, and to a canary port.

    dumpcap gets packets from the kernel by blocks that are handed over when full or after a
    timeout, and drops the pending block when it is stopped; its "Capturing on" comes before its
    filter is in place. So the test pings the canary port until dumpcap's packet counter moves
    (ready), and before stopping it waits until the counter covers every canary and export
    datagram sent, or stays still for longer than the block timeout."""
    STOP = signal.SIGINT
    QUIET_S = 1.5

    def __init__(self, workdir, port):
        self.path = Path(workdir) / "export.pcapng"
        self.port = port
        self.canary = unique_port()
        self.canaries = 0
        self.proc = PROCS.start(["dumpcap", "-i", "lo", "-f",
                                 f"udp and (dst port {port} or dst port {self.canary})",
                                 "-B", "16", "-w", self.path], stdout=subprocess.DEVNULL)
        self.log = LogReader(self.proc.stderr)

    def captured(self):
        counts = re.findall(r"Packets: (\d+)", self.log.text())
        return int(counts[-1]) if counts else 0

    def wait_ready(self):
        deadline = time.time() + 10
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            while self.captured() == 0:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise HarnessError(f"dumpcap not capturing after 10 s: {self.log.text()[-500:]}")
                s.sendto(b"canary", ("127.0.0.1", self.canary))
                self.canaries += 1
                time.sleep(0.05)

    def wait_captured(self, datagrams, timeout=10.0):
        started = last_change = time.time()
        last = self.captured()
        while time.time() - started < timeout:
            now = self.captured()
            if now >= self.canaries + datagrams:
                return
            if now != last:
                last, last_change = now, time.time()
            elif time.time() - last_change > self.QUIET_S:
                return
            time.sleep(0.02)

    def finish(self):
        stop(self.proc, self.STOP, "dumpcap")
        self.log.join()
        m = re.search(r"Packets received/dropped on interface '[^']*': (\d+)/(\d+)",
                      self.log.text())
        if not m:
            raise HarnessError(f"dumpcap printed no packet count: {self.log.text()[-500:]}")
        self.received, self.dropped = int(m[1]), int(m[2])


# --- record normalisation ------------------------------------------------------------------------

def normal_address(text):
    return ipaddress.ip_address(text.strip("[]")).compressed


def epoch_ms(text):
    """'2022-08-15T03:30:49.872Z' (tapflow) or '2022-08-15T03:30:49.872' (nfdump, TZ=UTC)."""
    t = datetime.datetime.strptime(text.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")
    return int(t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000 + 0.5)


def tcp_flags_value(text):
    return sum(0x80 >> i for i, c in enumerate(text) if c != ".")


def is_icmp(proto):
    return proto in (1, 58)


def parse_collect_record(line):
    m = Collect.RECORD.match(line)
    if not m:
        return None
    first, last, proto_name, endpoints, packets, octets, rest = m.groups()
    proto = {"ICMP": 1, "TCP": 6, "UDP": 17, "GRE": 47, "ESP": 50, "ICMPv6": 58,
             "SCTP": 132}.get(proto_name)
    if proto is None:
        proto = int(proto_name.removeprefix("proto-"))
    icmp = re.match(r"(\S+) -> (\S+) type (\d+) code (\d+)$", endpoints)
    if icmp:
        src, dst, sport, dport = icmp[1], icmp[2], 0, int(icmp[3]) * 256 + int(icmp[4])
    else:
        ends = re.match(r"(.+):(\d+) -> (.+):(\d+)$", endpoints)
        src, sport, dst, dport = ends[1], int(ends[2]), ends[3], int(ends[4])
    rest, _, reverse = rest.partition(" reverse ")
    flags = re.search(r" flags (\S{8})", rest)
    tos = re.search(r" tos (\d+)", rest)
    rev = None
    if reverse:  # --biflow: "packets N bytes N flags F tos T in-if I initiator"
        m = re.match(r"packets (\d+) bytes (\d+)(?: flags (\S{8}))?(?: tos (\d+))?", reverse)
        rev = {"packets": int(m[1]), "bytes": int(m[2]), "flags": tcp_flags_value(m[3]) if m[3] else None,
               "tos": int(m[4]) if m[4] else None}
    return {"reverse": rev, "proto": proto, "src": normal_address(src), "dst": normal_address(dst),
            "sport": sport, "dport": dport, "first": epoch_ms(first), "last": epoch_ms(last),
            "packets": int(packets), "bytes": int(octets),
            "flags": tcp_flags_value(flags[1]) if flags else None,
            "tos": int(tos[1]) if tos else None}


def nfdump_record(flow):
    proto = flow["proto"]
    if is_icmp(proto):
        sport, dport = 0, flow.get("icmp_type", 0) * 256 + flow.get("icmp_code", 0)
    else:
        sport, dport = flow.get("src_port", 0), flow.get("dst_port", 0)
    return {"proto": proto,
            "src": normal_address(flow.get("src4_addr") or flow.get("src6_addr")),
            "dst": normal_address(flow.get("dst4_addr") or flow.get("dst6_addr")),
            "sport": sport, "dport": dport, "first": epoch_ms(flow["first"]),
            "last": epoch_ms(flow["last"]), "packets": flow["in_packets"], "bytes": flow["in_bytes"],
            "flags": tcp_flags_value(flow["tcp_flags"]) if "tcp_flags" in flow else None,
            "tos": flow.get("src_tos"), "sampled": flow.get("sampled"),
            # RFC 5103 reverse counters, which nfdump reads as its out counters (as collect's)
            "reverse": {"packets": flow.get("out_packets", 0), "bytes": flow.get("out_bytes", 0)}}


RECORD_FIELDS = ("proto", "src", "sport", "dst", "dport", "first", "last", "packets", "bytes")


def record_tuple(r, fields=RECORD_FIELDS):
    return tuple(r[f] for f in fields)


def uniflows(records):
    """IPFIX biflow records as a v5/v9 destination receives them: each as its two uniflows (the
    reverse one only when the responder answered), times aside."""
    out = []
    for r in records:
        out.append(dict(r, reverse=None))
        v = r.get("reverse")
        if v and v["packets"]:
            out.append(dict(r, src=r["dst"], dst=r["src"], sport=r["dport"], dport=r["sport"],
                            packets=v["packets"], bytes=v["bytes"],
                            flags=v["flags"] if r["proto"] == 6 else r["flags"], tos=v["tos"], reverse=None))
    return out


def describe(r):
    return (f"{r['proto']} {r['src']}:{r['sport']} -> {r['dst']}:{r['dport']} "
            f"{r['first']}-{r['last']} ms {r['packets']} pkts {r['bytes']} B flags {r['flags']} "
            f"tos {r['tos']}")


def multiset_difference(want, got, key=record_tuple):
    """Records in `want` missing from `got` and records in `got` not in `want`."""
    w = collections.Counter(key(r) for r in want)
    g = collections.Counter(key(r) for r in got)
    return list((w - g).elements()), list((g - w).elements())


def aggregate(records, version):
    """pmacct's view: packets and bytes per (proto, src, dst, sport, dport, tos). From NetFlow v5,
    pmacct 1.7.7 takes the ports of TCP and UDP records and the ICMP type/code only: other
    protocols' ports (SCTP here) read 0, though the v5 record carries them (nfdump shows them)."""
    keys = collections.defaultdict(lambda: [0, 0])
    for r in records:
        sport, dport = r["sport"], r["dport"]
        if version == 5 and r["proto"] not in (1, 6, 17):
            sport = dport = 0
        k = (r["proto"], r["src"], r["dst"], sport, dport, r["tos"] or 0)
        keys[k][0] += r["packets"]
        keys[k][1] += r["bytes"]
    return keys


# --- hand-built announcements: how each peer treats a correct sampling announcement --------------

def _set(set_id, body):
    body += b"\0" * (-len(body) % 4)
    return struct.pack("!HH", set_id, 4 + len(body)) + body


def reference_messages(version, mode, address, domain):
    """Messages announcing 1-in-RATE sampling (`mode` 'det' or 'random') and carrying one record of
    3 packets / 300 octets from `address`, built by hand from the specifications, in the layouts
    tapflow uses: v5 header sampling bits (mode in the top 2 bits: 01 deterministic, 10 random;
    interval in the low 14); v9 (RFC 3954 §6.1) options template scoped by System with
    SAMPLING_INTERVAL (34) and SAMPLING_ALGORITHM (35, 1 deterministic, 2 random); IPFIX (RFC 5476
    §6.5.2) options template scoped by selectorId with selectorAlgorithm 1 (systematic count-based)
    + samplingPacketInterval 1 / samplingPacketSpace N-1, or selectorAlgorithm 3 (random n-out-of-N)
    + samplingSize 1 / samplingPopulation N, then the deprecated 34/35 with the same rate, and
    data records carrying the selectorId."""
    now = int(time.time())
    src, dst = socket.inet_aton(address), socket.inet_aton("192.0.2.99")
    if version == 5:
        mode_bits = 0x4000 if mode == "det" else 0x8000
        header = struct.pack("!HHIIIIBBH", 5, 1, 100000, now, 0, 0, 0, domain, mode_bits | RATE)
        record = struct.pack("!4s4s4sHHIIIIHHBBBBHHBBH", src, dst, b"\0" * 4, 0, 0, 3, 300, 95000,
                             99000, 1234, 80, 0, 0x1b, 6, 0, 0, 0, 0, 0, 0)
        return [header + record]
    fields = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 4), (1, 4)]
    record = src + dst + struct.pack("!HHBII", 1234, 80, 6, 3, 300)
    algorithm_v9 = 1 if mode == "det" else 2
    if version == 9:
        fields += [(22, 4), (21, 4)]
        record += struct.pack("!II", 95000, 99000)
        template = struct.pack("!HH", 256, len(fields)) + b"".join(struct.pack("!HH", *f) for f in fields)
        options = struct.pack("!HHH", 257, 4, 8) + struct.pack("!HHHHHH", 1, 4, 34, 4, 35, 1)
        values = struct.pack("!IIB", domain, RATE, algorithm_v9)
        sets1 = _set(0, template) + _set(1, options) + _set(257, values)
        first = struct.pack("!HHIIII", 9, 3, 100000, now, 0, domain) + sets1
        second = struct.pack("!HHIIII", 9, 1, 100000, now, 1, domain) + _set(256, record)
        return [first, second]
    fields += [(152, 8), (153, 8), (302, 8)]
    record += struct.pack("!QQQ", now * 1000 - 5000, now * 1000 - 1000, 1)
    template = struct.pack("!HH", 256, len(fields)) + b"".join(struct.pack("!HH", *f) for f in fields)
    if mode == "det":
        opts = [(302, 8), (304, 2), (305, 4), (306, 4), (34, 4), (35, 1)]
        values = struct.pack("!QHIIIB", 1, 1, 1, RATE - 1, RATE, algorithm_v9)
    else:
        opts = [(302, 8), (304, 2), (309, 4), (310, 4), (34, 4), (35, 1)]
        values = struct.pack("!QHIIIB", 1, 3, 1, RATE, RATE, algorithm_v9)
    options = struct.pack("!HHH", 257, len(opts), 1) + b"".join(struct.pack("!HH", *f) for f in opts)
    sets1 = _set(2, template) + _set(3, options) + _set(257, values)
    first = struct.pack("!HHIII", 10, 16 + len(sets1), now, 0, domain) + sets1
    sets2 = _set(256, record)
    second = struct.pack("!HHIII", 10, 16 + len(sets2), now, 1, domain) + sets2
    return [first, second]


def peer_sampling_behaviour(workdir):
    """Sends each hand-built announcement to one nfcapd, one nfacctd and one renormalising nfacctd;
    returns {(version, mode): {"nfcapd": factor, "nfcapd_sampler": text, "nfacctd_rate": rate,
    "nfacctd_renormalised": factor}}."""
    cases = [(v, m) for v in (5, 9, 10) for m in ("det", "random")]
    addresses = {case: f"10.99.{i}.1" for i, case in enumerate(cases)}
    workdir.mkdir(parents=True, exist_ok=True)
    nfcapd = Nfcapd(workdir)
    plain = Nfacctd(workdir, name="calibration")
    renorm = Nfacctd(workdir, renormalize=True, name="calibration_renorm")
    try:
        for peer in (nfcapd, plain, renorm):
            peer.wait_ready()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i, case in enumerate(cases):
                for message in reference_messages(case[0], case[1], addresses[case], 10 + i):
                    for peer in (nfcapd, plain, renorm):
                        s.sendto(message, ("127.0.0.1", peer.port))
                    time.sleep(0.02)  # options before data, in order
        wait_drained([nfcapd.port, plain.port, renorm.port])
        for nfacctd in (plain, renorm):
            nfacctd.wait_for(lambda rows: {r["key"][1] for r in rows} >= set(addresses.values()))
    finally:
        for peer in (nfcapd, plain, renorm):
            request_stop(peer.proc, peer.STOP)
        for peer in (nfcapd, plain, renorm):
            peer.finish()
    result = {}
    by_source = {nfdump_record(f)["src"]: f for f in nfcapd.flows}
    for case, address in addresses.items():
        flow = by_source.get(address)
        rows = [r for r in plain.rows if r["key"][1] == address]
        rows_renorm = [r for r in renorm.rows if r["key"][1] == address]
        if flow is None or len(rows) != 1 or len(rows_renorm) != 1:
            raise HarnessError(f"hand-built {case} record not stored by every peer: nfcapd "
                               f"{flow}, nfacctd {rows}, renormalising nfacctd {rows_renorm}")
        result[case] = {"nfcapd": flow["in_packets"] // 3, "nfcapd_sampled": flow.get("sampled"),
                        "nfacctd_rate": rows[0]["rate"],
                        "nfacctd_renormalised": rows_renorm[0]["packets"] // 3}
    return result


def wait_drained(ports, timeout=10.0):
    """Waits until the peers have read everything queued on their sockets; returns the drops."""
    deadline = time.time() + timeout
    while True:
        states = {p: udp_socket_state(p) for p in ports}
        if all(s is None or s[0] == 0 for s in states.values()) or time.time() > deadline:
            return {p: (s[1] if s else 0) for p, s in states.items()}
        time.sleep(0.02)


# --- one row of the matrix -----------------------------------------------------------------------

class Row:
    def __init__(self, capture, version, sampling, args, label=None):
        self.capture, self.version, self.sampling, self.args = capture, version, sampling, args
        self.label = label     # what the row adds besides sampling (--key, --biflow), for its name
        self.cells = {}        # peer -> what the peer showed (text)
        self.problems = []     # precise mismatch messages
        self.known = []        # (peer, category, message) matching KNOWN_FAILURES
        self.notes = []
        self.stats = None
        self.collect = None

    @property
    def name(self):
        return f"{self.capture} {FORMATS[self.version]} {self.label or self.sampling}"

    @property
    def scaled(self):
        return "--scale-sampled" in self.args

    @property
    def sampled(self):
        return self.sampling != "none"

    @property
    def announced(self):
        """tapflow announces the sampling rate (not when it scales the counters itself)."""
        return self.sampled and not self.scaled

    @property
    def biflow(self):
        return "--biflow" in self.args

    @property
    def biflow_records(self):
        """IPFIX carries biflows as such (v5 and v9 get their uniflows)."""
        return self.biflow and self.version == 10

    @property
    def mode(self):
        return "random" if self.sampling.startswith("random") else "det"

    def problem(self, peer, message, category=None):
        known = KNOWN_FAILURES.get((self.version, peer, category))
        if known:
            self.known.append((peer, category, f"[{self.name}] {peer}: {message}"))
            return
        self.problems.append((peer, f"[{self.name}] {peer}: {message}"))

    def status(self, peer):
        if any(p == peer for p, _ in self.problems):
            return "✗"
        return "✗ known" if any(p == peer for p, _, _ in self.known) else "✓"

    def command(self, ports):
        args = ["-r", common.DATA / self.capture, "-v", self.version, "--threads", "1", *self.args]
        for port in ports:
            args += ["-n", f"udp://127.0.0.1:{port}"]
        return args


def run_row(row, workdir):
    nfcapd = Nfcapd(workdir)
    nfacctd = Nfacctd(workdir)
    collect = Collect(workdir)
    dumpcap = Dumpcap(workdir, collect.port)
    peers = (nfcapd, nfacctd, collect, dumpcap)
    ports = [collect.port, nfcapd.port, nfacctd.port]
    try:
        for peer in peers:
            peer.wait_ready()
        args = row.command(ports)
        row.cmdline = "tapflow " + " ".join(str(a) for a in args)
        proc, stats = common.run_tapflow(args, check=False)
        if proc.returncode != 0:
            row.exit_error = proc.stderr.strip()
            return
        row.stats = stats
        drops = wait_drained(ports)
        dumpcap.wait_captured(stats["exporters"][0]["messages"])
        collect.finish()
        want = aggregate(collect.records, row.version)
        want_totals = (len(want), sum(v[0] for v in want.values()), sum(v[1] for v in want.values()))
        nfacctd.wait_for(lambda rows: (len({r["key"] for r in rows}), sum(r["packets"] for r in rows),
                                       sum(r["bytes"] for r in rows)) == want_totals)
    finally:
        for peer in peers:
            request_stop(peer.proc, peer.STOP)
        for peer in peers:
            peer.finish()
    row.exit_error = None
    for port, dropped in drops.items():
        if dropped:
            raise HarnessError(f"{row.name}: the kernel dropped {dropped} datagrams for port {port}")
    if dumpcap.dropped:
        raise HarnessError(f"{row.name}: dumpcap dropped {dumpcap.dropped} packets")
    row.collect, row.nfcapd, row.nfacctd, row.dumpcap = collect, nfcapd, nfacctd, dumpcap
    row.pcap = dumpcap.path


def check_tapflow(row):
    st = row.stats
    exporters = st["exporters"]
    records = {e["records"] for e in exporters}
    unexportable = {e["unexportable"] for e in exporters}
    fl, sm = st["flows"], st.get("sampling", {})
    if len(exporters) != 3 or len(records) != 1 or len(unexportable) != 1:
        row.problem("tapflow", f"the 3 exporters differ: {exporters}")
    if any(e["send_errors"] for e in exporters):
        row.problem("tapflow", f"send errors: {exporters}")
    row.records = exporters[0]["records"]
    row.unexportable = exporters[0]["unexportable"]
    row.messages = exporters[0]["messages"]
    if row.biflow and row.version != 10:
        # Each biflow reaches v5/v9 as its two uniflows (one when the responder never answered).
        if not fl["expired"] <= row.records + row.unexportable <= 2 * fl["expired"]:
            row.problem("tapflow", f"{row.records} uniflows + {row.unexportable} unexportable for "
                                   f"{fl['expired']} biflows expired")
    elif row.records + row.unexportable != fl["expired"]:
        row.problem("tapflow", f"{row.records} records + {row.unexportable} unexportable != "
                               f"{fl['expired']} flows expired")
    if row.version != 5 and row.unexportable:
        row.problem("tapflow", f"{row.unexportable} flows unexportable in {FORMATS[row.version]}")
    weight = RATE if row.scaled else 1
    want_selected = st["packets"]["decoded"] if not row.sampled else sm.get("selected")
    if fl["packets"] != want_selected * weight:
        row.problem("tapflow", f"flows.packets {fl['packets']} != {want_selected} selected x {weight}")
    if row.sampled and (sm["interval"] != RATE or sm["scaled"] != row.scaled
                        or sm["mode"] != ("random" if row.mode == "random" else "deterministic")):
        row.problem("tapflow", f"sampling stats {sm} do not match {row.args}")


def check_collect(row):
    c = row.collect
    packets = sum(r["packets"] + (r["reverse"] or {}).get("packets", 0) for r in c.records)
    octets = sum(r["bytes"] + (r["reverse"] or {}).get("bytes", 0) for r in c.records)
    row.collect_totals = (len(c.records), packets, octets)
    if row.biflow_records and any(r["reverse"] is None for r in c.records):
        row.problem("collect", "a --biflow IPFIX record without its reverse direction")
    if len(c.records) != row.records or c.record_count != row.records:
        row.problem("collect", f"{len(c.records)} records printed, {c.record_count} counted, "
                               f"tapflow sent {row.records}")
    if c.gaps or c.malformed or c.without_template:
        row.problem("collect", f"{c.gaps} sequence gaps, {c.malformed} malformed messages, "
                               f"{c.without_template} data sets without template")
    if c.messages != row.messages:
        row.problem("collect", f"{c.messages} messages received, tapflow sent {row.messages}")
    if row.version != 5 or row.unexportable == 0:
        want = (row.stats["flows"]["packets"], row.stats["flows"]["octets"])
        if (packets, octets) != want:
            row.problem("collect", f"records carry {packets} packets / {octets} octets, tapflow "
                                   f"accounted {want[0]} / {want[1]} into flows")
    if row.version == 5 and any(":" in r["src"] for r in c.records):
        row.problem("collect", "an IPv6 flow in a v5 export")
    sampling = [o for o in c.options if o.startswith("sampling")]
    text = f"{len(c.records)}/{packets}/{octets}"
    want = []
    if row.announced and row.messages:
        algorithm = "deterministic" if row.mode == "det" else "random"
        want = [f"sampling interval {RATE} algorithm {algorithm}"]
    if [o.split(" selector")[0] for o in sampling] != want:
        row.problem("collect", f"sampling options {sampling}, expected {want}")
    if sampling:
        m = re.match(r"sampling interval (\d+) algorithm (\w+)", sampling[0])
        text += f" 1/{m[1]} {m[2][:4]}" if m else " " + sampling[0]
    row.cells["collect"] = text


def sequence_steps(row, messages):
    """Positions i where message i's sequence number is not message i-1's plus the expected step:
    v5 counts flow records (Cisco), v9 export packets (RFC 3954 §5.1), IPFIX all data records,
    options records included (RFC 7011 §3.1) - here flow records only, as nfcapd 1.7.1 counts."""
    wrong = []
    for i in range(1, len(messages)):
        step = 1 if row.version == 9 else messages[i - 1][1]
        if messages[i][0] != (messages[i - 1][0] + step) % 2**32:
            wrong.append(i)
    return wrong


def check_nfcapd(row, behaviour, decoded):
    """nfdump's records against collect's: keys, counters (times the factor nfcapd applies to an
    announced rate), TCP flags (TCP records: nfdump shows none for others) and ToS first, then
    ICMP type/code and the start/end times apart, each as its own category."""
    n = row.nfcapd
    got = [nfdump_record(f) for f in n.flows]
    factor = 1
    if row.announced:
        factor = behaviour[(row.version, row.mode)]["nfcapd"]
    want = []
    for r in row.collect.records:
        w = dict(r)
        w["packets"] *= factor
        w["bytes"] *= factor
        want.append(w)

    biflow = row.biflow_records

    def key(r, times=False, icmp=True):
        k = (r["proto"], r["src"], r["sport"], r["dst"],
             r["dport"] if icmp or not is_icmp(r["proto"]) else None, r["packets"], r["bytes"],
             r["flags"] if r["proto"] == 6 else None, r["tos"])
        if biflow:
            # nfdump 1.7.1 reads the reverse packets and octets as its out counters, but stores
            # reverseTcpControlBits and reverseIpClassOfService over the forward flags and ToS
            # (seen in this row: forward 0x19/160, reverse 0x11/0, nfdump 0x11/0): compared
            # without them.
            rev = r["reverse"] or {}
            k = k[:7] + (rev.get("packets"), rev.get("bytes"))
        return k + ((r["first"], r["last"]) if times else ())

    missing, extra = multiset_difference(want, got, key=lambda r: key(r, icmp=False))
    if missing or extra:
        row.problem("nfcapd", f"{len(got)} flows in nfdump vs {len(want)} exported (counters x "
                              f"{factor}); missing {missing[:3]}, unexpected {extra[:3]}")
    else:
        missing, extra = multiset_difference(want, got, key=key)
        if missing or extra:
            row.problem("nfcapd", f"ICMP type/code: exported {[m[4] for m in missing][:4]} "
                                  f"(type * 256 + code), nfdump shows {[e[4] for e in extra][:4]}: "
                                  f"{missing[:2]}", category="icmp")
        # nfdump 1.7.1 also stores the reverse start and end times over the forward ones (1970
        # where the responder never answered): a biflow row's times are not compared.
        missing, extra = ([], []) if biflow else multiset_difference(want, got, key=lambda r: key(r, times=True))
        if (missing or extra) and len(missing) == len(extra):
            # nfcapd 1.7.1 reads a v9 LAST_SWITCHED of 0 as "no time" and stores 1970-01-01; with
            # the system start at the first packet, a flow of that first millisecond has 0.
            spare = collections.defaultdict(list)
            for e in extra:
                spare[e[:-2]].append(e)
            pairs = [(m, spare[m[:-2]].pop()) for m in missing if spare[m[:-2]]]
            at_1970 = [(m, e) for m, e in pairs if e[-2:] == (0, 0)]
            others = [(m, e) for m, e in pairs if e[-2:] != (0, 0)]
            if at_1970:
                m, e = at_1970[0]
                row.problem("nfcapd", f"{len(at_1970)} of {len(want)} records show 1970-01-01 "
                                      f"in nfdump, e.g. {m[:5]} is {ms_text(m[-2])}.."
                                      f"{ms_text(m[-1])} in collect", category="times-1970")
            if others:
                m, e = others[0]
                row.problem("nfcapd", f"{len(others)} of {len(want)} records have other start/end "
                                      f"times in nfdump than in collect, e.g. {m[:5]}: collect "
                                      f"{ms_text(m[-2])}..{ms_text(m[-1])}, nfdump "
                                      f"{ms_text(e[-2])}..{ms_text(e[-1])}", category="times")
    if biflow and not row.problems:
        row.notes.append("nfcapd: reverse counters as out packets/bytes; flags, ToS and times are the reverse's")
    want_sampled = 1 if factor != 1 else 0
    if any(g["sampled"] != want_sampled for g in got):
        row.problem("nfcapd", f"'sampled' flag {sorted({g['sampled'] for g in got})}, expected "
                              f"{want_sampled}")
    # nfdump -E: a generic sampler of 1 packet in RATE exactly when nfcapd scales the counters.
    want_samplers = ([f"packet interval: 1, packet space: {factor - 1}"]
                     if factor != 1 and row.messages else [])
    if [x.split("algorithm: ")[-1].split(", ", 1)[-1] for x in n.samplers] != want_samplers:
        row.problem("nfcapd", f"nfdump -E samplers {n.samplers}, expected {want_samplers}")
    # nfcapd 1.7.1 counts only flow records in the IPFIX sequence number, so a message after one
    # that carried options records (statistics, sampling) is a "sequence error" to it though
    # RFC 7011 counts them too (collect and nfacctd check the RFC's rule).
    messages = decoded.get(row.collect.port, {}).get("messages", [])
    if biflow:  # tshark lists each biflow record's reverse packet count as a second cflow.packets
        messages = [(sequence, records // 2) for sequence, records in messages]
    steps = sequence_steps(row, messages)
    if row.version != 10 and steps:
        row.problem("tapflow", f"{FORMATS[row.version]} sequence numbers do not advance by "
                               f"{'1 per packet' if row.version == 9 else 'the records sent'} at "
                               f"messages {steps[:5]}: {messages[:8]}")
    if n.sequence_errors != len(steps) or n.bad_packets:
        row.problem("nfcapd", f"{n.sequence_errors} sequence errors (expected {len(steps)}), "
                              f"{n.bad_packets} bad packets")
    elif steps:
        row.notes.append(f"nfcapd: {len(steps)} seq. errors for options records, as expected")
    packets = sum(g["packets"] for g in got)
    octets = sum(g["bytes"] for g in got)
    text = f"{len(got)}/{packets}/{octets}" + (f" x{factor}" if factor != 1 else "")
    row.cells["nfcapd"] = text


def check_nfacctd(row, behaviour):
    a = row.nfacctd
    want = aggregate(row.collect.records, row.version)
    got = collections.defaultdict(lambda: [0, 0])
    rates = set()
    for r in a.rows:
        got[r["key"]][0] += r["packets"]
        got[r["key"]][1] += r["bytes"]
        rates.add(r["rate"])
    if dict(got) != dict(want):
        differ = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
        row.problem("nfacctd", f"{len(got)} keys vs {len(want)} expected; differing (key: "
                               f"expected, got): {[(k, want.get(k), got.get(k)) for k in differ[:3]]}")
    want_rate = 0
    if row.announced:
        want_rate = behaviour[(row.version, row.mode)]["nfacctd_rate"]
    if a.rows and rates != {want_rate}:
        row.problem("nfacctd", f"sampling_rate {sorted(rates)}, expected {want_rate}")
    if a.problems:
        row.problem("nfacctd", f"warnings: {a.problems[:3]}")
    packets = sum(v[0] for v in got.values())
    octets = sum(v[1] for v in got.values())
    rate_text = f" r={sorted(rates)[0]}" if len(rates) == 1 and row.sampled else ""
    row.cells["nfacctd"] = f"{len(got)} keys/{packets}/{octets}{rate_text}"


def tshark_decode(rows, workdir):
    """Decodes every row's captured export in one tshark pass (a row is its collector's port)."""
    pcaps = [str(r.pcap) for r in rows]
    merged = Path(workdir) / "all.pcapng"
    subprocess.run(["mergecap", "-w", merged, *pcaps], check=True)
    decode = []
    for r in rows:
        decode += ["-d", f"udp.port=={r.collect.port},cflow"]
    sampling_fields = ["cflow.samplingmode", "cflow.samplerate", "cflow.sampling_interval",
                       "cflow.sampling_algorithm", "cflow.selector_id", "cflow.selector_algorithm",
                       "cflow.sampling_packet_interval", "cflow.sampling_packet_space",
                       "cflow.sampling_size", "cflow.sampling_population"]
    fields = ["frame.number", "udp.dstport", "cflow.sequence", "cflow.packets", "cflow.octets",
              *sampling_fields]
    cmd = ["tshark", "-r", merged, "-n", *decode, "-T", "fields", "-E", "occurrence=a",
           "-E", "aggregator=,"]
    for f in fields:
        cmd += ["-e", f]
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        raise HarnessError(f"tshark cannot decode {merged}: {proc.stderr.strip()}")
    per_port = collections.defaultdict(lambda: {"frames": [], "records": 0, "packets": 0,
                                                "octets": 0, "sampling": collections.Counter(),
                                                "messages": []})
    frame_port = {}
    for line in proc.stdout.splitlines():
        values = dict(zip(fields, (line.split("\t") + [""] * len(fields))[:len(fields)]))
        port = int(values["udp.dstport"])
        frame_port[values["frame.number"]] = port
        d = per_port[port]
        d["frames"].append(values["frame.number"])
        counts = [int(v) for v in values["cflow.packets"].split(",") if v]
        d["records"] += len(counts)
        d["packets"] += sum(counts)
        # (sequence number, flow records) of each message, in the order sent
        d["messages"].append((int(values["cflow.sequence"] or 0), len(counts)))
        if values["cflow.octets"]:
            d["octets"] += sum(int(v) for v in values["cflow.octets"].split(","))
        for f in sampling_fields:
            if values[f]:
                for v in values[f].split(","):
                    d["sampling"][(f.removeprefix("cflow."), v)] += 1
    problems = collections.defaultdict(list)
    for line in common.tshark_problems(merged, decode):
        frame = line.split("\t")[0]
        problems[frame_port.get(frame)].append(line)
    return per_port, problems


def expected_tshark_sampling(row):
    """The sampling fields tshark must show for the row (name -> value); a v5 header always has
    them (0 = not sampled)."""
    if row.version == 5:
        if not row.announced:
            return {"samplingmode": "0", "samplerate": "0"}
        return {"samplingmode": "1" if row.mode == "det" else "2", "samplerate": str(RATE)}
    if not row.announced:
        return {}
    if row.version == 9:
        return {"sampling_interval": str(RATE),
                "sampling_algorithm": "1" if row.mode == "det" else "2"}
    if row.mode == "det":
        return {"selector_algorithm": "1", "sampling_packet_interval": "1",
                "sampling_packet_space": str(RATE - 1)}
    return {"selector_algorithm": "3", "sampling_size": "1", "sampling_population": str(RATE)}


def check_tshark(row, decoded, problems):
    d = decoded.get(row.collect.port, {"frames": [], "records": 0, "packets": 0, "octets": 0,
                                        "sampling": collections.Counter()})
    if len(d["frames"]) != row.messages:
        row.problem("tshark", f"{len(d['frames'])} datagrams captured and decoded, tapflow sent "
                              f"{row.messages}")
    want = row.collect_totals
    got = (d["records"] // 2 if row.biflow_records else d["records"], d["packets"], d["octets"])
    if got != want:
        row.problem("tshark", f"cflow shows {got} (records, packets, octets), collect {want}")
    if problems.get(row.collect.port):
        row.problem("tshark", f"malformed or expert errors: {problems[row.collect.port][:3]}")
    shown = {name: value for (name, value) in d["sampling"]}
    want_sampling = expected_tshark_sampling(row)
    # v9/IPFIX may add fields (IPFIX also carries 34/35), v5's header has exactly these.
    wrong = (want_sampling.items() - shown.items() or (not want_sampling and shown)
             or (row.version == 5 and shown != want_sampling))
    if row.messages and wrong:
        row.problem("tshark", f"sampling fields {shown}, expected {want_sampling}")
    text = f"{got[0]}/{got[1]}/{got[2]}"
    if shown:
        text += " " + ",".join(f"{k.replace('sampling_', '')}={v}" for k, v in sorted(shown.items())
                               if k in want_sampling or k in ("samplerate", "sampling_interval"))
    row.cells["tshark"] = text


def check_across_formats(rows):
    """v9 = IPFIX and v5 = IPFIX's IPv4 records, for reproducible sampling (none, deterministic):
    keys, counters, flags and ToS first, then the start and end times (their own category, as
    NetFlow carries them relative to the exporter's sysUpTime)."""
    by = {(r.capture, r.label or r.sampling, r.version): r for r in rows if r.stats is not None}
    for (capture, sampling, version), row in by.items():
        reference = by.get((capture, sampling, 10))
        if version == 10 or reference is None or sampling.startswith("random"):
            continue
        ref_records = reference.collect.records
        if reference.biflow:
            ref_records = uniflows(ref_records)
        if version == 5:
            want = [r for r in ref_records if ":" not in r["src"]]
            ipv6 = len(ref_records) - len(want)
            if row.unexportable != ipv6:
                row.problem("tapflow", f"{row.unexportable} flows unexportable in v5, the IPFIX "
                                       f"run has {ipv6} IPv6 flows")
        else:
            want = ref_records
        what = f"the IPFIX run's{' IPv4' if version == 5 else ''} records"
        fields = ("proto", "src", "sport", "dst", "dport", "packets", "bytes", "flags", "tos")
        missing, extra = multiset_difference(want, row.collect.records,
                                             key=lambda r: record_tuple(r, fields))
        if missing or extra:
            row.problem("collect", f"records differ from {what}: missing {missing[:3]}, "
                                   f"unexpected {extra[:3]}")
            continue
        if reference.biflow:
            continue  # collect prints no reverse times, so the split reverse uniflows have none
        fields += ("first", "last")
        missing, extra = multiset_difference(want, row.collect.records,
                                             key=lambda r: record_tuple(r, fields))
        if missing or extra:
            # Same records but other times: show a few side by side.
            pairs = []
            got_by_key = {record_tuple(r, fields[:-2]): r for r in row.collect.records}
            for m in missing[:3]:
                g = got_by_key.get(m[:-2])
                pairs.append(f"{m[0]} {m[1]}:{m[2]}->{m[3]}:{m[4]} IPFIX {ms_text(m[-2])}.."
                             f"{ms_text(m[-1])}, {FORMATS[version]} "
                             f"{ms_text(g['first']) if g else '?'}..{ms_text(g['last']) if g else '?'}")
            row.problem("collect", f"{len(missing)} of {len(want)} records have other start/end "
                                   f"times than {what}: {pairs}", category="times")


def ms_text(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --- main ----------------------------------------------------------------------------------------

def print_matrix(rows, behaviour):
    peers = ["collect", "nfcapd", "nfacctd", "tshark"]
    header = f"{'capture':<30} {'fmt':<5} {'sampling':<16} {'tapflow fl/pk/B (unexp)':<26}"
    header += "".join(f" {p + (' keys/pk/B' if p == 'nfacctd' else ' rec/pk/B'):<34}" for p in peers)
    print(header)
    print("-" * len(header))
    for r in rows:
        if r.stats is None:
            status = r.exit_error.splitlines()[-1] if r.exit_error else "not run"
            print(f"{r.capture:<30} {FORMATS[r.version]:<5} {r.sampling:<16} -- {status}")
            continue
        fl = r.stats["flows"]
        tap = f"{fl['expired']}/{fl['packets']}/{fl['octets']}"
        if r.unexportable:
            tap += f" ({r.unexportable})"
        tap = ("✗ " if r.status("tapflow") != "✓" else "") + tap
        line = f"{r.capture:<30} {FORMATS[r.version]:<5} {r.sampling:<16} {tap:<26}"
        for p in peers:
            text = r.cells.get(p)
            line += f" {(r.status(p) + ' ' + text) if text is not None else '✗ not checked':<34}"
        if r.notes:
            line += " (" + ", ".join(r.notes) + ")"
        print(line)
    print("\npeer sampling behaviour (hand-built announcement of 1-in-%d, 3 packets):" % RATE)
    for (version, mode), b in sorted(behaviour.items()):
        print(f"  {FORMATS[version]:<5} {mode:<6}: nfcapd counters x{b['nfcapd']} (sampled flag "
              f"{b['nfcapd_sampled']}), nfacctd sampling_rate {b['nfacctd_rate']}, renormalised "
              f"x{b['nfacctd_renormalised']}")


def on_signal(signum, frame):
    raise SystemExit(f"interop matrix: stopped by signal {signum}")  # runs the cleanup


def main():
    common.require_tools("nfcapd", "nfdump", "nfacctd", "pmacct", "tshark", "dumpcap", "mergecap")
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    for capture, _ in CAPTURES:
        if capture not in common.CLEAN_CAPTURES:
            common.fail(f"{capture} is not in common.CLEAN_CAPTURES")
    if os.geteuid() != 0 and subprocess.run(["dumpcap", "-D"], capture_output=True).returncode:
        print("SKIP: dumpcap cannot capture on lo (needs root or the wireshark group)")
        sys.exit(common.SKIP)
    common.raise_rmem()
    started = time.time()
    rows = []
    for version in FORMATS:
        for capture, _ in CAPTURES:
            for sampling, args in SAMPLINGS.items():
                rows.append(Row(capture, version, sampling, args))
        rows.append(Row(CAPTURES[0][0], version, *SCALED))
        # Issue 14's wide key: VLAN and MAC in the key, another MAC as a field (v9, IPFIX);
        # biflows (IPFIX: one record per connection, the reverse direction in RFC 5103 elements;
        # v9: its two uniflows); the inner flows of VXLAN tunnels (every format).
        if version != 5:
            rows.append(Row("zeek/vlan-qinqinq.pcap", version, "none",
                            ["--key", "default,vlanId,sourceMacAddress", "--fields", "destinationMacAddress"],
                            label="key:vlan,smac"))
            rows.append(Row(CAPTURES[0][0], version, "none", ["--biflow"], label="biflow"))
        for tunnelled in ("tcpdump/vxlan.pcap", "tcpdump/geneve.pcap"):
            rows.append(Row(tunnelled, version, "none", ["--decap", "all"], label="decap"))
    only = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--only=")]
    if only:
        rows = [r for r in rows if only[0] in r.name]
    failures = []
    known = {}
    keep = os.environ.get("INTEROP_MATRIX_KEEP")  # a directory to keep the peers' files in
    try:
        with (contextlib.nullcontext(keep) if keep else
              tempfile.TemporaryDirectory(prefix="interop_matrix.")) as tmp:
            try:
                behaviour = peer_sampling_behaviour(Path(tmp) / "calibration1")
            except HarnessError as e:
                # A peer that missed the hand-built records (its plugin not yet reading): once
                # more with fresh peers; a second miss is a real failure.
                print(f"calibration again: {e}", flush=True)
                behaviour = peer_sampling_behaviour(Path(tmp) / "calibration2")
            todo = rows

            def work(row, index):
                workdir = Path(tmp) / f"row{index}"
                workdir.mkdir()
                run_row(row, workdir)

            with concurrent.futures.ThreadPoolExecutor(CONCURRENT_ROWS) as pool:
                futures = [pool.submit(work, r, i) for i, r in enumerate(todo)]
                try:
                    for future in concurrent.futures.as_completed(futures):
                        future.result()  # a HarnessError stops the test
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    PROCS.kill_all()
                    raise
            ran = [r for r in todo if r.stats is not None]
            for r in todo:
                if r.stats is None:
                    failures.append(f"[{r.name}] tapflow failed: {r.exit_error} ({r.cmdline})")
            decoded, problems = tshark_decode(ran, tmp) if ran else ({}, {})
            for r in ran:
                check_tapflow(r)
                check_collect(r)
                check_nfcapd(r, behaviour, decoded)
                check_nfacctd(r, behaviour)
                check_tshark(r, decoded, problems)
            check_across_formats(ran)
            print_matrix(rows, behaviour)
            for r in ran:
                failures += [message for _, message in r.problems]
                if r.problems:
                    failures.append(f"    reproduce: {r.cmdline} (peers as in {__file__})")
            known = collections.defaultdict(list)
            for r in ran:
                for peer, category, message in r.known:
                    known[(r.version, peer, category)].append(message)
            for key, why in KNOWN_FAILURES.items():
                if key not in known and key not in SOMETIMES and not only:
                    failures.append(f"known failure {key} ({why}) no longer happens: remove it "
                                    f"from KNOWN_FAILURES")
            if known:
                print("\nknown failures (waiting for a decision, not failing the test):")
                for key, messages in known.items():
                    print(f"  {FORMATS[key[0]]} {key[1]} {key[2]}: {KNOWN_FAILURES[key]} "
                          f"({len(messages)} rows), e.g.\n    {messages[0][:400]}")
    except HarnessError as e:
        common.fail(f"harness: {e}")
    finally:
        PROCS.kill_all()
    elapsed = time.time() - started
    if failures:
        print(f"\n{len(failures)} mismatches:")
        for f in failures:
            print(f"  {f}")
        common.fail(f"interop matrix: {len(failures)} mismatches ({elapsed:.0f} s)")
    print(f"\ninterop matrix: {len(rows)} rows pass ({sum(map(len, known.values()))} known failures), "
          f"{elapsed:.0f} s")


if __name__ == "__main__":
    main()
