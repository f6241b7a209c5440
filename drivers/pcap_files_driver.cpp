#include "drivers/pcap_files_driver.h"

#include <fmt/format.h>

#include <stdexcept>
#include <utility>

namespace tapflow::drivers {

PcapFilesDriver::PcapFilesDriver(std::vector<std::string> paths) : paths_(std::move(paths)) {}

PcapFilesDriver::~PcapFilesDriver() = default;

bool PcapFilesDriver::open_next() {
  reader_.reset();
  while (next_path_ < paths_.size()) {
    const std::string& path = paths_[next_path_++];
    try {
      reader_ = std::make_unique<PcapFileReader>(path);
      ++counters_.inputs_read;
      return true;
    } catch (const std::exception& e) {
      ++counters_.input_errors;
      events_.push_back({DriverEvent::Severity::kError, e.what()});
    }
  }
  return false;
}

PollOutcome PcapFilesDriver::poll(std::span<Frame> frames, std::size_t& count, int) {
  count = 0;
  for (;;) {
    if (!reader_ && !open_next()) return PollOutcome::kEndOfInput;
    count = reader_->read_frames(frames);
    if (count != 0) return PollOutcome::kFrames;
    if (!reader_->error().empty()) {
      ++counters_.input_errors;
      events_.push_back({DriverEvent::Severity::kError,
                         fmt::format("cannot read '{}' past packet {}: {}", reader_->path(),
                                     reader_->frames_read(), reader_->error())});
    }
    reader_.reset();
  }
}

QueueCounters PcapFilesDriver::counters() const { return counters_; }

std::optional<Progress> PcapFilesDriver::progress() const {
  if (!reader_) return std::nullopt;
  return Progress{reader_->path(), reader_->position(), reader_->file_size(), next_path_, paths_.size()};
}

}  // namespace tapflow::drivers
