// The run-to-completion loop of one or more workers, fed from memory: packets per second of
// decode + sample + flow table + expiry + record hand-over on each worker, with the source out of
// the way. It runs tapflow's own runtime (probe/pipeline) over a driver whose queues replay
// 64-byte frames (Ethernet, IPv4, TCP) prepared in advance, as a flow-hashed multi-queue NIC
// (DPDK RSS, AF_PACKET fanout) would present them: queue q gets the flows f with f % Q == q.
//
//   build/bench/worker_rate [--flows 10000,1000000,10000000] [--queues 1,2] [--packets N]
//
// Each queue sends its flows round-robin: the first pass creates every flow (the new-flow rate,
// timed apart), the following passes hit them (the steady rate, 0 new flows). Frames carry a
// packet clock of 1 µs per packet per queue, so nothing reaches the 15 s idle timeout while timed;
// every flow is exported at the end (not timed). Prints, per run, each worker's steady and
// creation rates and the sum over workers.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "drivers/driver.h"
#include "probe/pipeline.h"
#include "probe/probe_options.h"
#include "probe/runtime_config.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace tapflow;

constexpr std::size_t kFrameSize = 64;

// 64 bytes: Ethernet, IPv4 (46 bytes total length), TCP ACK, 6 bytes of payload.
void make_frame(std::uint8_t* f, std::uint32_t flow) {
  std::memset(f, 0, kFrameSize);
  f[0] = 0x02; f[5] = 0x01; f[6] = 0x02; f[11] = 0x02;
  f[12] = 0x08; f[13] = 0x00;
  std::uint8_t* ip = f + 14;
  ip[0] = 0x45; ip[2] = 0; ip[3] = 46; ip[8] = 64; ip[9] = 6;
  ip[12] = 10; ip[13] = static_cast<std::uint8_t>(flow >> 16); ip[14] = static_cast<std::uint8_t>(flow >> 8);
  ip[15] = static_cast<std::uint8_t>(flow);
  ip[16] = 192; ip[17] = 0; ip[18] = 2; ip[19] = static_cast<std::uint8_t>(1 + (flow >> 24));
  std::uint8_t* tcp = ip + 20;
  const auto sport = static_cast<std::uint16_t>(1024 + (flow % 50000));
  tcp[0] = static_cast<std::uint8_t>(sport >> 8); tcp[1] = static_cast<std::uint8_t>(sport);
  tcp[2] = 0x01; tcp[3] = 0xbb; tcp[12] = 0x50; tcp[13] = 0x10;
}

class MemoryQueue final : public drivers::RxQueue {
 public:
  MemoryQueue(const std::uint8_t* frames, std::size_t flows, std::uint64_t packets)
      : frames_(frames), flows_(flows), packets_(packets) {}

  drivers::PollOutcome poll(std::span<drivers::Frame> out, std::size_t& count, int) override {
    count = 0;
    if (sent_ == 0) started_ = Clock::now();
    if (sent_ >= packets_) {
      if (ended_ == Clock::time_point{}) ended_ = Clock::now();
      return drivers::PollOutcome::kEndOfInput;
    }
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), packets_ - sent_));
    for (std::size_t i = 0; i < n; ++i) {
      drivers::Frame& f = out[i];
      f.data = {frames_ + next_ * kFrameSize, kFrameSize};
      f.wire_length = kFrameSize;
      f.ingress_interface = 1;
      f.link_type = drivers::kLinkTypeEthernet;
      f.timestamp_ns = 1'700'000'000'000'000'000ull + (sent_ + i) * 1000;
      if (++next_ == flows_) next_ = 0;
    }
    sent_ += n;
    if (created_ == Clock::time_point{} && sent_ >= flows_) {
      created_ = Clock::now();
      created_at_ = sent_;
    }
    count = n;
    return drivers::PollOutcome::kFrames;
  }
  drivers::QueueCounters counters() const override { return {}; }
  bool has_events() const override { return false; }
  std::vector<drivers::DriverEvent> take_events() override { return {}; }
  bool failed() const override { return false; }

  double steady_pps() const {
    return static_cast<double>(sent_ - created_at_) / std::chrono::duration<double>(ended_ - created_).count();
  }
  double creation_pps() const {
    return static_cast<double>(created_at_) / std::chrono::duration<double>(created_ - started_).count();
  }
  Clock::time_point created() const { return created_; }
  Clock::time_point ended() const { return ended_; }
  std::uint64_t steady_packets() const { return sent_ - created_at_; }

 private:
  const std::uint8_t* frames_;
  std::size_t flows_;
  std::uint64_t packets_;
  std::uint64_t sent_ = 0;
  std::size_t next_ = 0;
  std::uint64_t created_at_ = 0;
  Clock::time_point started_{}, created_{}, ended_{};
};

class MemoryDriver final : public drivers::Driver {
 public:
  std::vector<std::unique_ptr<MemoryQueue>> queues;
  std::size_t queue_count() const override { return queues.size(); }
  drivers::RxQueue& queue(std::size_t i) override { return *queues[i]; }
  bool flow_hashed() const override { return true; }
  bool live() const override { return false; }
};

void run(std::size_t flows, unsigned queues, std::uint64_t packets) {
  // Queue q's flows are q, q + Q, q + 2Q...: its frames side by side, read in order.
  std::vector<std::unique_ptr<std::uint8_t[]>> buffers;
  MemoryDriver driver;
  for (unsigned q = 0; q < queues; ++q) {
    const std::size_t own = (flows - q + queues - 1) / queues;
    auto buffer = std::make_unique<std::uint8_t[]>(own * kFrameSize);
    for (std::size_t i = 0; i < own; ++i) make_frame(buffer.get() + i * kFrameSize, static_cast<std::uint32_t>(q + i * queues));
    driver.queues.push_back(std::make_unique<MemoryQueue>(buffer.get(), own, packets));
    buffers.push_back(std::move(buffer));
  }
  probe::ProbeOptions options;
  options.read_files = {"memory"};
  options.progress = false;
  options.cache_size = std::max<std::size_t>(1024, flows + flows / 2);  // room to spare: no evictions
  probe::RuntimeConfig config = probe::make_runtime_config(options);
  probe::Pipeline pipeline(config, nullptr);
  std::atomic<bool> stop{false};
  pipeline.run(driver, stop);
  const auto& s = pipeline.stats();
  double sum = 0;
  std::string per;
  Clock::time_point first_created = driver.queues[0]->created(), last_end = driver.queues[0]->ended();
  std::uint64_t steady = 0;
  for (const auto& q : driver.queues) {
    sum += q->steady_pps();
    per += fmt::format("{}{:.2f}", per.empty() ? "" : " / ", q->steady_pps() / 1e6);
    first_created = std::max(first_created, q->created());
    last_end = std::max(last_end, q->ended());
    steady += q->steady_packets();
  }
  (void)first_created;
  fmt::print("flows {:>9}  queues {}  steady {:6.2f} Mpps per worker ({}), sum {:6.2f} Mpps; "
             "new flows {:5.2f} M/s per worker; {} flows, {} packets in the table\n",
             flows, queues, sum / queues / 1e6, per, sum / 1e6, driver.queues[0]->creation_pps() / 1e6,
             s.cache.flows_created, s.cache.packets);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("tapflow's run-to-completion workers fed from memory");
  std::vector<std::size_t> flows{10'000, 1'000'000, 10'000'000};
  std::vector<unsigned> queues{1, 2};
  std::uint64_t packets = 30'000'000;
  app.add_option("--flows", flows, "Concurrent flows (list)")->delimiter(',');
  app.add_option("--queues", queues, "Workers (list)")->delimiter(',');
  app.add_option("--packets", packets, "Packets per worker per run");
  CLI11_PARSE(app, argc, argv);
  for (const std::size_t f : flows) {
    for (const unsigned q : queues) run(f, q, std::max<std::uint64_t>(packets, 2 * f / q));
  }
  return 0;
}
