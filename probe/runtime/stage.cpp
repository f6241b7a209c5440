#include "probe/runtime/stage.h"

#include <pthread.h>

#include <csignal>
#include <string>

#include "cache/flow_hash.h"

namespace tapflow::probe::runtime {

// ---- Stage

Stage::Stage(drivers::RxQueue& queue, const StageConfig& config, std::function<void()> on_ended)
    : poller_(queue, config.sampling, config.decode, config.seed ^ 0x5851f42d4c957f2dull, config.source, config.live,
              config.progress),
      extras_on_(config.decode.extras),
      on_ended_(std::move(on_ended)) {}

Stage::~Stage() = default;

void Stage::shutdown() {
  if (!thread_.joinable()) return;
  stop();
  Backoff backoff;
  while (!ended()) backoff.wait();
  quit();
}

void Stage::start(unsigned index) {
  thread_ = std::thread([this, index] {
    name_thread(("tapflow/q" + std::to_string(index)).c_str());
    run();
  });
}

static_assert(kInterruptSignal == SIGURG);

void Stage::interrupt() {
  if (thread_.joinable() && !ended()) pthread_kill(thread_.native_handle(), kInterruptSignal);
}

void Stage::ask(StageQuery& query) {
  query_.store(&query, std::memory_order_release);
  bell_.ring();
}

void Stage::quit() {
  quit_.store(true, std::memory_order_release);
  bell_.ring();
  if (thread_.joinable()) thread_.join();
}

void Stage::mark_ended() {
  ended_.store(true, std::memory_order_release);
  if (on_ended_) on_ended_();
}

void Stage::linger() {
  for (;;) {
    const std::uint32_t seen = bell_.seen();
    serve();
    if (quit_.load(std::memory_order_acquire)) {
      serve();  // a question posted with the quit is answered, never left waiting
      return;
    }
    bell_.wait(seen, 100);
  }
}

void Stage::fill_source(StageQuery& q) {
  poller_.refresh_counters();  // a question is rare: ask the kernel now
  copy_source(q);
}

void Stage::copy_source(StageQuery& q) const {
  q.decode = poller_.decode_counters();
  q.queue = poller_.queue_counters();
}

// ---- QueueStage

QueueStage::QueueStage(drivers::RxQueue& queue, const StageConfig& config, RecordChannel& records,
                       std::function<void()> on_ended)
    : Stage(queue, config, std::move(on_ended)), worker_(config.table, records, config.live) {}

void QueueStage::run() {
  for (;;) {
    serve();
    std::size_t kept = 0;
    const drivers::PollOutcome outcome = poller_.poll(summaries_, extras_span(extras_), kept, stop_);
    const BatchStamp stamp = poller_.stamp();
    // Idle polls account nothing but still expire on the clock.
    worker_.account(std::span(summaries_).first(kept), extras_span(extras_).first(extras_on_ ? kept : 0), stamp);
    if (outcome == drivers::PollOutcome::kEndOfInput) {
      worker_.finish(stamp);
      break;
    }
    worker_.hand_over();
  }
  mark_ended();
  linger();
}

void QueueStage::answer(StageQuery& query) {
  fill_source(query);
  ShardQuestion question;
  question.expire_all = query.expire_all;
  question.flow_limit = query.flow_limit;
  worker_.answer(question);
  query.tables = {question.counters};
  query.active = question.active;
  query.flows = std::move(question.flows);
  query.done.store(true, std::memory_order_release);
  query.done.notify_all();
}

void QueueStage::final_counters(StageQuery& out) const {
  copy_source(out);
  out.tables = {worker_.table().counters()};
  out.active = worker_.table().size();
}

// ---- DispatcherStage

DispatcherStage::DispatcherStage(drivers::RxQueue& queue, const StageConfig& config,
                                 std::vector<RecordChannel*> records, std::function<void()> on_ended)
    : Stage(queue, config, std::move(on_ended)), shard_seed_(config.seed * 0x9e3779b97f4a7c15ull + 1) {
  for (RecordChannel* channel : records) shards_.push_back(std::make_unique<Shard>(config.table, *channel, config.live));
  pending_.assign(shards_.size(), nullptr);
}

DispatcherStage::~DispatcherStage() { shutdown(); }

void DispatcherStage::run() {
  for (std::size_t s = 0; s < shards_.size(); ++s) {
    Shard* shard = shards_[s].get();
    shard->thread = std::thread([shard, s] {
      name_thread(("tapflow/sh" + std::to_string(s)).c_str());
      run_dispatched_worker(shard->worker, shard->packets);
    });
  }
  for (;;) {
    serve();
    std::size_t kept = 0;
    drivers::PollOutcome outcome;
    if (shards_.size() == 1) {
      // One shard: decode straight into its batch, no copy and no hash.
      if (pending_[0] == nullptr) pending_[0] = acquire(0);
      outcome = poller_.poll(pending_[0]->packets, pending_[0]->extras_span(), kept, stop_);
      pending_[0]->count = static_cast<std::uint32_t>(kept);
      if (kept != 0 || outcome == drivers::PollOutcome::kIdle || ++rounds_ % 64 == 0) submit(0);
    } else {
      outcome = poller_.poll(summaries_, extras_span(extras_), kept, stop_);
      if (kept != 0 || outcome == drivers::PollOutcome::kIdle) dispatch(kept);
    }
    if (outcome == drivers::PollOutcome::kEndOfInput) {
      end_input();
      break;
    }
  }
  mark_ended();
  linger();
}

PacketBatch* DispatcherStage::acquire(std::size_t s) {
  Backoff backoff;
  PacketBatch* batch = nullptr;
  // All batches in flight: the worker is behind (or waiting for the export thread); wait.
  while ((batch = shards_[s]->packets.acquire()) == nullptr) backoff.wait();
  batch->count = 0;
  batch->command = PacketBatch::Command::kPackets;
  batch->question = nullptr;
  return batch;
}

void DispatcherStage::submit(std::size_t s) {
  pending_[s]->stamp = poller_.stamp();
  shards_[s]->packets.submit(pending_[s]);
  pending_[s] = nullptr;
}

void DispatcherStage::dispatch(std::size_t count) {
  const auto shards = static_cast<std::uint64_t>(shards_.size());
  for (std::size_t i = 0; i < count; ++i) {
    // Both directions of a connection go to the same shard: the symmetric hash scaled to the
    // shard count by a multiply (no division per packet), skipped when there is one shard.
    __extension__ using U128 = unsigned __int128;
    const std::size_t s =
        shards == 1 ? 0
                    : static_cast<std::size_t>(
                          (static_cast<U128>(cache::symmetric_hash(summaries_[i].key, shard_seed_)) * shards) >> 64);
    PacketBatch*& batch = pending_[s];
    if (batch == nullptr) batch = acquire(s);
    if (extras_on_) (*batch->extras)[batch->count] = extras_[i];
    batch->packets[batch->count++] = summaries_[i];
    if (batch->count == kPacketBatchSize) submit(s);
  }
  // Now and then (and on every idle live poll) every shard gets the clock, even one that no
  // packet went to, so its flows still expire on time.
  const bool tick = count == 0 || ++rounds_ % 64 == 0;
  for (std::size_t s = 0; s < pending_.size(); ++s) {
    if (pending_[s] == nullptr && tick) pending_[s] = acquire(s);
    if (pending_[s] != nullptr) submit(s);
  }
}

void DispatcherStage::end_input() {
  for (std::size_t s = 0; s < shards_.size(); ++s) {
    if (pending_[s] == nullptr) pending_[s] = acquire(s);
    pending_[s]->command = PacketBatch::Command::kEndOfInput;
    submit(s);
  }
  for (auto& shard : shards_) shard->thread.join();
  joined_ = true;
}

void DispatcherStage::answer(StageQuery& query) {
  fill_source(query);
  query.tables.clear();
  query.flows.clear();
  query.active = 0;
  if (!joined_) {
    std::vector<std::unique_ptr<ShardQuestion>> questions;
    for (std::size_t s = 0; s < shards_.size(); ++s) {
      questions.push_back(std::make_unique<ShardQuestion>());
      questions.back()->expire_all = query.expire_all;
      questions.back()->flow_limit = query.flow_limit;
      if (pending_[s] == nullptr) pending_[s] = acquire(s);
      pending_[s]->command = PacketBatch::Command::kQuestion;
      pending_[s]->question = questions.back().get();
      submit(s);
    }
    Backoff backoff;
    for (auto& q : questions) {
      while (!q->done.load(std::memory_order_acquire)) backoff.wait();
      query.tables.push_back(q->counters);
      query.active += q->active;
      query.flows.insert(query.flows.end(), q->flows.begin(), q->flows.end());
    }
  } else {
    add_shard_tables(query);
  }
  // Each shard gave its most recent flows; the coordinator orders and cuts them across stages.
  query.done.store(true, std::memory_order_release);
  query.done.notify_all();
}

void DispatcherStage::final_counters(StageQuery& out) const {
  copy_source(out);
  out.tables.clear();
  out.active = 0;
  add_shard_tables(out);
}

void DispatcherStage::add_shard_tables(StageQuery& q) const {
  for (const auto& shard : shards_) {
    q.tables.push_back(shard->worker.table().counters());
    q.active += shard->worker.table().size();
  }
}

}  // namespace tapflow::probe::runtime
