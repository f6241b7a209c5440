// How the runtime's threads meet: batches over single-producer/single-consumer queues
// (Boost.Lockfree spsc_queue), each batch returned to its producer through a second queue so
// nothing is allocated once running, and a doorbell an idle consumer sleeps on (a futex) so a
// quiet link costs no CPU while a busy one never sleeps.
//
//   driver queue -> [dispatcher] -> PacketChannel -> worker -> RecordChannel -> export thread
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "cache/flow_record.h"
#include "cache/flow_table.h"
#include "cache/packet_summary.h"

namespace tapflow::probe::runtime {

constexpr std::size_t kPacketBatchSize = 256;
constexpr std::size_t kRecordBatchSize = 512;

// A counter a consumer sleeps on until a producer rings it, or a timeout passes. ring() costs one
// atomic add, and a system call only when someone sleeps.
class Doorbell {
 public:
  std::uint32_t seen() const { return rings_.load(std::memory_order_seq_cst); }
  void ring();
  // Returns when ring() was called after seen() returned `seen`, or after timeout_ms (-1: never).
  void wait(std::uint32_t seen, int timeout_ms);

 private:
  std::atomic<std::uint32_t> rings_{0};
  std::atomic<std::uint32_t> sleepers_{0};
};

// Sleeps a little more each time nothing could be done, up to 1 ms; reset() after progress.
class Backoff {
 public:
  void wait();
  void reset() { spins_ = 0; }

 private:
  unsigned spins_ = 0;
};

// What every batch carries beside its payload: the data path's clock (the packets' time for
// files, the wall clock live), the first packet's time (the exporters' system start for files),
// and the packets its source saw but no flow holds (RFC 7011 §4.2 reliability statistics).
struct BatchStamp {
  std::uint64_t clock_ns = 0;
  std::uint64_t first_packet_ns = 0;
  std::uint64_t ignored_packets = 0;
  std::uint64_t ignored_octets = 0;
  std::uint32_t source = 0;  // which decode stage the totals are of (summed over sources)
};

// A question from the control socket to a worker, answered on the worker's thread between two
// batches: the table is only ever touched by the thread that owns it.
struct ShardQuestion {
  bool expire_all = false;      // export every active flow now (forced end) first
  std::size_t flow_limit = 0;   // active flows to copy, most recently updated first
  std::vector<cache::FlowRecord> flows;
  cache::FlowTableCounters counters;
  std::size_t active = 0;
  std::atomic<bool> done{false};
};

struct PacketBatch {
  enum class Command : std::uint8_t {
    kPackets,     // account the packets, then expire what timed out at the stamp's clock
    kEndOfInput,  // as kPackets, then expire every flow (forced end) and stop
    kQuestion,    // as kPackets, then answer `question`
  };
  Command command = Command::kPackets;
  ShardQuestion* question = nullptr;
  std::uint32_t count = 0;
  BatchStamp stamp;
  std::array<cache::PacketSummary, kPacketBatchSize> packets;
  // --key / --fields: packets[i]'s extras; allocated only in runs that decode them (18 KiB a
  // batch that other runs would zero and keep resident for nothing).
  std::unique_ptr<std::array<cache::PacketExtras, kPacketBatchSize>> extras;

  explicit PacketBatch(bool with_extras = false)
      : extras(with_extras ? std::make_unique<std::array<cache::PacketExtras, kPacketBatchSize>>() : nullptr) {}
  // The first n extras, or none in a run without them.
  std::span<cache::PacketExtras> extras_span(std::size_t n = kPacketBatchSize) {
    return extras ? std::span(*extras).first(n) : std::span<cache::PacketExtras>{};
  }
};

// Records cross as their 96-byte cores; the sides follow in an array of their own only from a
// table with side blocks (allocated by the worker when it first fills the batch), so a run with
// default keys moves, and keeps in its 64-batch pool, half the bytes.
struct RecordBatch {
  std::uint32_t count = 0;
  bool last = false;  // the producer's final batch: nothing follows on this channel
  BatchStamp stamp;
  std::array<cache::FlowRecordCore, kRecordBatchSize> records;
  std::unique_ptr<std::array<cache::FlowSide, kRecordBatchSize>> sides;  // records[i]'s, or nullptr
};

// How many record batches a worker's channel to the export thread holds when its input is a
// file: a live worker's channel keeps all kRecordChannelDepth to absorb the export's stalls (it
// never waits: a record that finds no free batch is dropped and counted), a file's worker waits
// for a free batch, and more than a few in flight buy it nothing but resident memory (the pool
// goes round in FIFO order, so every batch of it is touched: 49 KiB each). Measured on the SYN
// flood and the default shape: 16 instead of 64 is as fast and 2-3 MiB less peak RSS.
constexpr std::size_t kFileChannelDepth = 16;

// A fixed pool of batches going round between one producer and one consumer: `depth` (at most
// kDepth) batches, each built from `batch_args`.
template <class Batch, std::size_t kDepth>
class Channel {
 public:
  template <typename... Args>
  explicit Channel(Doorbell* consumer_bell, std::size_t depth = kDepth, const Args&... batch_args)
      : bell_(consumer_bell) {
    depth = std::clamp<std::size_t>(depth, 1, kDepth);
    for (std::size_t i = 0; i < depth; ++i) {
      pool_.push_back(std::make_unique<Batch>(batch_args...));
      free_.push(pool_.back().get());
    }
  }
  std::size_t depth() const { return pool_.size(); }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Producer: an empty batch, or nullptr when all are in flight (the consumer is behind).
  Batch* acquire() {
    Batch* b = nullptr;
    return free_.pop(b) ? b : nullptr;
  }
  // Producer: hands a filled batch over. Never fails: only kDepth batches exist. The consumer is
  // woken at once, or, with `batch_wake` set, only once that many batches wait: a consumer whose
  // work per batch is short (the export thread) then wakes once per several batches, not per
  // batch, and its own timeout bounds the wait.
  void submit(Batch* b, std::size_t batch_wake = 1) {
    full_.push(b);
    if (batch_wake <= 1 || kDepth - full_.write_available() >= batch_wake) bell_->ring();
  }
  // Consumer: the next filled batch, or nullptr.
  Batch* take() {
    Batch* b = nullptr;
    return full_.pop(b) ? b : nullptr;
  }
  // Consumer: gives a batch back to the producer.
  void release(Batch* b) { free_.push(b); }
  Doorbell& bell() { return *bell_; }
  // Producer: items it dropped because every batch was in flight (a live source's worker never
  // waits for the consumer: it would stall the capture ring). Read by anyone.
  void count_dropped(std::uint64_t n) {
    dropped_.store(dropped_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  Doorbell* bell_;
  std::atomic<std::uint64_t> dropped_{0};
  std::vector<std::unique_ptr<Batch>> pool_;
  boost::lockfree::spsc_queue<Batch*, boost::lockfree::capacity<kDepth + 1>> full_;
  boost::lockfree::spsc_queue<Batch*, boost::lockfree::capacity<kDepth + 1>> free_;
};

constexpr std::size_t kPacketChannelDepth = 64;
constexpr std::size_t kRecordChannelDepth = 64;
using PacketChannel = Channel<PacketBatch, kPacketChannelDepth>;
using RecordChannel = Channel<RecordBatch, kRecordChannelDepth>;

}  // namespace tapflow::probe::runtime
