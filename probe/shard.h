// A shard: one worker thread that owns one flow table. It receives batches of packet summaries
// (with the reader's clock) through a single-producer/single-consumer queue and returns expired
// records through another; nothing else is shared, so the hot path takes no lock.
#pragma once

#include <array>
#include <atomic>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "cache/flow_record.h"
#include "cache/flow_table.h"
#include "cache/packet_summary.h"

namespace tapflow::probe {

constexpr std::size_t kPacketBatchSize = 256;
constexpr std::size_t kRecordBatchSize = 512;

// A question from the control socket to one shard, answered by its worker thread between two
// batches: the table is only ever touched by the thread that owns it.
struct ShardRequest {
  bool expire_all = false;           // export every active flow now (forced end) first
  std::size_t flow_limit = 0;        // active flows to copy, most recently updated first
  std::vector<cache::FlowRecord> flows;
  cache::FlowTableCounters counters;
  std::size_t active = 0;
  std::atomic<bool> done{false};
};

struct PacketBatch {
  enum class Command : std::uint8_t {
    kPackets,     // account the packets, then expire what timed out at clock_ns
    kEndOfInput,  // as kPackets, then expire every flow (forced end) and stop
    kRequest,     // as kPackets, then answer `request`
  };
  Command command = Command::kPackets;
  ShardRequest* request = nullptr;
  std::uint32_t count = 0;
  std::uint64_t clock_ns = 0;  // the reader's clock: latest packet time (files) or wall clock
  std::array<cache::PacketSummary, kPacketBatchSize> packets;
};

struct RecordBatch {
  std::uint32_t count = 0;
  std::array<cache::FlowRecord, kRecordBatchSize> records;
};

class Shard {
 public:
  explicit Shard(const cache::FlowTableConfig& config);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Starts the worker thread, named "tapflow/shN" for top -H, ps -L and perf.
  void start(unsigned index);

  // Producer side (the reader thread). acquire_batch returns nullptr when all batches are in
  // flight; the caller then drains records and retries, so neither side can block the other.
  PacketBatch* acquire_batch();
  void submit(PacketBatch* batch);

  // Consumer side of the records (the export thread): calls on_records(span) per batch.
  template <class OnRecords>
  std::size_t drain_records(OnRecords&& on_records) {
    std::size_t n = 0;
    RecordBatch* batch = nullptr;
    while (records_out_.pop(batch)) {
      on_records(std::span<const cache::FlowRecord>(batch->records.data(), batch->count));
      n += batch->count;
      batch->count = 0;
      records_free_.push(batch);
    }
    return n;
  }

  // True once the worker has processed kEndOfInput and queued its last records.
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  void join();
  // Valid after join().
  const cache::FlowTable& table() const { return table_; }

 private:
  void run();
  void emit(std::vector<cache::FlowRecord>& expired);

  static constexpr std::size_t kQueueDepth = 64;
  cache::FlowTable table_;
  std::vector<std::unique_ptr<PacketBatch>> packet_pool_;
  std::vector<std::unique_ptr<RecordBatch>> record_pool_;
  boost::lockfree::spsc_queue<PacketBatch*, boost::lockfree::capacity<kQueueDepth + 1>> packets_in_;
  // Bumped with every submit: an idle worker sleeps on it (futex) instead of polling, so a quiet
  // live link costs no CPU; a busy one never gets there.
  std::atomic<std::uint32_t> submitted_{0};
  boost::lockfree::spsc_queue<PacketBatch*, boost::lockfree::capacity<kQueueDepth + 1>> packets_free_;
  boost::lockfree::spsc_queue<RecordBatch*, boost::lockfree::capacity<kQueueDepth + 1>> records_out_;
  boost::lockfree::spsc_queue<RecordBatch*, boost::lockfree::capacity<kQueueDepth + 1>> records_free_;
  RecordBatch* current_records_ = nullptr;
  std::vector<cache::FlowRecord> expired_;
  // Written by the worker, read by the reader: on its own cache line so polling it does not
  // slow the worker's writes to the fields above.
  alignas(64) std::atomic<bool> finished_{false};
  std::thread thread_;
};

// Sleeps a little more each time nothing could be done, up to 1 ms; reset() after progress.
class Backoff {
 public:
  void wait();
  void reset() { spins_ = 0; }

 private:
  unsigned spins_ = 0;
};

}  // namespace tapflow::probe
