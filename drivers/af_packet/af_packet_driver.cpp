#include "drivers/af_packet/af_packet_driver.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace tapflow::drivers {

namespace {

std::runtime_error open_error(const std::string& name, const std::string& what) {
  return std::runtime_error("cannot capture on '" + name + "': " + what);
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

std::uint64_t realtime_ns() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(now.tv_nsec);
}

bool interface_exists(unsigned kernel_index) {
  char name[IF_NAMESIZE] = {};
  return kernel_index == 0 || if_indextoname(kernel_index, name) != nullptr;
}

// The filter, compiled by libpcap on an activated handle of the interface: on Linux that handle
// compiles `vlan` and friends with the kernel's BPF extensions, because the kernel has taken the
// tag off before the filter runs. Every accept value is cut to the snapshot length, so the kernel
// copies no more than that into the ring. Also returns the link type (Ethernet only).
std::vector<sock_filter> compile_filter(const LiveInterface& itf, const AfPacketOptions& options) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_create(itf.name.c_str(), errbuf);
  if (p == nullptr) throw open_error(itf.name, errbuf);
  struct Closer {
    pcap_t* p;
    ~Closer() { pcap_close(p); }
  } closer{p};
  pcap_set_snaplen(p, options.snaplen);
  pcap_set_buffer_size(p, 1 << 16);  // only compiles; its own ring stays small
  const int rc = pcap_activate(p);
  if (rc < 0) {
    throw open_error(itf.name, rc == PCAP_ERROR_NO_SUCH_DEVICE    ? "no such device"
                               : rc == PCAP_ERROR_PERM_DENIED     ? "permission denied (run as root or give CAP_NET_RAW)"
                               : rc == PCAP_ERROR_IFACE_NOT_UP    ? "interface is down"
                                                                  : pcap_geterr(p));
  }
  if (pcap_datalink(p) != DLT_EN10MB) {
    throw open_error(itf.name, fmt::format("--rx-queues above 1 captures Ethernet interfaces only (this one is {}); "
                                           "use --rx-queues 1",
                                           pcap_datalink_val_to_name(pcap_datalink(p)) != nullptr
                                               ? pcap_datalink_val_to_name(pcap_datalink(p))
                                               : std::to_string(pcap_datalink(p))));
  }
  const auto snaplen = static_cast<std::uint32_t>(options.snaplen);
  std::vector<sock_filter> program;
  if (options.filter.empty()) {
    program.push_back(sock_filter{BPF_RET | BPF_K, 0, 0, snaplen});
    return program;
  }
  bpf_program compiled{};
  if (pcap_compile(p, &compiled, options.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    throw std::runtime_error("bad capture filter '" + options.filter + "': " + pcap_geterr(p));
  }
  for (unsigned i = 0; i < compiled.bf_len; ++i) {
    const bpf_insn& in = compiled.bf_insns[i];
    sock_filter out{in.code, in.jt, in.jf, in.k};
    if (BPF_CLASS(out.code) == BPF_RET && BPF_RVAL(out.code) == BPF_K && out.k != 0) out.k = std::min(out.k, snaplen);
    program.push_back(out);
  }
  pcap_freecode(&compiled);
  return program;
}

void attach(int fd, const std::vector<sock_filter>& program, const std::string& name) {
  sock_fprog fprog{static_cast<unsigned short>(program.size()), const_cast<sock_filter*>(program.data())};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) != 0) {
    throw open_error(name, errno_text("cannot attach the filter"));
  }
}

// Ring geometry: blocks of up to 1 MiB (a power of two, at least 8 per ring), as many as the ring
// size holds.
struct Geometry {
  unsigned block_size;
  unsigned block_nr;
  unsigned frame_size;
};

Geometry geometry(std::size_t ring_bytes, int snaplen) {
  const auto page = static_cast<unsigned>(sysconf(_SC_PAGESIZE));
  const unsigned frame_size = TPACKET_ALIGN(static_cast<unsigned>(TPACKET3_HDRLEN) + static_cast<unsigned>(snaplen) + 16);
  unsigned block = 1u << 20;
  while (block > page && ring_bytes / block < 8) block /= 2;
  block = std::max(block, page);
  while (block < frame_size * 2) block *= 2;
  const auto nr = static_cast<unsigned>(std::max<std::size_t>(2, ring_bytes / block));
  return {block, nr, frame_size};
}

}  // namespace

// One queue: socket q of every interface.
class AfPacketQueue final : public RxQueue {
 public:
  AfPacketQueue(unsigned index, const std::vector<LiveInterface>& interfaces) : index_(index) {
    rings_.resize(interfaces.size());
    for (std::size_t i = 0; i < interfaces.size(); ++i) {
      rings_[i].itf = interfaces[i];
      rings_[i].kernel_index = if_nametoindex(interfaces[i].name.c_str());
    }
  }

  ~AfPacketQueue() override {
    for (auto& r : rings_) close_ring(r);
  }

  // Opens this queue's socket on interface i and joins (or, for queue 0, creates) its fanout
  // group; the socket drops everything until the driver attaches the real filter.
  void open(std::size_t i, const AfPacketOptions& options, std::uint16_t& fanout_id);
  void attach_filter(std::size_t i, const std::vector<sock_filter>& program) {
    attach(rings_[i].fd, program, rings_[i].itf.name);
  }
  void finish_open(int snaplen) {
    snaplen_ = static_cast<std::size_t>(snaplen);
    open_ = rings_.size();
  }

  PollOutcome poll(std::span<Frame> frames, std::size_t& count, int timeout_ms) override;
  QueueCounters counters() const override;
  bool has_events() const override { return !events_.empty(); }
  std::vector<DriverEvent> take_events() override { return std::exchange(events_, {}); }
  bool failed() const override { return open_ == 0; }

 private:
  struct Ring {
    LiveInterface itf;
    unsigned kernel_index = 0;
    int fd = -1;
    std::uint8_t* map = nullptr;
    std::size_t map_size = 0;
    unsigned block_size = 0;
    unsigned block_nr = 0;
    unsigned current = 0;                 // the block being read, or the next one to read
    bool in_block = false;
    std::uint32_t left = 0;               // packets still to read in the current block
    const std::uint8_t* next = nullptr;   // the next packet's header in it
    unsigned release_first = 0;           // blocks read out, returned to the kernel at the next poll
    unsigned release_count = 0;
    InterfaceState state = InterfaceState::kCapturing;
    std::uint64_t went_down = 0;
    std::uint64_t down_since_ns = 0;
    std::uint64_t checked_ns = 0;         // when a down interface was last looked for
    // PACKET_STATISTICS resets on every read: the sums so far.
    mutable std::uint64_t packets = 0;
    mutable std::uint64_t drops = 0;
    mutable std::uint64_t freezes = 0;
  };

  void release(Ring& r);
  std::size_t take(Ring& r, std::span<Frame> frames, std::size_t n);
  bool wait(int timeout_ms);
  void check_socket(std::size_t i);
  void went_down(std::size_t i);
  void close_interface(std::size_t i, const std::string& why);
  void close_ring(Ring& r);
  void read_stats(const Ring& r) const;
  void event(DriverEvent e) {
    if (index_ == 0) events_.push_back(std::move(e));
  }

  unsigned index_;
  std::vector<Ring> rings_;
  std::size_t open_ = 0;
  std::size_t snaplen_ = 0;
  std::vector<DriverEvent> events_;
  std::unique_ptr<std::uint8_t[]> arena_;  // frames whose VLAN tag is put back, this batch
  std::size_t arena_capacity_ = 0;
  std::size_t arena_used_ = 0;
};

void AfPacketQueue::open(std::size_t i, const AfPacketOptions& options, std::uint16_t& fanout_id) {
  Ring& r = rings_[i];
  const std::string& name = r.itf.name;
  if (r.kernel_index == 0) throw open_error(name, "no such device");
  // Protocol 0: nothing arrives before bind; then only what the filter passes (nothing yet).
  r.fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (r.fd < 0) {
    throw open_error(name, errno == EPERM ? std::string("permission denied (run as root or give CAP_NET_RAW)")
                                          : errno_text("socket"));
  }
  attach(r.fd, {sock_filter{BPF_RET | BPF_K, 0, 0, 0}}, name);
  const int version = TPACKET_V3;
  if (setsockopt(r.fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0) {
    throw open_error(name, errno_text("TPACKET_V3"));
  }
  const Geometry g = geometry(options.ring_bytes, options.snaplen);
  tpacket_req3 req{};
  req.tp_block_size = g.block_size;
  req.tp_block_nr = g.block_nr;
  req.tp_frame_size = g.frame_size;
  req.tp_frame_nr = (g.block_size / g.frame_size) * g.block_nr;
  req.tp_retire_blk_tov = options.immediate ? 1 : 100;
  if (setsockopt(r.fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0) {
    throw open_error(name, errno_text(fmt::format("cannot set up a {} MiB ring", (std::size_t{g.block_size} * g.block_nr) >> 20).c_str()));
  }
  r.block_size = g.block_size;
  r.block_nr = g.block_nr;
  r.map_size = std::size_t{g.block_size} * g.block_nr;
  void* map = mmap(nullptr, r.map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED | MAP_POPULATE, r.fd, 0);
  if (map == MAP_FAILED) map = mmap(nullptr, r.map_size, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, 0);
  if (map == MAP_FAILED) throw open_error(name, errno_text("mmap of the ring"));
  r.map = static_cast<std::uint8_t*>(map);
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = static_cast<int>(r.kernel_index);
  if (::bind(r.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    throw open_error(name, errno == ENODEV ? std::string("no such device") : errno_text("bind"));
  }
  if (options.promiscuous) {
    packet_mreq mreq{};
    mreq.mr_ifindex = static_cast<int>(r.kernel_index);
    mreq.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(r.fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0) {
      throw open_error(name, errno_text("promiscuous mode"));
    }
  }
  // The first socket asks the kernel for a group id nobody else uses (another tapflow on the
  // same interface must not share its packets with us); the others join it.
  constexpr unsigned kMode = PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG;
  unsigned arg = fanout_id | (kMode << 16);
  if (index_ == 0) arg = (kMode | PACKET_FANOUT_FLAG_UNIQUEID) << 16;
  if (setsockopt(r.fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0) {
    throw open_error(name, errno_text("cannot join a PACKET_FANOUT_HASH group"));
  }
  if (index_ == 0) {
    unsigned got = 0;
    socklen_t len = sizeof got;
    if (getsockopt(r.fd, SOL_PACKET, PACKET_FANOUT, &got, &len) != 0) {
      throw open_error(name, errno_text("cannot read the fanout group id"));
    }
    fanout_id = static_cast<std::uint16_t>(got & 0xffff);
  }
}

void AfPacketQueue::release(Ring& r) {
  for (unsigned k = 0; k < r.release_count; ++k) {
    auto* block = reinterpret_cast<tpacket_block_desc*>(r.map + std::size_t{(r.release_first + k) % r.block_nr} * r.block_size);
    __atomic_store_n(&block->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  }
  r.release_count = 0;
}

// Reads frames from ring r into frames[n...], block after block, and returns the new n.
std::size_t AfPacketQueue::take(Ring& r, std::span<Frame> frames, std::size_t n) {
  while (n < frames.size()) {
    if (!r.in_block) {
      auto* block = reinterpret_cast<tpacket_block_desc*>(r.map + std::size_t{r.current} * r.block_size);
      if ((__atomic_load_n(&block->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) break;
      r.in_block = true;
      r.left = block->hdr.bh1.num_pkts;
      r.next = reinterpret_cast<const std::uint8_t*>(block) + block->hdr.bh1.offset_to_first_pkt;
    }
    while (r.left != 0 && n < frames.size()) {
      const auto* h = reinterpret_cast<const tpacket3_hdr*>(r.next);
      const std::uint8_t* data = r.next + h->tp_mac;
      std::size_t caplen = h->tp_snaplen;
      std::uint32_t wire = h->tp_len;
      if ((h->tp_status & TP_STATUS_VLAN_VALID) && caplen >= 12) {
        // The kernel took the tag off; put it back after the MAC addresses.
        if (arena_capacity_ - arena_used_ < caplen + 4) break;
        std::uint8_t* out = arena_.get() + arena_used_;
        const std::uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid : ETH_P_8021Q;
        std::memcpy(out, data, 12);
        out[12] = static_cast<std::uint8_t>(tpid >> 8);
        out[13] = static_cast<std::uint8_t>(tpid);
        out[14] = static_cast<std::uint8_t>(h->hv1.tp_vlan_tci >> 8);
        out[15] = static_cast<std::uint8_t>(h->hv1.tp_vlan_tci);
        std::memcpy(out + 16, data + 12, caplen - 12);
        data = out;
        caplen += 4;
        wire += 4;
        arena_used_ += caplen;
      }
      Frame& f = frames[n++];
      f.data = {data, caplen};
      f.wire_length = wire;
      f.timestamp_ns = std::uint64_t{h->tp_sec} * 1'000'000'000ull + h->tp_nsec;
      f.ingress_interface = r.itf.if_index;
      f.link_type = kLinkTypeEthernet;
      r.next += h->tp_next_offset;
      --r.left;
    }
    if (r.left != 0) break;  // the batch is full; this block is read on at the next poll
    // Block read out: it goes back at the next poll, once its frames are no longer in use.
    if (r.release_count == 0) r.release_first = r.current;
    ++r.release_count;
    r.in_block = false;
    r.current = (r.current + 1) % r.block_nr;
  }
  return n;
}

PollOutcome AfPacketQueue::poll(std::span<Frame> frames, std::size_t& count, int timeout_ms) {
  count = 0;
  arena_used_ = 0;
  for (auto& r : rings_) {
    if (r.fd >= 0) release(r);
  }
  if (open_ == 0) return PollOutcome::kEndOfInput;
  if (arena_capacity_ < frames.size() * (snaplen_ + 4)) {
    // Once, at the first poll: room for a whole batch of tagged frames.
    arena_capacity_ = frames.size() * (snaplen_ + 4);
    arena_ = std::make_unique_for_overwrite<std::uint8_t[]>(arena_capacity_);
  }
  std::size_t n = 0;
  for (int attempt = 0; attempt < 2 && n == 0; ++attempt) {
    if (attempt == 1 && !wait(timeout_ms)) break;
    for (std::size_t i = 0; i < rings_.size() && n < frames.size(); ++i) {
      Ring& r = rings_[i];
      if (r.fd < 0) continue;
      const std::size_t before = n;
      n = take(r, frames, n);
      if (n != before && r.state == InterfaceState::kDown && frames[n - 1].timestamp_ns > r.down_since_ns) {
        r.state = InterfaceState::kCapturing;
        event(interface_resumed_event(r.itf.name));
      }
    }
  }
  count = n;
  if (n != 0) return PollOutcome::kFrames;
  return open_ == 0 ? PollOutcome::kEndOfInput : PollOutcome::kIdle;
}

bool AfPacketQueue::wait(int timeout_ms) {
  pollfd fds[AfPacketDriver::kMaxInterfaces];
  const std::size_t n = rings_.size();
  for (std::size_t i = 0; i < n; ++i) fds[i] = {rings_[i].fd, POLLIN, 0};
  const int rc = ::poll(fds, n, timeout_ms);
  if (rc < 0 && errno != EINTR) {
    const std::string why = errno_text("poll");
    for (std::size_t i = 0; i < n; ++i) {
      if (rings_[i].fd >= 0) close_interface(i, why);
    }
    return false;
  }
  std::uint64_t now = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (rings_[i].fd < 0) continue;
    if (fds[i].revents & POLLERR) {
      check_socket(i);
    } else if (rc == 0 && rings_[i].state == InterfaceState::kDown) {
      // Deleted while down: the kernel says nothing more; look once a second while idle.
      if (now == 0) now = realtime_ns();
      if (now - rings_[i].checked_ns >= 1'000'000'000ull) {
        rings_[i].checked_ns = now;
        if (!interface_exists(rings_[i].kernel_index)) close_interface(i, "interface disappeared");
      }
    }
  }
  return rc > 0;
}

// The kernel flags a packet socket with ENETDOWN when its device goes down or is deleted; a
// device that is only down keeps the socket (and its fanout group), delivery resumes when it is up.
void AfPacketQueue::check_socket(std::size_t i) {
  Ring& r = rings_[i];
  int error = 0;
  socklen_t len = sizeof error;
  getsockopt(r.fd, SOL_SOCKET, SO_ERROR, &error, &len);  // reading clears it
  if (!interface_exists(r.kernel_index)) {
    close_interface(i, "interface disappeared");
  } else if (error == ENETDOWN) {
    if (r.state == InterfaceState::kCapturing) went_down(i);
  } else if (error != 0) {
    close_interface(i, std::strerror(error));
  }
}

void AfPacketQueue::went_down(std::size_t i) {
  Ring& r = rings_[i];
  ++r.went_down;
  r.state = InterfaceState::kDown;
  // Frames captured before it went down may still be in the ring; only later ones mean it is back.
  r.down_since_ns = realtime_ns();
  event(interface_down_event(r.itf.name));
}

void AfPacketQueue::close_interface(std::size_t i, const std::string& why) {
  Ring& r = rings_[i];
  read_stats(r);
  if (r.state == InterfaceState::kCapturing) ++r.went_down;
  r.state = InterfaceState::kClosed;
  release(r);
  close_ring(r);
  --open_;
  event(interface_stopped_event(r.itf.name, why, open_));
}

void AfPacketQueue::close_ring(Ring& r) {
  if (r.map != nullptr) munmap(r.map, r.map_size);
  if (r.fd >= 0) ::close(r.fd);
  r.map = nullptr;
  r.fd = -1;
}

void AfPacketQueue::read_stats(const Ring& r) const {
  if (r.fd < 0) return;
  tpacket_stats_v3 st{};
  socklen_t len = sizeof st;
  if (getsockopt(r.fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
    r.packets += st.tp_packets;  // the kernel's count includes the drops, as pcap_stats' ps_recv
    r.drops += st.tp_drops;
    r.freezes += st.tp_freeze_q_cnt;
  }
}

QueueCounters AfPacketQueue::counters() const {
  QueueCounters out;
  for (const Ring& r : rings_) {
    read_stats(r);
    CaptureCounters c;
    c.name = r.itf.name;
    c.queue = static_cast<int>(index_);
    c.received = r.packets;
    c.dropped_kernel = r.drops;
    c.ring_freezes = r.freezes;
    c.went_down = r.went_down;
    c.state = to_string(r.state);
    out.capture.push_back(std::move(c));
  }
  return out;
}

AfPacketDriver::AfPacketDriver(const AfPacketOptions& options) {
  if (options.interfaces.size() > kMaxInterfaces) {
    throw std::runtime_error(fmt::format("at most {} interfaces can be captured at once", kMaxInterfaces));
  }
  if (options.queues < 1) throw std::runtime_error("--rx-queues must be at least 1");
  for (unsigned q = 0; q < options.queues; ++q) queues_.push_back(std::make_unique<AfPacketQueue>(q, options.interfaces));
  for (std::size_t i = 0; i < options.interfaces.size(); ++i) {
    const std::vector<sock_filter> program = compile_filter(options.interfaces[i], options);
    std::uint16_t fanout_id = 0;
    for (auto& q : queues_) q->open(i, options, fanout_id);
    // Every socket is in the group: only now do packets flow, split by the flow hash.
    for (auto& q : queues_) q->attach_filter(i, program);
  }
  for (auto& q : queues_) q->finish_open(options.snaplen);
}

AfPacketDriver::~AfPacketDriver() = default;

RxQueue& AfPacketDriver::queue(std::size_t index) { return *queues_.at(index); }

}  // namespace tapflow::drivers
