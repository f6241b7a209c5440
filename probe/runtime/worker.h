// A worker owns one flow-table shard: it accounts packet summaries, expires what timed out by
// the batch's clock, and hands the expired records to the export thread in batches. Only its own
// thread touches the table (share nothing); questions from the control socket reach it between
// two batches. Never allocates per packet (its record buffer is reserved up front).
#pragma once

#include <span>
#include <vector>

#include "cache/flow_table.h"
#include "probe/runtime/channels.h"

namespace tapflow::probe::runtime {

class Worker {
 public:
  // `live`: when the export thread is behind and every record batch is in flight, records are
  // dropped and counted (RecordChannel::dropped) rather than waited for, so the capture queue is
  // never stalled; except at the end of input and for questions, which wait.
  Worker(const cache::FlowTableConfig& config, RecordChannel& records, bool live = false);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Accounts the packets (with their extras when the table keeps extras: `extras` is as long as
  // `packets` then, else empty), then expires what timed out by stamp.clock_ns.
  void account(std::span<const cache::PacketSummary> packets, std::span<const cache::PacketExtras> extras,
               const BatchStamp& stamp);
  void account(std::span<const cache::PacketSummary> packets, const BatchStamp& stamp) { account(packets, {}, stamp); }
  // Copies the counters and up to question.flow_limit active flows (most recently updated
  // first), after exporting every flow (forced end) if asked; records go out before it returns.
  void answer(ShardQuestion& question);
  // End of input: every flow left is exported (forced end) and the channel's last batch goes.
  void finish(const BatchStamp& stamp);
  // A partly filled record batch goes once 100 ms old by the data path's clock (records never
  // wait long for packets that may not come), or now if `now`.
  void hand_over(bool now = false);

  const cache::FlowTable& table() const { return table_; }

 private:
  void emit();
  // An empty record batch from the channel's pool, waiting if all are out; false (nothing
  // opened) when live and not waiting.
  bool open_batch(bool wait);
  void submit(bool last);

  cache::FlowTable table_;
  RecordChannel& records_;
  bool live_ = false;
  bool waiting_ = false;  // in finish() or answer(): the batch is waited for even when live
  RecordBatch* current_ = nullptr;
  BatchStamp stamp_;
  std::uint64_t current_opened_ns_ = 0;  // the clock when `current_` got its first record
  std::vector<cache::FlowRecord> expired_;
};

// The body of a worker thread fed by a dispatcher: batches in order until kEndOfInput.
void run_dispatched_worker(Worker& worker, PacketChannel& packets);

// Names the calling thread ("tapflow/w0", "tapflow/disp", ...) for top -H, ps -L and perf.
void name_thread(const char* name);

}  // namespace tapflow::probe::runtime
