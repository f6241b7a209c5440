// The one interface over every frame source: capture files, libpcap, and (later) AF_PACKET
// fanout rings and DPDK ports. A driver has one or more RX queues; a queue fills a batch of
// frames per poll and says what happened. Each queue is polled by one thread only, and its
// counters and events are read by that thread (share nothing: see probe/runtime).
// A driver never decodes, never logs and never throws once open.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "drivers/frame.h"

namespace tapflow::drivers {

enum class PollOutcome : std::uint8_t {
  kFrames,      // at least one frame
  kIdle,        // nothing within the timeout (live sources)
  kEndOfInput,  // no frame will ever come again (the last file ended, or the last interface went)
};

// A capture point's counters (an interface, a file set): what the kernel or the NIC says it saw
// and lost, beside what the queue delivered.
struct CaptureCounters {
  std::string name;
  int queue = -1;                       // the receive queue (AF_PACKET fanout, DPDK); -1 = the interface's only one
  std::uint64_t received = 0;           // seen by the kernel or NIC (pcap_stats ps_recv)
  std::uint64_t dropped_kernel = 0;     // no room in the ring (ps_drop)
  std::uint64_t dropped_interface = 0;  // dropped by the interface or driver (ps_ifdrop)
  std::uint64_t dropped_no_buffer = 0;  // no receive buffer (DPDK rx_nombuf)
  std::uint64_t ring_freezes = 0;       // times the ring was full and frozen (TPACKET_V3 tp_freeze_q_cnt)
  std::uint64_t went_down = 0;          // times it went down or away while captured
  std::string state = "capturing";      // capturing | down | closed
};

// What a queue tells of its inputs: files opened and failed, live capture points.
struct QueueCounters {
  std::uint64_t inputs_read = 0;    // files opened
  std::uint64_t input_errors = 0;   // files that could not be opened or read to the end
  std::vector<CaptureCounters> capture;
};

// Something an operator should hear of, once: a file that could not be read, an interface that
// went down, came back or disappeared. The program logs it.
struct DriverEvent {
  enum class Severity : std::uint8_t { kError, kWarning, kNotice };
  Severity severity = Severity::kNotice;
  std::string message;
};

// The events of a live interface, worded alike for every live driver: it went down (still open),
// came back, or stopped (closed), with how many interfaces are left.
DriverEvent interface_down_event(const std::string& name);
DriverEvent interface_resumed_event(const std::string& name);
DriverEvent interface_stopped_event(const std::string& name, const std::string& why, std::size_t still_open);

// How far a file source has read, for a progress bar.
struct Progress {
  std::string name;
  std::uint64_t position = 0;
  std::uint64_t size = 0;
  std::size_t file_index = 1;  // 1-based, among file_count inputs
  std::size_t file_count = 1;
};

class RxQueue {
 public:
  virtual ~RxQueue() = default;
  // Fills `frames` from the front (count = how many) and returns the outcome. Waits up to
  // timeout_ms for a live source; a file never waits. The frames' bytes stay valid until the
  // next poll of this queue.
  virtual PollOutcome poll(std::span<Frame> frames, std::size_t& count, int timeout_ms) = 0;
  // Counters so far (a live source may ask the kernel: call it per second, not per batch).
  virtual QueueCounters counters() const = 0;
  // Events since the last call; cheap when there is none.
  virtual bool has_events() const = 0;
  virtual std::vector<DriverEvent> take_events() = 0;
  // True if the input stopped on an error (a file not read completely, no interface left).
  virtual bool failed() const = 0;
  virtual std::optional<Progress> progress() const { return std::nullopt; }
};

class Driver {
 public:
  virtual ~Driver() = default;
  virtual std::size_t queue_count() const = 0;
  virtual RxQueue& queue(std::size_t index) = 0;
  // True when the queues are already split by a symmetric flow hash (RSS, fanout): each feeds
  // its own worker. False: one stream, which a dispatcher splits.
  virtual bool flow_hashed() const = 0;
  // True for live sources: flows expire on the wall clock. False: the packets' own time.
  virtual bool live() const = 0;
};

}  // namespace tapflow::drivers
