// The threads that poll driver queues. A stage owns one queue, its decode stage and either its
// own flow-table shard (QueueStage: run to completion, for a queue already split by a flow hash
// or the one queue of --threads 1) or a set of workers it feeds through a symmetric hash
// (DispatcherStage: one-stream sources at --threads N > 1). Either way the loop is the same:
// poll -> decode -> sample -> table -> expire -> records to the export thread.
//
// A stage lives until told to quit, after its input ended: questions from the control socket
// (any number, one at a time) are answered by its own thread the whole time, from the live
// tables while running and from the final ones after.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "cache/flow_table.h"
#include "drivers/driver.h"
#include "probe/runtime/channels.h"
#include "probe/runtime/source_poller.h"
#include "probe/runtime/worker.h"

namespace tapflow::probe::runtime {

// The signal interrupt() sends; ignored by default, so one from elsewhere does no harm.
inline constexpr int kInterruptSignal = 23;  // SIGURG on Linux

// What the control socket asks a stage, answered on its thread.
struct StageQuery {
  bool expire_all = false;
  std::size_t flow_limit = 0;
  DecodeCounters decode;
  drivers::QueueCounters queue;
  std::vector<cache::FlowTableCounters> tables;
  std::size_t active = 0;
  std::vector<cache::FlowRecord> flows;  // most recently updated first, at most flow_limit
  std::atomic<bool> done{false};
};

struct StageConfig {
  cache::FlowTableConfig table;  // per shard
  cache::SamplingConfig sampling;
  DecodeOptions decode;          // --decap, --key, --fields
  std::uint64_t seed = 0;        // flow hash, shard hash and sampler
  std::uint32_t source = 0;      // this stage's index among the sources
  bool live = false;
  bool progress = false;
};

class Stage {
 public:
  virtual ~Stage();
  void start(unsigned index);
  // Any thread: stop reading (files now; live after draining the kernel's ring).
  void stop() { stop_.store(true, std::memory_order_relaxed); }
  // Any thread, after stop(): interrupts a system call the stage's thread is blocked in (a read
  // from a pipe or FIFO with no writer, an open of a FIFO) with SIGURG, which the program
  // handles without SA_RESTART (kInterruptSignal); harmless otherwise.
  void interrupt();
  // True once the input ended and every flow went to the export thread.
  bool ended() const { return ended_.load(std::memory_order_acquire); }
  // The coordinator: posts a question; the stage's thread answers it and sets query.done.
  void ask(StageQuery& query);
  // After ended(): ends the thread.
  void quit();

  bool failed() const { return poller_.failed(); }
  bool interrupted() const { return poller_.interrupted(); }
  // After quit(): the final counters.
  virtual void final_counters(StageQuery& out) const = 0;

 protected:
  Stage(drivers::RxQueue& queue, const StageConfig& config, std::function<void()> on_ended);
  virtual void run() = 0;
  virtual void answer(StageQuery& query) = 0;
  // Between batches: answers a question if one is waiting (one relaxed load otherwise).
  void serve() {
    if (query_.load(std::memory_order_relaxed) == nullptr) return;
    if (StageQuery* q = query_.exchange(nullptr, std::memory_order_acq_rel)) answer(*q);
  }
  void mark_ended();
  // After the end: answers questions until told to quit.
  void linger();
  void fill_source(StageQuery& q);        // counters read now (answers)
  void copy_source(StageQuery& q) const;  // counters as last read (after the end)
  // For the derived destructors (only on an early exit): stop, wait for the end, quit.
  void shutdown();

  SourcePoller poller_;
  std::array<cache::PacketSummary, kPacketBatchSize> summaries_;
  std::array<cache::PacketExtras, kPacketBatchSize> extras_;  // --key / --fields only
  bool extras_on_ = false;
  // The extras span for a poll into `extras`: empty unless the run decodes extras.
  std::span<cache::PacketExtras> extras_span(std::span<cache::PacketExtras> extras) const {
    return extras_on_ ? extras : std::span<cache::PacketExtras>{};
  }
  std::atomic<bool> stop_{false};

 private:
  Doorbell bell_;  // rung by ask() and quit() while the stage lingers
  std::function<void()> on_ended_;
  std::atomic<StageQuery*> query_{nullptr};
  std::atomic<bool> ended_{false};
  std::atomic<bool> quit_{false};
  std::thread thread_;
};

// Run to completion: the queue's frames are decoded, sampled and accounted on this thread, in one
// shard of its own.
class QueueStage final : public Stage {
 public:
  QueueStage(drivers::RxQueue& queue, const StageConfig& config, RecordChannel& records, std::function<void()> on_ended);
  ~QueueStage() override { shutdown(); }
  void final_counters(StageQuery& out) const override;

 private:
  void run() override;
  void answer(StageQuery& query) override;
  Worker worker_;
};

// One stream split over `workers` shards by a symmetric hash of the flow key (both directions
// of a connection meet in one shard), each shard a worker thread fed over a PacketChannel.
// Decoding and sampling stay here, so every --threads value samples the same packets.
class DispatcherStage final : public Stage {
 public:
  DispatcherStage(drivers::RxQueue& queue, const StageConfig& config, std::vector<RecordChannel*> records,
                  std::function<void()> on_ended);
  ~DispatcherStage() override;
  void final_counters(StageQuery& out) const override;

 private:
  struct Shard {
    Shard(const cache::FlowTableConfig& config, RecordChannel& records, bool live)
        : worker(config, records, live), packets(&bell, kPacketChannelDepth, config.extras) {}
    Worker worker;
    Doorbell bell;
    PacketChannel packets;
    std::thread thread;
  };
  void run() override;
  void answer(StageQuery& query) override;
  void dispatch(std::size_t count);
  PacketBatch* acquire(std::size_t shard);
  void submit(std::size_t shard);
  void end_input();
  // After the shards joined: their tables' counters and sizes (read from this thread).
  void add_shard_tables(StageQuery& q) const;

  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<PacketBatch*> pending_;
  std::uint64_t shard_seed_;
  std::uint64_t rounds_ = 0;
  bool joined_ = false;
};

}  // namespace tapflow::probe::runtime
