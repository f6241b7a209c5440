#include "probe/shard.h"

#include <pthread.h>

#include <string>

#include "probe/cache_warnings.h"

#include <chrono>

namespace tapflow::probe {

void Backoff::wait() {
  if (spins_ < 64) {
    ++spins_;
    std::this_thread::yield();
    return;
  }
  std::this_thread::sleep_for(std::chrono::microseconds(spins_ < 200 ? 50 : 1000));
  ++spins_;
}

Shard::Shard(const cache::FlowTableConfig& config) : table_(config) {
  for (std::size_t i = 0; i < kQueueDepth; ++i) {
    packet_pool_.push_back(std::make_unique<PacketBatch>());
    packets_free_.push(packet_pool_.back().get());
    record_pool_.push_back(std::make_unique<RecordBatch>());
    records_free_.push(record_pool_.back().get());
  }
  // A batch can end two flows per packet (a full cache evicts one for a new flow whose own RST
  // then ends it), then the sweep adds a chunk: reserved up front, nothing grows on the data path.
  expired_.reserve(4096 + 2 * kPacketBatchSize);
}

Shard::~Shard() { join(); }

void Shard::start(unsigned index) {
  thread_ = std::thread([this, index] {
    const std::string name = "tapflow/sh" + std::to_string(index);
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    run();
  });
}

void Shard::join() {
  if (thread_.joinable()) thread_.join();
}

PacketBatch* Shard::acquire_batch() {
  PacketBatch* batch = nullptr;
  if (!packets_free_.pop(batch)) return nullptr;
  batch->count = 0;
  batch->command = PacketBatch::Command::kPackets;
  batch->request = nullptr;
  return batch;
}

void Shard::submit(PacketBatch* batch) {
  // Never fails: at most kQueueDepth batches exist and the queue holds that many.
  packets_in_.push(batch);
  submitted_.fetch_add(1, std::memory_order_release);
  submitted_.notify_one();
}

void Shard::emit(std::vector<cache::FlowRecord>& expired) {
  Backoff backoff;
  for (const auto& record : expired) {
    while (current_records_ == nullptr && !records_free_.pop(current_records_)) backoff.wait();
    current_records_->records[current_records_->count++] = record;
    if (current_records_->count == kRecordBatchSize) {
      records_out_.push(current_records_);
      current_records_ = nullptr;
    }
  }
  expired.clear();
}

void Shard::run() {
  constexpr std::size_t kExpireChunk = 4096;
  constexpr unsigned kSpinsBeforeSleep = 64;
  unsigned spins = 0;
  for (;;) {
    PacketBatch* batch = nullptr;
    // Read before trying the queue: a batch submitted after a failed pop changes it, so the
    // wait below returns at once instead of missing the wake-up.
    const std::uint32_t seen = submitted_.load(std::memory_order_acquire);
    if (!packets_in_.pop(batch)) {
      if (spins < kSpinsBeforeSleep) {
        ++spins;
        std::this_thread::yield();
      } else {
        submitted_.wait(seen, std::memory_order_acquire);
      }
      continue;
    }
    spins = 0;
    table_.update_batch(std::span(batch->packets).first(batch->count), expired_);
    warn_if_cache_full(table_);
    while (table_.expire(batch->clock_ns, expired_, kExpireChunk) != 0) emit(expired_);
    const bool end = batch->command == PacketBatch::Command::kEndOfInput;
    ShardRequest* request = batch->command == PacketBatch::Command::kRequest ? batch->request : nullptr;
    packets_free_.push(batch);
    if (request != nullptr) {
      if (request->expire_all) {
        while (table_.expire_all(cache::FlowEndReason::kForcedEnd, expired_, kExpireChunk) != 0) {
          emit(expired_);
        }
      }
      request->flows.clear();
      table_.for_each_active([request](const cache::FlowRecord& r) { request->flows.push_back(r); },
                             request->flow_limit);
      request->counters = table_.counters();
      request->active = table_.size();
      request->done.store(true, std::memory_order_release);
    }
    if (end) {
      while (table_.expire_all(cache::FlowEndReason::kForcedEnd, expired_, kExpireChunk) != 0) {
        emit(expired_);
      }
    }
    emit(expired_);
    // Hand over a partly filled record batch at the end of every packet batch, so records do not
    // wait for more packets that may never come.
    if (current_records_ != nullptr && current_records_->count != 0) {
      records_out_.push(current_records_);
      current_records_ = nullptr;
    }
    if (end) {
      finished_.store(true, std::memory_order_release);
      return;
    }
  }
}

}  // namespace tapflow::probe
