#include "drivers/pcap_live_reader.h"

#include <fmt/format.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace tapflow::drivers {

const char* to_string(InterfaceState state) {
  switch (state) {
    case InterfaceState::kCapturing: return "capturing";
    case InterfaceState::kDown: return "down";
    case InterfaceState::kClosed: return "closed";
  }
  return "?";
}

DriverEvent interface_down_event(const std::string& name) {
  return {DriverEvent::Severity::kWarning,
          "capture on '" + name + "': interface went down; still open, capture resumes when it is up again"};
}

DriverEvent interface_resumed_event(const std::string& name) {
  return {DriverEvent::Severity::kNotice, "capture on '" + name + "' resumed"};
}

DriverEvent interface_stopped_event(const std::string& name, const std::string& why, std::size_t still_open) {
  const std::string event = "capture on '" + name + "' stopped: " + why;
  if (still_open == 0) return {DriverEvent::Severity::kError, event + "; no interface left to capture on"};
  return {DriverEvent::Severity::kWarning,
          event + fmt::format("; still capturing on {} other interface{}", still_open, still_open == 1 ? "" : "s")};
}

namespace {
std::runtime_error open_error(const std::string& name, const std::string& what) {
  return std::runtime_error("cannot capture on '" + name + "': " + what);
}
}  // namespace

LiveInterface parse_interface(const std::string& spec) {
  LiveInterface out;
  const auto colon = spec.find(':');
  if (colon != std::string::npos && colon > 0 &&
      spec.find_first_not_of("0123456789") == colon) {
    out.if_index = static_cast<std::uint32_t>(std::stoul(spec.substr(0, colon)));
    out.name = spec.substr(colon + 1);
  } else {
    out.name = spec;
    out.if_index = if_nametoindex(spec.c_str());
  }
  if (out.name.empty()) throw std::runtime_error("empty interface name in '" + spec + "'");
  return out;
}

PcapLiveReader::PcapLiveReader(const LiveCaptureOptions& options) : interfaces_(options.interfaces) {
  if (interfaces_.size() > kMaxInterfaces) {
    throw std::runtime_error(fmt::format("at most {} interfaces can be captured at once", kMaxInterfaces));
  }
  try {
    open(options);
  } catch (...) {
    // No destructor runs for a constructor that throws: close what was opened.
    for (pcap_t* p : handles_) pcap_close(p);
    throw;
  }
}

void PcapLiveReader::open(const LiveCaptureOptions& options) {
  for (const auto& itf : interfaces_) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_create(itf.name.c_str(), errbuf);
    if (p == nullptr) throw open_error(itf.name, errbuf);
    handles_.push_back(p);
    pcap_set_snaplen(p, options.snaplen);
    pcap_set_promisc(p, options.promiscuous ? 1 : 0);
    pcap_set_timeout(p, 100);
    if (options.buffer_size > 0) pcap_set_buffer_size(p, options.buffer_size);
    if (options.immediate) pcap_set_immediate_mode(p, 1);
    pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
    const int rc = pcap_activate(p);
    if (rc < 0) {
      std::string why = rc == PCAP_ERROR_NO_SUCH_DEVICE ? "no such device"
                        : rc == PCAP_ERROR_PERM_DENIED  ? "permission denied (run as root or give CAP_NET_RAW)"
                        : rc == PCAP_ERROR_IFACE_NOT_UP ? "interface is down"
                                                        : pcap_geterr(p);
      throw open_error(itf.name, why);
    }
    if (!options.filter.empty()) {
      bpf_program program{};
      if (pcap_compile(p, &program, options.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        throw std::runtime_error("bad capture filter '" + options.filter + "': " + pcap_geterr(p));
      }
      const int set = pcap_setfilter(p, &program);
      pcap_freecode(&program);
      if (set != 0) throw open_error(itf.name, std::string("cannot set filter: ") + pcap_geterr(p));
    }
    if (pcap_setnonblock(p, 1, errbuf) != 0) throw open_error(itf.name, errbuf);
    link_types_.push_back(pcap_datalink(p) == DLT_RAW ? 101 : pcap_datalink(p));
    fds_.push_back(pcap_get_selectable_fd(p));
    ts_scale_.push_back(pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO ? 1 : 1000);
    // The device itself, whatever IDX the user exports: a name can be reused by a new device.
    kernel_if_index_.push_back(if_nametoindex(itf.name.c_str()));
  }
  state_.assign(handles_.size(), InterfaceState::kCapturing);
  went_down_.assign(handles_.size(), 0);
  down_since_ns_.assign(handles_.size(), 0);
  frozen_.resize(handles_.size());
  open_ = handles_.size();
  // Every interface's snapshot length at most (libpcap may raise a tiny one): a batch of them.
  for (pcap_t* p : handles_) snaplen_ = std::max<std::size_t>(snaplen_, static_cast<std::size_t>(pcap_snapshot(p)));
  arena_capacity_ = (1 << 20) + snaplen_;
  arena_ = std::make_unique_for_overwrite<std::uint8_t[]>(arena_capacity_);
}

PollOutcome PcapLiveReader::poll(std::span<Frame> frames, std::size_t& count, int timeout_ms) {
  count = 0;
  arena_used_ = 0;
  if (open_ == 0) return PollOutcome::kEndOfInput;
  if (!wait(timeout_ms)) return open_ == 0 ? PollOutcome::kEndOfInput : PollOutcome::kIdle;
  std::size_t n = 0;
  for (std::size_t i = 0; i < handles_.size() && n < frames.size(); ++i) {
    if (handles_[i] == nullptr) continue;
    const std::size_t before = n;
    while (n < frames.size() && arena_capacity_ - arena_used_ >= snaplen_) {
      Frame& frame = frames[n];
      frame.link_type = link_types_[i];
      frame.ingress_interface = interfaces_[i].if_index;
      if (!next(i, frame)) break;
      ++n;
    }
    if (n != before && state_[i] == InterfaceState::kDown && frames[n - 1].timestamp_ns > down_since_ns_[i]) {
      resumed(i);
    }
  }
  count = n;
  if (n != 0) return PollOutcome::kFrames;
  return open_ == 0 ? PollOutcome::kEndOfInput : PollOutcome::kIdle;
}

PcapLiveReader::~PcapLiveReader() {
  for (pcap_t* p : handles_) {
    if (p != nullptr) pcap_close(p);
  }
}

bool PcapLiveReader::wait(int timeout_ms) {
  pollfd fds[kMaxInterfaces];
  const std::size_t n = fds_.size();
  for (std::size_t i = 0; i < n; ++i) fds[i] = {handles_[i] != nullptr ? fds_[i] : -1, POLLIN, 0};
  const int rc = ::poll(fds, n, timeout_ms);
  if (rc < 0 && errno != EINTR) {
    for (std::size_t i = 0; i < n; ++i) {
      if (handles_[i] != nullptr) close_interface(i, std::string("poll: ") + std::strerror(errno));
    }
    return false;
  }
  for (std::size_t i = 0; i < n; ++i) {
    // The kernel flags a packet socket with ENETDOWN when its device goes down or is deleted.
    // libpcap reads that error on its next call and, if the device is gone, fails with "The
    // interface disappeared" (handled in next()); a device that is only down stays open and the
    // kernel resumes delivery once it is up again.
    if ((fds[i].revents & POLLERR) && state_[i] == InterfaceState::kCapturing) went_down(i);
  }
  // With TPACKET_V3 a block can be ready without POLLIN on some kernels; always try to read.
  return true;
}

void PcapLiveReader::went_down(std::size_t i) {
  char name[IF_NAMESIZE] = {};
  ++went_down_[i];
  state_[i] = InterfaceState::kDown;
  // Frames captured before it went down may still be in the ring; only later ones mean it is back.
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  down_since_ns_[i] = static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(now.tv_nsec);
  if (kernel_if_index_[i] != 0 && if_indextoname(kernel_if_index_[i], name) == nullptr) {
    // Deleted: libpcap reports it on the next read, which closes the capture.
    return;
  }
  events_.push_back(interface_down_event(interfaces_[i].name));
}

void PcapLiveReader::resumed(std::size_t i) {
  state_[i] = InterfaceState::kCapturing;
  events_.push_back(interface_resumed_event(interfaces_[i].name));
}

void PcapLiveReader::close_interface(std::size_t i, const std::string& why) {
  frozen_[i] = read_counters(i);
  if (state_[i] == InterfaceState::kCapturing) ++went_down_[i];
  frozen_[i].went_down = went_down_[i];
  state_[i] = InterfaceState::kClosed;
  frozen_[i].state = to_string(state_[i]);
  pcap_close(handles_[i]);
  handles_[i] = nullptr;
  --open_;
  events_.push_back(interface_stopped_event(interfaces_[i].name, why, open_));
}

bool PcapLiveReader::next(std::size_t i, Frame& frame) {
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  const int rc = pcap_next_ex(handles_[i], &header, &data);
  if (rc == 1) {
    const std::size_t caplen = std::min<std::size_t>(header->caplen, arena_capacity_ - arena_used_);
    std::memcpy(arena_.get() + arena_used_, data, caplen);
    frame.data = {arena_.get() + arena_used_, caplen};
    arena_used_ += caplen;
    frame.wire_length = header->len;
    frame.timestamp_ns = static_cast<std::uint64_t>(header->ts.tv_sec) * 1'000'000'000ull +
                         static_cast<std::uint64_t>(header->ts.tv_usec) * ts_scale_[i];
    return true;
  }
  if (rc == PCAP_ERROR) {
    char name[IF_NAMESIZE] = {};
    const bool gone = kernel_if_index_[i] != 0 && if_indextoname(kernel_if_index_[i], name) == nullptr;
    close_interface(i, gone ? std::string("interface disappeared") : pcap_geterr(handles_[i]));
  }
  return false;
}

CaptureCounters PcapLiveReader::read_counters(std::size_t i) const {
  if (handles_[i] == nullptr) return frozen_[i];
  CaptureCounters c;
  c.name = interfaces_[i].name;
  c.went_down = went_down_[i];
  c.state = to_string(state_[i]);
  pcap_stat st{};
  if (pcap_stats(handles_[i], &st) == 0) {
    c.received = st.ps_recv;
    c.dropped_kernel = st.ps_drop;
    c.dropped_interface = st.ps_ifdrop;
  }
  return c;
}

QueueCounters PcapLiveReader::counters() const {
  QueueCounters out;
  for (std::size_t i = 0; i < handles_.size(); ++i) out.capture.push_back(read_counters(i));
  return out;
}

}  // namespace tapflow::drivers
