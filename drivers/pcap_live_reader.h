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
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "drivers/driver.h"
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

// One queue over every interface (the software dispatcher splits it), so it is its own driver.
class PcapLiveReader final : public Driver, public RxQueue {
 public:
  static constexpr std::size_t kMaxInterfaces = 16;  // one poll() array on the stack

  explicit PcapLiveReader(const LiveCaptureOptions& options);
  ~PcapLiveReader() override;
  PcapLiveReader(const PcapLiveReader&) = delete;
  PcapLiveReader& operator=(const PcapLiveReader&) = delete;

  // Driver
  std::size_t queue_count() const override { return 1; }
  RxQueue& queue(std::size_t) override { return *this; }
  bool flow_hashed() const override { return false; }
  bool live() const override { return true; }

  // RxQueue: waits up to timeout_ms for packets on any interface, then reads what they hold, up
  // to frames.size(). Frames are copied out of libpcap's ring (valid only until its next read)
  // into a buffer kept until the next poll. kEndOfInput once no interface is left (failed()).
  PollOutcome poll(std::span<Frame> frames, std::size_t& count, int timeout_ms) override;
  QueueCounters counters() const override;
  bool has_events() const override { return !events_.empty(); }
  std::vector<DriverEvent> take_events() override { return std::exchange(events_, {}); }
  bool failed() const override { return open_ == 0; }

 private:
  void open(const LiveCaptureOptions& options);
  bool wait(int timeout_ms);
  bool next(std::size_t i, Frame& frame);
  void went_down(std::size_t i);
  void resumed(std::size_t i);
  void close_interface(std::size_t i, const std::string& why);
  CaptureCounters read_counters(std::size_t i) const;

  std::vector<LiveInterface> interfaces_;
  std::vector<pcap*> handles_;  // nullptr once closed
  std::vector<int> link_types_;
  std::vector<std::uint64_t> ts_scale_;  // 1 if libpcap gives ns, 1000 if us
  std::vector<int> fds_;
  std::vector<unsigned> kernel_if_index_;  // the device the socket is bound to (0 = unknown)
  std::vector<InterfaceState> state_;
  std::vector<std::uint64_t> went_down_;
  std::vector<std::uint64_t> down_since_ns_;  // wall clock when it went down
  std::vector<CaptureCounters> frozen_;  // counters of closed interfaces
  std::size_t open_ = 0;
  std::vector<DriverEvent> events_;
  std::unique_ptr<std::uint8_t[]> arena_;  // this batch's frames
  std::size_t arena_capacity_ = 0;
  std::size_t arena_used_ = 0;
  std::size_t snaplen_ = 0;
};

// "eth0" -> {eth0, its kernel ifindex}; "7:eth0" -> {eth0, 7}.
LiveInterface parse_interface(const std::string& spec);

}  // namespace tapflow::drivers
