"""Shared helpers for tapflow's integration tests: run tapflow, start real collectors on loopback,
read back what they stored. Each test script exits 0 on success, 1 on failure, 77 to skip."""

import contextlib
import csv
import json
import re
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "pcaps"
SKIP = 77

# Captures with no malformed or truncated frames (tshark agrees with them frame by frame), used
# where totals are compared with tshark's and with collectors'.
CLEAN_CAPTURES = [
    "zeek/wikipedia.pcap",
    "ndpi/wechat.pcap",
    "ndpi/sites.pcapng",
    "tcpdump/resp_1_benchmark.pcap",
    "tcpdump/quic_handshake.pcap",
    "zeek/linux_dlt_sll2.pcap",
    "zeek/vlan-qinqinq.pcap",
    "zeek/mpls-in-vlan.pcap",
    "zeek/communityid/sctp.pcap",
    "zeek/ipv6-fragmented-dns.pcap",
    "tcpdump/ipv6-routing-header.pcap",
    "tcpdump/vrrp.pcap",
    "tcpdump/LINKTYPE_RAW_ipv6.pcap",
    "tcpdump/tcp-handshake-nano.pcap",
]


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def require_tools(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        print(f"SKIP: missing {', '.join(missing)} (scripts/setup.sh --test installs them)")
        sys.exit(SKIP)


def arg(name, default=None):
    """The value of --NAME=VALUE on the command line, or `default`."""
    for a in sys.argv[1:]:
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return default


def gen_binary():
    """bench/gen_pcap, as ctest passes it (--gen=), else the default build's."""
    return arg("gen", str(ROOT / "build" / "bench" / "gen_pcap"))


def tapflow_binary():
    for arg in sys.argv[1:]:
        if arg.startswith("--tapflow="):
            return arg.split("=", 1)[1]
    return str(ROOT / "build" / "tapflow")


def all_captures():
    return sorted(p for p in DATA.rglob("*") if p.suffix in (".pcap", ".pcapng"))


def run_tapflow(args, check=True, timeout=120):
    """Runs tapflow with `args`; returns (CompletedProcess, stats dict or None)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        stats_path = f.name
    try:
        cmd = [tapflow_binary(), "--no-progress", "--stats-json", stats_path] + [str(a) for a in args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        stats = None
        if os.path.getsize(stats_path) > 0:
            stats = json.loads(Path(stats_path).read_text())
        if check and proc.returncode != 0:
            fail(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr}")
        return proc, stats
    finally:
        os.unlink(stats_path)


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def nfcapd(port, directory, sampling=None):
    """nfcapd on 127.0.0.1:port with a large socket buffer, writing into directory. On exit it is
    stopped with SIGTERM, which makes it close its current file."""
    raise_rmem()
    cmd = ["nfcapd", "-b", "127.0.0.1", "-p", str(port), "-w", str(directory), "-B", "16000000", "-t", "3600"]
    if sampling:
        cmd += ["-s", str(sampling)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_udp_listener(port, proc)
        yield proc
    finally:
        # SIGTERM makes nfcapd close its file at once, dropping what is still queued in its
        # socket: on a loaded machine it may lag the exporter. Let it drain first.
        wait_for_udp_drained(port)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_for_udp_listener(port, proc, timeout=10):
    deadline = time.time() + timeout
    hexport = f"{port:04X}"
    while time.time() < deadline:
        if proc.poll() is not None:
            fail(f"collector exited early: {proc.stdout.read() if proc.stdout else ''}")
        for table in ("/proc/net/udp", "/proc/net/udp6"):
            with contextlib.suppress(OSError), open(table) as f:
                if any(line.split()[1].endswith(":" + hexport) for line in f.readlines()[1:]):
                    return
        time.sleep(0.05)
    fail(f"no collector listening on UDP port {port}")


def udp_receive_queue(port):
    """Octets queued on the UDP socket bound to `port`, or None if there is none."""
    hexport = f"{port:04X}"
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[1].endswith(":" + hexport):
                    return int(fields[4].split(":")[1], 16)
    return None


def wait_for_udp_drained(port, timeout=30):
    """Waits until the collector on `port` has read everything queued for it (stable empty queue)."""
    deadline = time.time() + timeout
    empty_since = None
    while time.time() < deadline:
        queued = udp_receive_queue(port)
        if not queued:
            empty_since = empty_since or time.time()
            if time.time() - empty_since >= 0.2:
                return
        else:
            empty_since = None
        time.sleep(0.05)


def process_tree(pid):
    """pid and all its descendants, from /proc/PID/task/*/children."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return pids


def wait_until_idle(pid, quiet=1.0, timeout=60.0):
    """Waits until pid and its children have been asleep, using no CPU, for `quiet` seconds (a
    process waiting for the CPU on a busy machine is runnable, state R, so it never looks idle).
    For collectors that say nothing when they are ready or have caught up: nfacctd's print
    plugin zeroes its cache after it logs its size, and reads its core's queue behind the socket."""
    def sample():
        ticks, busy = 0, False
        for p in process_tree(pid):
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
                busy |= fields[0] in ("R", "D")
                ticks += int(fields[11]) + int(fields[12])
        return ticks, busy
    deadline, last, since = time.time() + timeout, None, time.time()
    while time.time() < deadline:
        ticks, busy = sample()
        if busy or ticks != last:
            last, since = ticks, time.time()
        elif time.time() - since >= quiet:
            return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def nfacctd_print(directory, aggregate, pipe_size=None, cache_entries=262139, extra=""):
    """pmacct's nfacctd with its print plugin (CSV, written when it stops) on a free port of
    127.0.0.1, ZeroMQ between its core and the plugin (see interop_matrix.Nfacctd for why).
    Yields (port, rows): once the block ends nfacctd is stopped after its socket drained, and
    `rows` holds the CSV's rows as dicts. pipe_size None leaves the kernel's default buffer."""
    port = free_udp_port()
    output = Path(directory) / f"nfacctd-{port}.csv"
    log = Path(directory) / f"nfacctd-{port}.log"
    config = Path(directory) / f"nfacctd-{port}.conf"
    config.write_text(f"""daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: {port}
{f"nfacctd_pipe_size: {pipe_size}" if pipe_size else ""}
plugin_pipe_zmq: true
plugins: print
print_output: csv
print_output_file: {output}
print_refresh_time: 3600
print_cache_entries: {cache_entries}
aggregate: {aggregate}
{extra}
""")
    with open(log, "w") as out:
        proc = subprocess.Popen(["nfacctd", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        # Data before the plugin is up is lost: it logs its cache, then allocates it.
        deadline = time.time() + 10
        while not all(n in log.read_text() for n in ("waiting for NetFlow/IPFIX data", "base cache memory")):
            if proc.poll() is not None or time.time() > deadline:
                fail(f"nfacctd did not start: {log.read_text()[-600:]}")
            time.sleep(0.05)
        # No line says when the plugin reads its queue: it zeroes its cache first (about 1 GB at
        # the default 262139 entries), which on a busy machine took longer than a fixed 3 s
        # (the plugin then stored nothing, or half of a 1 M-packet run). Wait until it sleeps.
        if not wait_until_idle(proc.pid):
            fail(f"nfacctd did not settle within 60 s after it started: {log.read_text()[-600:]}")
        rows = []
        yield port, rows
        wait_for_udp_drained(port)
        # The core hands the last datagrams to the plugin, which may be far behind it: a SIGINT
        # before it caught up loses what its queue still held.
        if not wait_until_idle(proc.pid):
            fail("nfacctd was still busy 60 s after its socket drained")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        # The plugin writes its file as it exits, after the core: until its size holds for a second.
        deadline, size, still = time.time() + 30, -1, 0
        while time.time() < deadline and still < 10:
            now = output.stat().st_size if output.exists() else -1
            still = still + 1 if now == size and now > 0 else 0
            size = now
            time.sleep(0.1)
        if output.exists():
            with output.open() as f:
                rows.extend(csv.DictReader(f))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def raise_rmem():
    """Collectors on loopback drop bursts with the default 208 KB buffer; let them have 16 MB."""
    with contextlib.suppress(OSError):
        path = Path("/proc/sys/net/core/rmem_max")
        if int(path.read_text()) < 16000000:
            path.write_text("16000000\n")


def nfdump_flows(directory):
    """All flows nfcapd stored under directory, as dicts keyed by nfdump's CSV column names."""
    files = sorted(p for p in Path(directory).rglob("nfcapd.*") if ".current." not in p.name)
    flows = []
    for path in files:
        out = subprocess.run(["nfdump", "-r", str(path), "-o", "csv", "-N"], capture_output=True,
                             text=True, check=True).stdout
        flows += parse_nfdump_csv(out)
    return flows


def parse_nfdump_csv(text):
    lines = [l for l in text.splitlines() if l.strip()]
    if not lines:
        return []
    header = None
    rows = []
    for line in lines:
        cols = line.split(",")
        if cols[0] == "ts":
            header = cols
            continue
        # Flow rows start with a date; the summary nfdump appends does not.
        if header is None or len(cols) < len(header) or not re.match(r"\d{4}-\d\d-\d\d ", cols[0]):
            continue
        rows.append(dict(zip(header, cols)))
    return rows


def tshark_capture_totals(capture):
    """Packets and layer-3 octets of the IPv4/IPv6 packets in a capture, as tshark decodes it
    (outermost IP header only)."""
    out = subprocess.run(["tshark", "-r", str(capture), "-n", "-Y", "ip or ipv6", "-T", "fields",
                          "-E", "occurrence=f", "-e", "ip.len", "-e", "ipv6.plen"],
                         capture_output=True, text=True, check=True).stdout
    packets = octets = 0
    for line in out.splitlines():
        ip_len, ipv6_plen = (line.split("\t") + ["", ""])[:2]
        packets += 1
        octets += int(ip_len) if ip_len else int(ipv6_plen) + 40
    return packets, octets


def tshark_problems(path, extra=()):
    """Frames tshark flags as malformed or with an expert error, decoding `path`."""
    out = subprocess.run(["tshark", "-r", str(path), "-n", *extra, "-Y",
                          "_ws.malformed or _ws.expert.severity >= error", "-T", "fields",
                          "-e", "frame.number", "-e", "_ws.expert.message"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return [f"tshark exited {out.returncode}: {out.stderr.strip()}"]
    return [l for l in out.stdout.splitlines() if l.strip()]


def collect_file_records(path):
    """The data records `tapflow collect` reads from one IPFIX file on its own; fails when it cannot
    read it or a data set comes before its template (the file is not self-describing)."""
    proc = subprocess.run([tapflow_binary(), "collect", "--listen", f"file:{path}"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        fail(f"collect cannot read {path} on its own: {proc.stderr}")
    m = re.search(r"(\d+) data sets without template", proc.stderr)
    if not m or m.group(1) != "0":
        fail(f"{path}: data before its template: {proc.stderr}")
    return len([l for l in proc.stdout.splitlines() if l.strip()])


# A python3 -c program: UDP datagrams to the discard port, 100 a second, from four source ports.
UDP_DISCARD_SENDER = ("import socket, time\n"
                      "socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]\n"
                      "while True:\n"
                      "    for s in socks: s.sendto(b'x' * 64, ('127.0.0.1', 9))\n"
                      "    time.sleep(0.04)\n")


@contextlib.contextmanager
def loopback_netns(prefix, why):
    """A network namespace of our own with its loopback up, deleted afterwards; exits 77 when not
    root (`why` says what needs it) or namespaces are missing."""
    if os.geteuid() != 0:
        print(f"SKIP: needs root ({why})")
        sys.exit(SKIP)
    ns = f"{prefix}{uuid.uuid4().hex[:6]}"
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
        print("SKIP: cannot create a network namespace")
        sys.exit(SKIP)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
