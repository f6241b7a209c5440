// The flow table: a fixed-capacity cache of active flows owned by one shard (one thread).
// Allocated once at construction; updating it never allocates. Expiry (inactive, active, TCP
// FIN/RST, cache full, forced) costs O(1) per flow expired: two intrusive lists keep the flows
// ordered by last update and by creation, so no operation ever scans the table.
// The last-update list is kept lazily: a flow moves to the front at most once per
// `lru_granularity` of packet time, because moving it touches three other entries (three cache
// misses on a big table); expiry re-files a flow it finds out of place instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <vector>

#include "cache/flow_record.h"
#include "cache/packet_summary.h"

namespace tapflow::cache {

struct FlowTableConfig {
  std::size_t capacity = 1u << 20;                // maximum number of active flows
  std::uint64_t inactive_timeout_ns = 15'000'000'000ull;
  std::uint64_t active_timeout_ns = 1'800'000'000'000ull;
  std::uint64_t hash_seed = 0;
  // Hash buckets, rounded up to a power of two; 0 = twice the capacity (mean chain length 0.5).
  std::size_t bucket_count = 0;
  // Each packet counts as this many packets and its octets this many times (--scale-sampled:
  // the sampling interval; 1 otherwise).
  std::uint32_t packet_weight = 1;
};

// Counters of one table; plain integers because only the owning thread writes them.
struct FlowTableCounters {
  std::uint64_t packets = 0;        // packets accounted into flows (times packet_weight)
  std::uint64_t octets = 0;
  std::uint64_t flows_created = 0;
  std::uint64_t expired[6] = {};    // indexed by FlowEndReason (1..5)

  std::uint64_t expired_total() const {
    std::uint64_t n = 0;
    for (auto e : expired) n += e;
    return n;
  }
};

class FlowTable {
 public:
  explicit FlowTable(const FlowTableConfig& config);
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // Accounts one packet. May expire flows (the packet's own flow on FIN/RST, a stale flow it
  // would have joined, the least recently updated flow when the table is full); their records
  // are appended to `expired`, which the caller drains. Advances the table's clock to the
  // packet's time if it is later.
  void update(const PacketSummary& packet, std::vector<FlowRecord>& expired);

  // The same as update() for each packet in order, but prefetches the buckets and entries of a
  // group of packets before touching any of them, so their cache misses overlap.
  void update_batch(std::span<const PacketSummary> packets, std::vector<FlowRecord>& expired);

  // Expires flows idle or active for longer than the timeouts at time `now_ns`, at most
  // `max_records` of them (spreading expiry over calls); returns how many were expired.
  std::size_t expire(std::uint64_t now_ns, std::vector<FlowRecord>& expired,
                     std::size_t max_records = SIZE_MAX);

  // Expires up to `max_records` flows with reason `reason` (end of input, shutdown, `ctl
  // expire`), oldest first; returns how many. Call until it returns 0 to empty the table.
  std::size_t expire_all(FlowEndReason reason, std::vector<FlowRecord>& expired,
                         std::size_t max_records = SIZE_MAX);

  // Calls `visit(const FlowRecord&)` for each active flow, most recently updated first, up to
  // `limit` flows (for `ctl flows` / `top`); the records carry reason kForcedEnd.
  template <class Visit>
  void for_each_active(Visit&& visit, std::size_t limit = SIZE_MAX) const {
    for (std::uint32_t i = lru_head_; i != kNil && limit > 0; i = entries_[i].lru_next, --limit) {
      visit(to_record(entries_[i], FlowEndReason::kForcedEnd));
    }
  }

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return config_.capacity; }
  std::uint64_t clock_ns() const { return clock_ns_; }
  const FlowTableCounters& counters() const { return counters_; }
  const FlowTableConfig& config() const { return config_; }

 private:
  static constexpr std::uint32_t kNil = 0xffffffffu;

  // Hot fields (key, hash, bucket chain, counters) in the first 64-byte line, list links and
  // cold fields after it.
  struct alignas(64) Entry {
    FlowKey key;                  // 44
    std::uint32_t hash_tag;       // low 32 bits of the hash: cheap filter before the key compare
    std::uint32_t bucket_next;    // next entry in the same bucket, or kNil
    std::uint8_t tcp_flags;
    std::uint8_t min_ttl;
    std::uint8_t max_ttl;
    std::uint8_t in_use;
    std::uint64_t packets;        // first line ends here (64 bytes)
    std::uint64_t octets;
    std::uint64_t first_ns;
    std::uint64_t last_ns;
    std::uint64_t lru_ns;         // clock when the flow last moved to the front of the LRU list
    std::uint32_t lru_prev, lru_next;        // ordered by lru_ns: head newest
    std::uint32_t age_prev, age_next;        // ordered by creation: head oldest
  };
  static_assert(offsetof(Entry, packets) == 56, "hot fields must fit the first cache line");
  static_assert(sizeof(Entry) == 128, "an entry is two cache lines");

  static FlowRecord to_record(const Entry& e, FlowEndReason reason);
  // The timeout a flow has passed at now_ns (the earlier deadline if both), else `otherwise`.
  FlowEndReason timed_out_reason(const Entry& e, std::uint64_t now_ns, FlowEndReason otherwise) const;
  void update_hashed(const PacketSummary& packet, std::uint64_t hash, std::vector<FlowRecord>& expired);
  void expire_entry(std::uint32_t index, FlowEndReason reason, std::vector<FlowRecord>& expired);
  std::uint32_t allocate_entry(std::vector<FlowRecord>& expired);
  void lru_unlink(std::uint32_t i);
  void lru_push_front(std::uint32_t i);
  // Moves the LRU tail to the front if it was updated since it was filed; false if it is in place.
  bool refile_lru_tail();
  void age_unlink(std::uint32_t i);
  void age_push_back(std::uint32_t i);

  FlowTableConfig config_;
  // Raw storage: an entry is constructed when first taken, so capacity never used is never
  // touched and stays out of the resident set (a 1 M-entry table is 128 MiB of address space).
  struct RawDeleter {
    void operator()(Entry* p) const { ::operator delete(p, std::align_val_t{alignof(Entry)}); }
  };
  std::unique_ptr<Entry, RawDeleter> storage_;
  Entry* entries_ = nullptr;
  std::unique_ptr<std::uint32_t[]> buckets_;
  std::uint64_t bucket_mask_ = 0;
  std::uint32_t free_head_ = kNil;   // recycled entries chained through bucket_next
  // Entries above this index were never used: taking them in order instead of chaining all of
  // them into the free list up front keeps untouched memory out of the resident set.
  std::uint32_t high_water_ = 0;
  std::uint32_t lru_head_ = kNil, lru_tail_ = kNil;
  std::uint32_t age_head_ = kNil, age_tail_ = kNil;
  std::size_t size_ = 0;
  std::uint64_t clock_ns_ = 0;
  std::uint64_t lru_granularity_ns_ = 0;
  FlowTableCounters counters_;
};

}  // namespace tapflow::cache
