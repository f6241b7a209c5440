#include "probe/runtime/worker.h"

#include <pthread.h>

#include <cstddef>

#include <string>
#include <thread>

#include "probe/cache_warnings.h"

namespace tapflow::probe::runtime {

namespace {
// Expired records are taken from the table in chunks of this size, so the buffer never grows past
// its reservation, and stays in the core's cache between the table's write and emit's read.
constexpr std::size_t kExpireChunk = 256;
}  // namespace

void name_thread(const char* name) { pthread_setname_np(pthread_self(), std::string(name).substr(0, 15).c_str()); }

Worker::Worker(const cache::FlowTableConfig& config, RecordChannel& records, bool live)
    : table_(config), records_(records), live_(live) {
  // A batch can end two flows per packet (a full cache evicts one for a new flow whose own RST
  // then ends it), then the sweep adds a chunk: reserved up front, nothing grows on the data path.
  expired_.reserve(kExpireChunk + 2 * kPacketBatchSize);
}

void Worker::account(std::span<const cache::PacketSummary> packets, std::span<const cache::PacketExtras> extras,
                     const BatchStamp& stamp) {
  stamp_ = stamp;
  if (!packets.empty()) {
    if (table_.config().extras) {
      table_.update_batch(packets, extras, expired_);
    } else {
      table_.update_batch(packets, expired_);
    }
    warn_if_cache_full(table_);
  }
  while (table_.expire(stamp.clock_ns, expired_, kExpireChunk) != 0) emit();
  emit();
}

void Worker::answer(ShardQuestion& question) {
  waiting_ = true;
  if (question.expire_all) {
    while (table_.expire_all(cache::FlowEndReason::kForcedEnd, expired_, kExpireChunk) != 0) emit();
  }
  emit();
  hand_over(true);
  question.flows.clear();
  table_.for_each_active([&question](const cache::FlowRecord& r) { question.flows.push_back(r); },
                         question.flow_limit);
  question.counters = table_.counters();
  question.active = table_.size();
  waiting_ = false;
  question.done.store(true, std::memory_order_release);
}

void Worker::finish(const BatchStamp& stamp) {
  stamp_ = stamp;
  waiting_ = true;
  while (table_.expire_all(cache::FlowEndReason::kForcedEnd, expired_, kExpireChunk) != 0) emit();
  emit();
  if (current_ == nullptr) open_batch(true);
  submit(true);
}

bool Worker::open_batch(bool wait) {
  // Every batch in flight: the export thread is behind. Files wait for it (nothing is dropped);
  // a live capture must not stall its ring, so the caller drops and counts.
  Backoff backoff;
  while ((current_ = records_.acquire()) == nullptr) {
    if (!wait) return false;
    backoff.wait();
  }
  current_->count = 0;
  // Once per batch of the pool, the first time a worker with side blocks fills it.
  if (table_.has_side_blocks() && !current_->sides) {
    current_->sides = std::make_unique<std::array<cache::FlowSide, kRecordBatchSize>>();
  }
  current_opened_ns_ = stamp_.clock_ns;
  return true;
}

void Worker::hand_over(bool now) {
  if (current_ == nullptr || current_->count == 0) return;
  // Full batches go as they fill (emit); a partial one waits this long by the data path's clock
  // (packet time for files, the wall clock live), so the export thread wakes per full batch on a
  // busy link and records of a quiet one still leave within the export's one-second flush.
  constexpr std::uint64_t kMaxAgeNs = 100'000'000ull;
  if (now || stamp_.clock_ns - current_opened_ns_ >= kMaxAgeNs) {
    submit(false);
  }
}

void Worker::submit(bool last) {
  current_->stamp = stamp_;
  current_->last = last;
  // Full batches wake the export thread four at a time (it also wakes every 100 ms); a partial,
  // last or answering batch at once.
  constexpr std::size_t kFullBatchesPerWake = 4;
  const bool full = current_->count == kRecordBatchSize;
  records_.submit(current_, full && !last ? kFullBatchesPerWake : 1);
  current_ = nullptr;
}

void Worker::emit() {
  for (const auto& record : expired_) {
    if (current_ == nullptr && !open_batch(!live_ || waiting_)) {
      records_.count_dropped(1);
      continue;
    }
    const std::uint32_t i = current_->count++;
    current_->records[i] = record;
    if (current_->sides) (*current_->sides)[i] = record;
    if (current_->count == kRecordBatchSize) submit(false);
  }
  expired_.clear();
}

void run_dispatched_worker(Worker& worker, PacketChannel& packets) {
  constexpr unsigned kSpinsBeforeSleep = 64;
  unsigned spins = 0;
  for (;;) {
    // Read before trying the queue: a batch submitted after a failed take changes it, so the
    // wait returns at once instead of missing the wake-up.
    const std::uint32_t seen = packets.bell().seen();
    PacketBatch* batch = packets.take();
    if (batch == nullptr) {
      if (spins < kSpinsBeforeSleep) {
        ++spins;
        std::this_thread::yield();
      } else {
        packets.bell().wait(seen, -1);
      }
      continue;
    }
    spins = 0;
    worker.account(std::span(batch->packets).first(batch->count),
                   batch->extras_span(worker.table().config().extras ? batch->count : 0), batch->stamp);
    const PacketBatch::Command command = batch->command;
    ShardQuestion* question = batch->question;
    const BatchStamp stamp = batch->stamp;
    packets.release(batch);
    if (command == PacketBatch::Command::kQuestion) worker.answer(*question);
    if (command == PacketBatch::Command::kEndOfInput) {
      worker.finish(stamp);
      return;
    }
    worker.hand_over();
  }
}

}  // namespace tapflow::probe::runtime
