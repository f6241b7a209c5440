// Live capture on Linux at several cores: per interface, N AF_PACKET sockets with TPACKET_V3 rings
// in one PACKET_FANOUT_HASH group (with PACKET_FANOUT_FLAG_DEFRAG, so a datagram's fragments follow
// it). The kernel's fanout hash is symmetric, so both directions of a connection reach the same
// socket; queue q polls socket q of every interface and feeds its own flow-cache worker
// (flow_hashed() = true). --rx-queues 1 stays with libpcap (drivers/pcap_live_reader.h).
//
// Frames point straight into the ring blocks, which go back to the kernel at the next poll; only a
// frame whose VLAN tag the kernel took off (TP_STATUS_VLAN_VALID) is copied, to put the tag back
// where the decoder expects it, as libpcap does. The BPF filter is compiled by libpcap on an
// activated handle of the interface (so `vlan` and the other Linux extensions mean what tcpdump
// means) and its accept values are cut to the snapshot length: the kernel copies no more.
//
// Interface events as with libpcap: down (still open, resumes when up), disappeared (closed, the
// other interfaces go on), none left (end of input, failed()). Queue 0 reports them, once per
// interface; every queue counts its own socket's packets, drops and ring freezes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "drivers/driver.h"
#include "drivers/pcap_live_reader.h"

namespace tapflow::drivers {

struct AfPacketOptions {
  std::vector<LiveInterface> interfaces;
  unsigned queues = 2;             // sockets per interface, one fanout group per interface
  std::string filter;              // BPF, tcpdump syntax
  int snaplen = 256;
  bool promiscuous = true;
  std::size_t ring_bytes = 64u << 20;  // per socket
  bool immediate = false;          // retire a ring block after 1 ms instead of 100 ms
};

class AfPacketQueue;

class AfPacketDriver final : public Driver {
 public:
  static constexpr std::size_t kMaxInterfaces = 16;

  // Opens every socket; throws std::runtime_error naming the interface on any failure.
  explicit AfPacketDriver(const AfPacketOptions& options);
  ~AfPacketDriver() override;
  AfPacketDriver(const AfPacketDriver&) = delete;
  AfPacketDriver& operator=(const AfPacketDriver&) = delete;

  std::size_t queue_count() const override { return queues_.size(); }
  RxQueue& queue(std::size_t index) override;
  bool flow_hashed() const override { return true; }
  bool live() const override { return true; }

 private:
  std::vector<std::unique_ptr<AfPacketQueue>> queues_;
};

}  // namespace tapflow::drivers
