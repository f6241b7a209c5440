// Live capture through libpcap on one or more interfaces (TPACKET_V3 ring on Linux, which libpcap
// uses by default), with a BPF filter. One reader serves every interface by polling their
// descriptors, so a shard sees each flow's packets in capture order. Opening errors throw with a
// message naming the interface; nothing throws once capturing.
//
// An interface that goes down stays open (the kernel resumes delivery when it comes back up); one
// that disappears or fails is closed and the others go on. Each such change is counted and
// reported once as an event for the caller to log; reading fails only when no interface is left.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "drivers/frame.h"

struct pcap;

namespace tapflow::drivers {

struct LiveInterface {
  std::string name;
  std::uint32_t if_index = 0;  // exported as ingressInterface
};

struct LiveCaptureOptions {
  std::vector<LiveInterface> interfaces;
  std::string filter;                // BPF, tcpdump syntax; empty = everything
  int snaplen = 256;                 // enough for Ethernet + VLANs + MPLS + IPv6 extensions + TCP
  bool promiscuous = true;
  int buffer_size = 64 << 20;        // kernel ring size in bytes (0 = libpcap's default)
  bool immediate = false;            // deliver each packet at once instead of per ring block
};

enum class InterfaceState : std::uint8_t {
  kCapturing,
  kDown,    // administratively down: still open, delivery resumes when it is up again
  kClosed,  // gone (deleted) or failed: closed, its counters frozen at that moment
};

const char* to_string(InterfaceState state);

// A change on one interface, for the caller to log once.
struct CaptureEvent {
  InterfaceState state;  // kDown: went down; kCapturing: resumed; kClosed: disappeared or failed
  std::string message;   // "capture on 'eth1': ..."
};

struct LiveCaptureCounters {
  std::string interface;
  std::uint64_t received = 0;           // pcap_stats ps_recv
  std::uint64_t dropped_kernel = 0;     // ps_drop: no room in the ring
  std::uint64_t dropped_interface = 0;  // ps_ifdrop: dropped by the interface or driver
  std::uint64_t went_down = 0;          // times the interface went down or away while captured
  InterfaceState state = InterfaceState::kCapturing;
};

class PcapLiveReader {
 public:
  static constexpr std::size_t kMaxInterfaces = 16;  // one poll() array on the stack

  explicit PcapLiveReader(const LiveCaptureOptions& options);
  ~PcapLiveReader();
  PcapLiveReader(const PcapLiveReader&) = delete;
  PcapLiveReader& operator=(const PcapLiveReader&) = delete;

  // Waits up to timeout_ms for packets on any interface, then calls
  // on_frame(const Frame&, std::uint32_t if_index) for up to max_frames of them. Returns the
  // number delivered; a negative value means no interface is left to capture on (see error()).
  template <class OnFrame>
  int read_batch(std::size_t max_frames, int timeout_ms, OnFrame&& on_frame) {
    if (!wait(timeout_ms)) return error_.empty() ? 0 : -1;
    std::size_t n = 0;
    for (std::size_t i = 0; i < handles_.size() && n < max_frames; ++i) {
      if (handles_[i] == nullptr) continue;
      Frame frame;
      frame.link_type = link_types_[i];
      const std::size_t before = n;
      while (n < max_frames && next(i, frame)) {
        on_frame(static_cast<const Frame&>(frame), interfaces_[i].if_index);
        ++n;
      }
      if (n != before && state_[i] == InterfaceState::kDown && frame.timestamp_ns > down_since_ns_[i]) resumed(i);
    }
    if (open_ == 0) return -1;
    return static_cast<int>(n);
  }

  std::vector<LiveCaptureCounters> counters() const;
  // Set once no interface is left open.
  const std::string& error() const { return error_; }

  // Interface changes since the last call (went down, came back, disappeared, failed), one line
  // each, for the caller to log. Cheap to call per batch: empty unless something happened.
  bool has_events() const { return !events_.empty(); }
  std::vector<CaptureEvent> take_events() { return std::exchange(events_, {}); }

 private:
  bool wait(int timeout_ms);
  bool next(std::size_t i, Frame& frame);
  void went_down(std::size_t i);
  void resumed(std::size_t i);
  void close_interface(std::size_t i, const std::string& why);
  LiveCaptureCounters read_counters(std::size_t i) const;

  std::vector<LiveInterface> interfaces_;
  std::vector<pcap*> handles_;  // nullptr once closed
  std::vector<int> link_types_;
  std::vector<std::uint64_t> ts_scale_;  // 1 if libpcap gives ns, 1000 if us
  std::vector<int> fds_;
  std::vector<unsigned> kernel_if_index_;  // the device the socket is bound to (0 = unknown)
  std::vector<InterfaceState> state_;
  std::vector<std::uint64_t> went_down_;
  std::vector<std::uint64_t> down_since_ns_;  // wall clock when it went down
  std::vector<LiveCaptureCounters> frozen_;  // counters of closed interfaces
  std::size_t open_ = 0;
  std::vector<CaptureEvent> events_;
  std::string error_;
};

// "eth0" -> {eth0, its kernel ifindex}; "7:eth0" -> {eth0, 7}.
LiveInterface parse_interface(const std::string& spec);

}  // namespace tapflow::drivers
