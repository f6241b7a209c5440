#!/usr/bin/env python3
"""IPFIX over SCTP for real, in a VM: the host kernel has no SCTP, so this boots the Debian kernel
(package linux-image-amd64) under qemu (TCG; KVM is not needed) with a small initramfs built here:
busybox-static, the modules SCTP needs (crc32c_generic, libcrc32c, udp_tunnel, ip6_udp_tunnel,
sctp), tapflow with its shared libraries, optionally the unit-test binary, and a capture.

In the guest:
  1. tapflow exports to sctp://127.0.0.1:4739 before any collector listens: it must say once that
     it cannot associate, count every message as a send error and exit 0;
  2. `tapflow collect --listen sctp://127.0.0.1:4739` runs, tapflow exports the capture to it, and
     the records, packets and octets collect prints must equal what tapflow's --stats-json says
     it exported, with no send error, gap, malformed message or data before its template;
  3. live: tapflow exports pings on lo every second; the collector is killed mid-way and another
     starts later: one 'lost' and one 'again' line, failures counted meanwhile, and the new
     collector gets templates before data (a new association, a new template session);
  4. the SCTP unit tests run against the real kernel (whole messages on stream 0, a collector
     that is down and comes up, an ABORTed association noticed before sending and templates on
     the next one, collect receiving every record); they skip on the host.
The guest prints each result between markers and powers off; this script parses the console,
prints PASS or FAIL and exits 0 or 1 (77 = skipped: no qemu, kernel, modules or busybox-static).

Usage: sctp_vm_test.py --tapflow=build/tapflow [--unit-tests=build/tests/tapflow_unit_tests]
       [--pcap=tests/data/pcaps/ndpi/wechat.pcap] [--timeout=300] [--keep]
Kernel and modules: the newest /boot/vmlinuz-* and /lib/modules/<its version>, or
TAPFLOW_VM_KERNEL=/path/vmlinuz-VERSION and TAPFLOW_VM_MODULES=/path/lib/modules/VERSION, e.g. from
a kernel package unpacked without installing it (seconds instead of minutes, 9 MB kept):
  apt-get download linux-image-6.1.0-NN-amd64 && dpkg-deb -x linux-image-*.deb /tmp/kernel
"""

import argparse
import gzip
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP = 77
MODULES = ["crc32c_generic", "libcrc32c", "udp_tunnel", "ip6_udp_tunnel", "sctp"]  # insmod order
PORT = 4739

GUEST_INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
mkdir -p /run  # tapflow's control socket when live
echo "VM: booted $(uname -r)"
for m in MODULE_LIST; do
  insmod /modules/$m.ko || echo "VM: insmod $m failed"
done
ip link set lo up
cd /tmp
section() { echo "=== BEGIN $1"; cat "$2"; echo "=== END $1"; }

# 1. Nobody listening yet: refused, counted, exit 0.
/tapflow --no-progress -r /capture.pcap -n sctp://127.0.0.1:PORT --stats-json /tmp/down.json 2>/tmp/down.err >/dev/null
echo "VM: exit down $?"
section down.json /tmp/down.json
section down.err /tmp/down.err

# 2. The round trip.
/tapflow collect --listen sctp://127.0.0.1:PORT --idle-timeout 3000 >/tmp/collect.txt 2>/tmp/collect.err &
collector=$!
sleep 1
/tapflow --no-progress -r /capture.pcap -n sctp://127.0.0.1:PORT --stats-json - 2>/tmp/export.err >/tmp/export.json
echo "VM: exit export $?"
wait $collector
echo "VM: exit collect $?"
section export.json /tmp/export.json
section export.err /tmp/export.err
section collect.txt /tmp/collect.txt
section collect.err /tmp/collect.err

# 3. Live: pings on lo exported every second; the collector is killed mid-way and a new one
#    comes up later. tapflow must log the loss and the new association once each, and the new
#    collector must get templates before data.
#    Live export sends a message when it is full, so small messages (--mtu 576) and pings to
#    four addresses keep messages going every second or so.
pingers=""
for address in 127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4; do
  ping -q -i 0.2 $address >/dev/null 2>&1 &
  pingers="$pingers $!"
done
/tapflow collect --listen sctp://127.0.0.1:PORT >/tmp/first.txt 2>/tmp/first.err &
first=$!
sleep 1
/tapflow --no-progress -i lo --active-timeout 1 --inactive-timeout 1 --immediate --mtu 576 -n sctp://127.0.0.1:PORT \
  --stats-json /tmp/live.json icmp 2>/tmp/live.err >/dev/null &
live=$!
sleep 5
kill -TERM $first  # it closes its socket: the kernel shuts the association down
wait $first
sleep 4
/tapflow collect --listen sctp://127.0.0.1:PORT >/tmp/second.txt 2>/tmp/second.err &
second=$!
sleep 5
kill -INT $live
wait $live
echo "VM: exit live $?"
kill $pingers
kill -TERM $second
wait $second
echo "VM: records first $(grep -c ' packets ' /tmp/first.txt) second $(grep -c ' packets ' /tmp/second.txt)"
section live.json /tmp/live.json
section live.err /tmp/live.err
section first.err /tmp/first.err
section second.err /tmp/second.err

# 4. The unit tests that need a real SCTP kernel.
if [ -x /unit_tests ]; then
  /unit_tests --gtest_filter='Sctp*' --gtest_brief=1 >/tmp/unit.txt 2>&1
  echo "VM: exit unit $?"
  section unit.txt /tmp/unit.txt
fi
echo "VM: guest done after $(cut -d' ' -f1 /proc/uptime) s of guest uptime"
poweroff -f
"""


def skip(message):
    print(f"SKIP: {message}", flush=True)
    sys.exit(SKIP)


def fail(message, console=None):
    if console is not None:
        print("---- guest console ----\n" + console + "\n---- end of console ----")
    print(f"SCTP VM TEST: FAIL: {message}", flush=True)
    sys.exit(1)


def find_kernel():
    kernel = os.environ.get("TAPFLOW_VM_KERNEL")
    unpacked = sorted((ROOT / "build-vm" / "boot").glob("vmlinuz-*"))
    if kernel:
        kernel = Path(kernel)
    elif unpacked:
        # scripts/setup.sh with TAPFLOW_VM_TESTS=1 unpacks the Debian kernel package here.
        kernel = unpacked[-1]
        os.environ.setdefault("TAPFLOW_VM_MODULES",
                              str(ROOT / "build-vm" / "lib" / "modules" / kernel.name.removeprefix("vmlinuz-")))
    else:
        candidates = sorted(Path("/boot").glob("vmlinuz-*"), key=lambda p: p.stat().st_mtime)
        if not candidates:
            skip("no kernel image in /boot (TAPFLOW_VM_TESTS=1 scripts/setup.sh installs linux-image-amd64)")
        kernel = candidates[-1]
    if not kernel.is_file() or not os.access(kernel, os.R_OK):
        skip(f"cannot read kernel image {kernel}")
    version = kernel.name.removeprefix("vmlinuz-")
    modules = Path(os.environ.get("TAPFLOW_VM_MODULES", f"/lib/modules/{version}"))
    if not modules.is_dir():
        skip(f"no modules for kernel {version} in {modules}")
    return kernel, modules


def module_files(modules_dir):
    """Maps each needed module's name to its file: from modules.dep when depmod wrote one, else by
    walking the tree (a kernel package unpacked with dpkg-deb -x has no modules.dep)."""
    if (modules_dir / "modules.dep").is_file():
        paths = [modules_dir / line.split(":", 1)[0] for line in (modules_dir / "modules.dep").read_text().splitlines()]
    else:
        paths = list(modules_dir.rglob("*.ko*"))
    found = {}
    for path in paths:
        name = re.sub(r"\.ko(\.(xz|gz|zst))?$", "", path.name)
        if name in MODULES:
            found[name] = path
    missing = [m for m in MODULES if m not in found]
    if missing:
        skip(f"kernel modules missing from {modules_dir}: {', '.join(missing)}")
    return found


def module_bytes(path):
    data = path.read_bytes()
    if path.suffix == ".xz":
        return lzma.decompress(data)
    if path.suffix == ".gz":
        return gzip.decompress(data)
    if path.suffix == ".zst":
        zstd = shutil.which("zstd") or skip("zstd-compressed modules and no zstd")
        return subprocess.run([zstd, "-dc", str(path)], capture_output=True, check=True).stdout
    return data


def shared_libraries(binary):
    """The files `ldd` lists for a binary, the dynamic loader included."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if out.returncode != 0:
        return []  # static
    paths = []
    for line in out.stdout.splitlines():
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(0x", line)
        if m:
            paths.append(m.group(1))
    return paths


class Cpio:
    """An initramfs in the kernel's "newc" cpio format, written without cpio or root."""

    def __init__(self):
        self.parts = []
        self.inode = 1
        self.dirs = set()

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        fields = [self.inode, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
        self.inode += 1
        header = b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"
        header += b"\0" * (-len(header) % 4)
        self.parts += [header, data, b"\0" * (-len(data) % 4)]

    def directory(self, name):
        name = name.strip("/")
        parent = os.path.dirname(name)
        if parent and parent not in self.dirs:
            self.directory(parent)
        if name and name not in self.dirs:
            self.dirs.add(name)
            self._entry(name, 0o040755)

    def file(self, name, data, mode=0o755):
        name = name.strip("/")
        self.directory(os.path.dirname(name))
        self._entry(name, 0o100000 | mode, data)

    def symlink(self, name, target):
        self._entry(name.strip("/"), 0o120777, target.encode())

    def char_device(self, name, major, minor):
        self._entry(name.strip("/"), 0o020600, rdev=(major, minor))

    def archive(self):
        self._entry("TRAILER!!!", 0)
        return gzip.compress(b"".join(self.parts), compresslevel=1)


def build_initramfs(busybox, tapflow, unit_tests, capture, modules):
    cpio = Cpio()
    for d in ("bin", "usr/bin", "proc", "sys", "dev", "tmp", "modules"):
        cpio.directory(d)
    cpio.char_device("dev/console", 5, 1)
    cpio.char_device("dev/null", 1, 3)
    cpio.file("bin/busybox", Path(busybox).read_bytes())
    cpio.symlink("bin/sh", "busybox")
    init = GUEST_INIT.replace("MODULE_LIST", " ".join(MODULES)).replace("PORT", str(PORT))
    cpio.file("init", init.encode())
    for name, path in modules.items():
        cpio.file(f"modules/{name}.ko", module_bytes(path), 0o644)
    libraries = set()
    for binary, name in ((tapflow, "tapflow"), (unit_tests, "unit_tests")):
        if binary is None:
            continue
        cpio.file(name, Path(binary).read_bytes())
        libraries.update(shared_libraries(binary))
    for library in sorted(libraries):
        cpio.file(library, Path(library).read_bytes())  # the real file under the name ldd gives
    cpio.file("capture.pcap", Path(capture).read_bytes(), 0o644)
    return cpio.archive()


def sections(console):
    return {m.group(1): m.group(2) for m in re.finditer(r"=== BEGIN (\S+)\r?\n(.*?)=== END \1", console, re.S)}


def exit_code(console, step):
    m = re.search(rf"VM: exit {step} (\d+)", console)
    return int(m.group(1)) if m else None


def collect_totals(text):
    records = packets = octets = 0
    for line in text.splitlines():
        m = re.search(r" packets (\d+) bytes (\d+) ", line)
        if m:
            records += 1
            packets += int(m.group(1))
            octets += int(m.group(2))
    return records, packets, octets


def check(console, with_unit_tests):
    console = console.replace("\r\n", "\n")
    if "VM: guest done" not in console:
        fail("the guest did not finish (no 'VM: guest done' on the console)", console)
    if "insmod" in console and re.search(r"VM: insmod \S+ failed", console):
        fail("a kernel module did not load", console)
    killed = [f"{step} ({code - 128})" for step in ("down", "export", "collect", "live", "unit")
              if (code := exit_code(console, step)) is not None and code > 128]
    if killed:
        fail(f"a program in the guest died of a signal: {', '.join(killed)} (4 = SIGILL: an instruction "
             "the VM's CPU lacks)", console)
    s = sections(console)
    problems = []

    # 1. collector down
    try:
        down = json.loads(s.get("down.json", ""))["exporters"][0]
    except (ValueError, KeyError, IndexError):
        fail("no statistics from the run without a collector", console)
    down_err = s.get("down.err", "")
    # every record was lost: exit status 4 says so (tapflow(8), EXIT STATUS)
    if exit_code(console, "down") != 4:
        problems.append(f"collector down: tapflow exited {exit_code(console, 'down')}, expected 4")
    if down_err.count("cannot associate") != 1:
        problems.append(f"collector down: expected one 'cannot associate' line, got: {down_err!r}")
    if down["records"] == 0 or down["send_errors"] != down["messages"]:
        problems.append(f"collector down: not every message counted unsent: {down}")

    # 2. round trip
    try:
        stats = json.loads(s.get("export.json", ""))
        exporter = stats["exporters"][0]
    except (ValueError, KeyError, IndexError):
        fail("no statistics from the export run", console)
    want = (exporter["records"], stats["flows"]["packets"], stats["flows"]["octets"])
    got = collect_totals(s.get("collect.txt", ""))
    collect_err = s.get("collect.err", "")
    if exit_code(console, "export") != 0 or exit_code(console, "collect") != 0:
        problems.append(f"round trip: tapflow exited {exit_code(console, 'export')}, "
                        f"collect exited {exit_code(console, 'collect')}")
    if exporter["send_errors"] != 0:
        problems.append(f"round trip: {exporter['send_errors']} send errors: {s.get('export.err', '')!r}")
    if got != want or want[0] == 0:
        problems.append(f"round trip: collect received {got} (records, packets, octets), tapflow exported {want}")
    m = re.search(r"(\d+) sequence gaps .* (\d+) malformed messages, (\d+) data sets without template", collect_err)
    if not m or m.groups() != ("0", "0", "0"):
        problems.append(f"round trip: collect reports problems: {collect_err!r}")
    if "listening on SCTP" not in collect_err or "connection from" not in collect_err:
        problems.append(f"round trip: collect did not accept an SCTP association: {collect_err!r}")

    # 3. collector killed mid-way, another one later
    live_err = s.get("live.err", "")
    second_err = s.get("second.err", "")
    m = re.search(r"VM: records first (\d+) second (\d+)", console)
    first_records, second_records = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    try:
        live = json.loads(s.get("live.json", ""))["exporters"][0]
    except (ValueError, KeyError, IndexError):
        live = None
    # records sent while no collector was there are lost: exit 4, or 0 if none was
    live_expected = 4 if live is not None and live["records_unsent"] > 0 else 0
    if exit_code(console, "live") != live_expected or live is None:
        problems.append(f"collector killed: live tapflow exited {exit_code(console, 'live')}, "
                        f"expected {live_expected}: {live_err!r}")
    elif live["send_errors"] == 0:
        problems.append(f"collector killed: no send error counted while it was away: {live}")
    if live_err.count("lost") != 1 or live_err.count("again") != 1:
        problems.append(f"collector killed: expected one 'lost' and one 'again' line, got: {live_err!r}")
    if first_records == 0 or second_records == 0:
        problems.append(f"collector killed: records before {first_records}, after {second_records}")
    m = re.search(r"(\d+) templates, (?:\d+ options records, )?(\d+) sequence gaps .* (\d+) data sets without template", second_err)
    if not m or m.group(1) == "0" or m.group(2) != "0" or m.group(3) != "0":
        problems.append(f"collector killed: the new collector did not get templates first: {second_err!r}")

    # 4. unit tests
    unit = s.get("unit.txt", "")
    if with_unit_tests:
        passed = re.search(r"\[  PASSED  \] (\d+) test", unit)
        skipped = re.search(r"\[  SKIPPED \] (\d+) test", unit)
        if exit_code(console, "unit") != 0 or not passed:
            problems.append(f"unit tests in the guest failed:\n{unit}")
        # Only the no-kernel test may skip in a kernel with SCTP.
        elif skipped and int(skipped.group(1)) > 1:
            problems.append(f"unit tests skipped in the guest although it has SCTP:\n{unit}")

    if problems:
        fail("\n  ".join(problems), console)
    uptime = re.search(r"VM: guest done after (\S+) s", console).group(1)
    summary = [f"guest: booted, loaded SCTP and ran everything in {uptime} s of guest uptime",
               f"collector down: {down['messages']} messages / {down['records']} records counted unsent, "
               f"one log line",
               f"round trip: {got[0]} records, {got[1]} packets, {got[2]} octets: collect = tapflow",
               f"collector killed mid-way: {first_records} records before, {second_records} after to a new "
               f"collector (templates first), {live['send_errors']} messages counted failed in between, "
               f"one 'lost' and one 'again' line"]
    if with_unit_tests:
        summary.append("unit tests in the guest: " + (re.search(r"\[  PASSED  \] .*", unit).group(0)))
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tapflow", default=str(ROOT / "build" / "tapflow"))
    parser.add_argument("--unit-tests", default=None)
    parser.add_argument("--pcap", default=str(ROOT / "tests" / "data" / "pcaps" / "ndpi" / "wechat.pcap"))
    parser.add_argument("--timeout", type=int, default=300, help="seconds before the VM is killed")
    parser.add_argument("--keep", action="store_true", help="keep the initramfs and console log")
    args = parser.parse_args()

    qemu = shutil.which("qemu-system-x86_64") or skip("no qemu-system-x86_64 (TAPFLOW_VM_TESTS=1 scripts/setup.sh)")
    busybox = next((p for p in ("/bin/busybox", "/usr/bin/busybox") if Path(p).is_file()), None)
    if busybox is None or shared_libraries(busybox):
        skip("no static busybox (package busybox-static)")
    kernel, modules_dir = find_kernel()
    modules = module_files(modules_dir)
    for binary in (args.tapflow, args.unit_tests):
        if binary is not None and not Path(binary).is_file():
            fail(f"no such binary: {binary}")

    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="tapflow_sctp_vm_"))
    try:
        initramfs = tmp / "initramfs.cpio.gz"
        initramfs.write_bytes(build_initramfs(busybox, args.tapflow, args.unit_tests, args.pcap, modules))
        built = time.monotonic()
        # -cpu max: the build links Debian's DPDK, whose libraries need SSE4.2 from the moment they
        # load; TCG's default CPU (qemu64) lacks it and every tapflow run died of SIGILL (exit 132).
        cmd = [qemu, "-accel", "tcg", "-cpu", "max", "-m", "1024", "-smp", "1", "-nographic", "-no-reboot",
               "-kernel", str(kernel), "-initrd", str(initramfs),
               "-append", "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init"]
        print(f"VM: kernel {kernel}, initramfs {initramfs.stat().st_size // 1024} KiB built in "
              f"{built - started:.1f} s; booting", flush=True)
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=args.timeout)
            console = proc.stdout.decode(errors="replace")
        except subprocess.TimeoutExpired as e:
            console = (e.stdout or b"").decode(errors="replace")
            fail(f"the VM did not power off within {args.timeout} s", console)
        elapsed = time.monotonic() - built
        (tmp / "console.log").write_text(console)
        if proc.returncode != 0:
            fail(f"qemu exited {proc.returncode}: {proc.stderr.decode(errors='replace')}", console)
        for line in check(console, args.unit_tests is not None):
            print(line)
        print(f"SCTP VM TEST: PASS (VM ran {elapsed:.1f} s, {time.monotonic() - started:.1f} s in all)", flush=True)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
