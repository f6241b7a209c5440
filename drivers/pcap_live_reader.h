// Live capture through libpcap on one or more interfaces (TPACKET_V3 ring on Linux, which libpcap
// uses by default), with a BPF filter. One reader serves every interface by polling their
// descriptors, so a shard sees each flow's packets in capture order. Opening errors throw with a
// message naming the interface; nothing throws once capturing.
#pragma once

#include <cstdint>
#include <string>
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

struct LiveCaptureCounters {
  std::string interface;
  std::uint64_t received = 0;           // pcap_stats ps_recv
  std::uint64_t dropped_kernel = 0;     // ps_drop: no room in the ring
  std::uint64_t dropped_interface = 0;  // ps_ifdrop: dropped by the interface or driver
};

class PcapLiveReader {
 public:
  explicit PcapLiveReader(const LiveCaptureOptions& options);
  ~PcapLiveReader();
  PcapLiveReader(const PcapLiveReader&) = delete;
  PcapLiveReader& operator=(const PcapLiveReader&) = delete;

  // Waits up to timeout_ms for packets on any interface, then calls
  // on_frame(const Frame&, std::uint32_t if_index) for up to max_frames of them. Returns the
  // number delivered; a negative value means an interface failed (see error()).
  template <class OnFrame>
  int read_batch(std::size_t max_frames, int timeout_ms, OnFrame&& on_frame) {
    if (!wait(timeout_ms)) return error_.empty() ? 0 : -1;
    std::size_t n = 0;
    for (std::size_t i = 0; i < handles_.size() && n < max_frames; ++i) {
      Frame frame;
      frame.link_type = link_types_[i];
      while (n < max_frames && next(i, frame)) {
        on_frame(static_cast<const Frame&>(frame), interfaces_[i].if_index);
        ++n;
      }
    }
    return error_.empty() ? static_cast<int>(n) : -1;
  }

  std::vector<LiveCaptureCounters> counters() const;
  const std::string& error() const { return error_; }

 private:
  bool wait(int timeout_ms);
  bool next(std::size_t i, Frame& frame);

  std::vector<LiveInterface> interfaces_;
  std::vector<pcap*> handles_;
  std::vector<int> link_types_;
  std::vector<std::uint64_t> ts_scale_;  // 1 if libpcap gives ns, 1000 if us
  std::vector<int> fds_;
  std::string error_;
};

// "eth0" -> {eth0, its kernel ifindex}; "7:eth0" -> {eth0, 7}.
LiveInterface parse_interface(const std::string& spec);

}  // namespace tapflow::drivers
