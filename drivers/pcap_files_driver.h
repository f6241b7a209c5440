// Capture files as a driver: one queue that reads the -r files in order, as one stream (the
// dispatcher splits it). A file that cannot be opened, or ends in an error, is an event and a
// counter; reading goes on with the next file. `-` is standard input (as tcpdump -r -).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "drivers/driver.h"
#include "drivers/pcap_file_reader.h"

namespace tapflow::drivers {

class PcapFilesDriver final : public Driver, public RxQueue {
 public:
  explicit PcapFilesDriver(std::vector<std::string> paths);
  ~PcapFilesDriver() override;

  std::size_t queue_count() const override { return 1; }
  RxQueue& queue(std::size_t) override { return *this; }
  bool flow_hashed() const override { return false; }
  bool live() const override { return false; }

  PollOutcome poll(std::span<Frame> frames, std::size_t& count, int timeout_ms) override;
  QueueCounters counters() const override;
  bool has_events() const override { return !events_.empty(); }
  std::vector<DriverEvent> take_events() override { return std::exchange(events_, {}); }
  bool failed() const override { return counters_.input_errors != 0; }
  std::optional<Progress> progress() const override;

 private:
  bool open_next();

  std::vector<std::string> paths_;
  std::size_t next_path_ = 0;
  std::unique_ptr<PcapFileReader> reader_;
  QueueCounters counters_;
  std::vector<DriverEvent> events_;
};

}  // namespace tapflow::drivers
