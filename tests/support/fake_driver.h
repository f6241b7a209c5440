// Test support: a driver over frames held in memory, with as many queues as asked, split by a
// flow hash or not, live or not, so the runtime can be tested without files or interfaces.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "drivers/driver.h"

namespace tapflow::test {

// An Ethernet/IPv4/UDP frame from 10.0.(source>>8).(source&255):1000+port to 192.0.2.1:53.
inline std::vector<std::uint8_t> udp_frame(std::uint32_t source, std::uint16_t port = 0, std::uint16_t payload = 20) {
  std::vector<std::uint8_t> f(14 + 20 + 8 + payload, 0);
  f[12] = 0x08;
  std::uint8_t* ip = f.data() + 14;
  const std::uint16_t total = static_cast<std::uint16_t>(20 + 8 + payload);
  ip[0] = 0x45;
  ip[2] = static_cast<std::uint8_t>(total >> 8);
  ip[3] = static_cast<std::uint8_t>(total);
  ip[8] = 64;
  ip[9] = 17;
  ip[12] = 10;
  ip[13] = 0;
  ip[14] = static_cast<std::uint8_t>(source >> 8);
  ip[15] = static_cast<std::uint8_t>(source);
  ip[16] = 192; ip[17] = 0; ip[18] = 2; ip[19] = 1;
  std::uint8_t* udp = ip + 20;
  const std::uint16_t sport = static_cast<std::uint16_t>(1000 + port);
  udp[0] = static_cast<std::uint8_t>(sport >> 8);
  udp[1] = static_cast<std::uint8_t>(sport);
  udp[3] = 53;
  udp[5] = static_cast<std::uint8_t>(8 + payload);
  return f;
}

struct FakeFrame {
  std::vector<std::uint8_t> bytes;
  std::uint64_t timestamp_ns = 0;
};

class FakeQueue final : public drivers::RxQueue {
 public:
  // batch: at most this many frames per poll. Live queues return kIdle when empty until
  // end_input() (a file queue ends when empty).
  FakeQueue(std::vector<FakeFrame> frames, std::size_t batch, bool live)
      : frames_(std::move(frames)), batch_(batch), live_(live) {}

  drivers::PollOutcome poll(std::span<drivers::Frame> out, std::size_t& count, int) override {
    count = 0;
    std::lock_guard lock(mutex_);
    while (count < out.size() && count < batch_ && next_ < frames_.size()) {
      const FakeFrame& f = frames_[next_++];
      out[count++] = {f.bytes, static_cast<std::uint32_t>(f.bytes.size()), 7, f.timestamp_ns, drivers::kLinkTypeEthernet};
    }
    polls_.fetch_add(1);
    if (count != 0) return drivers::PollOutcome::kFrames;
    if (live_ && !ended_) return drivers::PollOutcome::kIdle;
    return drivers::PollOutcome::kEndOfInput;
  }
  drivers::QueueCounters counters() const override {
    drivers::QueueCounters c;
    c.inputs_read = 1;
    drivers::CaptureCounters point;
    point.name = "fake";
    point.dropped_kernel = dropped_kernel;
    c.capture.push_back(point);
    return c;
  }
  bool has_events() const override { return false; }
  std::vector<drivers::DriverEvent> take_events() override { return {}; }
  bool failed() const override { return false; }

  void end_input() {
    std::lock_guard lock(mutex_);
    ended_ = true;
  }
  void add(FakeFrame f) {
    std::lock_guard lock(mutex_);
    frames_.push_back(std::move(f));
  }
  // All at once, as a burst already in the ring: no poll sees part of it.
  void add(const std::vector<FakeFrame>& frames) {
    std::lock_guard lock(mutex_);
    frames_.insert(frames_.end(), frames.begin(), frames.end());
  }
  std::uint64_t polls() const { return polls_.load(); }
  std::uint64_t dropped_kernel = 0;

 private:
  std::mutex mutex_;  // the test thread may add frames while the stage polls
  std::vector<FakeFrame> frames_;
  std::size_t next_ = 0;
  std::size_t batch_;
  bool live_;
  bool ended_ = false;
  std::atomic<std::uint64_t> polls_{0};
};

class FakeDriver final : public drivers::Driver {
 public:
  FakeDriver(std::vector<std::vector<FakeFrame>> queues, bool flow_hashed, bool live, std::size_t batch = 256)
      : flow_hashed_(flow_hashed), live_(live) {
    for (auto& q : queues) queues_.push_back(std::make_unique<FakeQueue>(std::move(q), batch, live));
  }
  std::size_t queue_count() const override { return queues_.size(); }
  drivers::RxQueue& queue(std::size_t i) override { return *queues_[i]; }
  FakeQueue& fake(std::size_t i) { return *queues_[i]; }
  bool flow_hashed() const override { return flow_hashed_; }
  bool live() const override { return live_; }

 private:
  std::vector<std::unique_ptr<FakeQueue>> queues_;
  bool flow_hashed_;
  bool live_;
};

}  // namespace tapflow::test
