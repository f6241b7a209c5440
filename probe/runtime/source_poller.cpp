#include "probe/runtime/source_poller.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "probe/log.h"
#include "probe/runtime/wall_clock.h"

namespace tapflow::probe::runtime {

namespace {
// Live: how long one poll waits for packets, so stop requests, questions and expiry on a quiet
// link are never more than this late.
constexpr int kLivePollTimeoutMs = 100;
// Live stop: polls of what the kernel already holds before the last counters (at 256 frames a
// poll, up to a million frames: a second or so); the rest is counted by the kernel's counters.
constexpr unsigned kMaxStopPolls = 4096;
constexpr std::uint64_t kCounterRefreshNs = 1'000'000'000ull;
}  // namespace

SourcePoller::SourcePoller(drivers::RxQueue& queue, cache::SamplingConfig sampling, DecodeOptions decode,
                           std::uint64_t seed, std::uint32_t source, bool live, bool progress)
    : queue_(queue),
      decode_(sampling, seed, decode),
      source_(source),
      live_(live),
      progress_(progress && !live && isatty(STDERR_FILENO) == 1) {
  queue_counters_ = queue_.counters();
}

SourcePoller::~SourcePoller() {
  clear_progress();
}

void SourcePoller::clear_progress() {
  if (progress_shown_) {
    log::set_status_line(false);
    fmt::print(stderr, "\r\033[K");
  }
  progress_shown_ = false;
}

std::string format_progress(const drivers::Progress& p, std::uint64_t packets, double elapsed_s,
                            double file_elapsed_s) {
  const double fraction =
      p.size ? std::clamp(static_cast<double>(p.position) / static_cast<double>(p.size), 0.0, 1.0) : 0;
  constexpr int kWidth = 30;
  const int filled = std::clamp(static_cast<int>(fraction * kWidth), 0, kWidth);
  std::string out = p.name;
  if (p.file_count > 1) out += fmt::format(" (file {}/{})", p.file_index, p.file_count);
  out += fmt::format(" [{}{}] {:3.0f}%  {} packets", std::string(static_cast<std::size_t>(filled), '='),
                     std::string(static_cast<std::size_t>(kWidth - filled), ' '), fraction * 100, packets);
  if (elapsed_s > 0) out += fmt::format("  {:.2f} Mpps", static_cast<double>(packets) / elapsed_s / 1e6);
  if (p.size != 0 && fraction > 0 && file_elapsed_s > 0) {
    const auto left = static_cast<std::uint64_t>(file_elapsed_s * (1 - fraction) / fraction + 0.5);
    out += left >= 3600 ? fmt::format("  {}:{:02}:{:02} left", left / 3600, left / 60 % 60, left % 60)
                        : fmt::format("  {}:{:02} left", left / 60, left % 60);
    if (p.file_count > 1) out += " in this file";
  }
  return out;
}

drivers::PollOutcome SourcePoller::poll(std::span<cache::PacketSummary> out, std::span<cache::PacketExtras> extras,
                                       std::size_t& kept, const std::atomic<bool>& stop) {
  kept = 0;
  if (ended_) return drivers::PollOutcome::kEndOfInput;
  const bool stopping = stop.load(std::memory_order_relaxed);
  if (stopping && !live_) {
    // A conversion stopped by a signal: what was read so far is exported; the status says the
    // input was not read to its end.
    interrupted_ = true;
    ended_ = true;
    refresh_counters();
    return drivers::PollOutcome::kEndOfInput;
  }
  std::size_t count = 0;
  drivers::PollOutcome outcome =
      queue_.poll(frames_, count, stopping ? 0 : (live_ ? kLivePollTimeoutMs : 0));
  if (queue_.has_events()) {
    // A file read interrupted by the stop (a pipe's read, a FIFO's open) is the stop, not an
    // error to report.
    if (!live_ && stop.load(std::memory_order_relaxed)) {
      queue_.take_events();
      interrupted_ = true;
      if (outcome == drivers::PollOutcome::kEndOfInput) outcome = drivers::PollOutcome::kFrames;
    } else {
      log_events();
    }
  }
  if (count != 0) kept = decode_.decode(std::span(frames_).first(count), out, extras);
  if (live_) {
    const std::uint64_t now = coarse_wall_clock_ns();
    decode_.advance_clock(now);
    if (now - counters_refreshed_ns_ >= kCounterRefreshNs) {
      counters_refreshed_ns_ = now;
      refresh_counters();
    }
    if (stopping && (outcome == drivers::PollOutcome::kIdle || ++stop_polls_ >= kMaxStopPolls)) {
      outcome = drivers::PollOutcome::kEndOfInput;
    }
  } else if (progress_ && ++polls_ % 64 == 0) {
    show_progress();
  }
  if (outcome == drivers::PollOutcome::kEndOfInput) {
    ended_ = true;
    refresh_counters();
    clear_progress();
  }
  return outcome;
}

BatchStamp SourcePoller::stamp() const {
  const DecodeCounters& d = decode_.counters();
  BatchStamp s;
  s.clock_ns = decode_.clock_ns();
  s.first_packet_ns = d.first_packet_ns;
  s.ignored_packets = d.packets_rejected();
  s.ignored_octets = d.octets_rejected;
  for (const auto& c : queue_counters_.capture) s.ignored_packets += c.dropped_kernel + c.dropped_interface + c.dropped_no_buffer;
  s.source = source_;
  return s;
}

void SourcePoller::log_events() {
  for (const auto& event : queue_.take_events()) {
    clear_progress();  // a log line never glued onto the bar
    log::event(event);
  }
}

void SourcePoller::refresh_counters() { queue_counters_ = queue_.counters(); }

void SourcePoller::show_progress() {
  const auto now = std::chrono::steady_clock::now();
  if (now - progress_at_ < std::chrono::milliseconds(200)) return;
  const auto previous_draw = progress_at_;
  progress_at_ = now;
  const auto p = queue_.progress();
  if (!p) return;
  if (p->file_index != progress_file_) {
    // The first file started with the run; a later one since the bar was last drawn.
    if (progress_file_ != 0) file_started_at_ = previous_draw;
    progress_file_ = p->file_index;
  }
  const std::chrono::duration<double> elapsed = now - started_at_;
  const std::chrono::duration<double> file_elapsed = now - file_started_at_;
  fmt::print(stderr, "\r{}\033[K", format_progress(*p, decode_.counters().packets_read, elapsed.count(),
                                                    file_elapsed.count()));
  progress_shown_ = true;
  log::set_status_line(true);
}

}  // namespace tapflow::probe::runtime
