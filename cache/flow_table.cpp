#include "cache/flow_table.h"

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <type_traits>

#include "cache/flow_hash.h"

namespace tapflow::cache {

namespace {
constexpr std::uint8_t kTcpFin = 0x01;
constexpr std::uint8_t kTcpRst = 0x04;
constexpr std::uint8_t kProtocolTcp = 6;
}  // namespace

FlowTable::FlowTable(const FlowTableConfig& config) : config_(config) {
  if (config_.capacity == 0 || config_.capacity >= kNil) {
    throw std::invalid_argument("flow cache size must be between 1 and 4294967294");
  }
  static_assert(std::is_trivially_destructible_v<Entry>, "entries are never destroyed one by one");
  storage_.reset(static_cast<Entry*>(
      ::operator new(sizeof(Entry) * config_.capacity, std::align_val_t{alignof(Entry)})));
  entries_ = storage_.get();
  const std::size_t buckets =
      std::bit_ceil(config_.bucket_count != 0 ? config_.bucket_count : config_.capacity * 2);
  buckets_.reset(new std::uint32_t[buckets]);
  std::fill_n(buckets_.get(), buckets, kNil);
  bucket_mask_ = buckets - 1;
  // At most 1 s, and fine enough that an idle flow is never more than 1/8 timeout late.
  lru_granularity_ns_ = std::min<std::uint64_t>(1'000'000'000ull, config_.inactive_timeout_ns / 8);
}

FlowTable::~FlowTable() = default;

FlowRecord FlowTable::to_record(const Entry& e, FlowEndReason reason) {
  FlowRecord r;
  r.key = e.key;
  r.packets = e.packets;
  r.octets = e.octets;
  r.first_ns = e.first_ns;
  r.last_ns = e.last_ns;
  r.tcp_flags = e.tcp_flags;
  r.min_ttl = e.min_ttl;
  r.max_ttl = e.max_ttl;
  r.end_reason = reason;
  return r;
}

void FlowTable::lru_unlink(std::uint32_t i) {
  Entry& e = entries_[i];
  if (e.lru_prev != kNil) entries_[e.lru_prev].lru_next = e.lru_next; else lru_head_ = e.lru_next;
  if (e.lru_next != kNil) entries_[e.lru_next].lru_prev = e.lru_prev; else lru_tail_ = e.lru_prev;
}

void FlowTable::lru_push_front(std::uint32_t i) {
  Entry& e = entries_[i];
  e.lru_ns = clock_ns_;
  e.lru_prev = kNil;
  e.lru_next = lru_head_;
  if (lru_head_ != kNil) entries_[lru_head_].lru_prev = i; else lru_tail_ = i;
  lru_head_ = i;
}

void FlowTable::age_unlink(std::uint32_t i) {
  Entry& e = entries_[i];
  if (e.age_prev != kNil) entries_[e.age_prev].age_next = e.age_next; else age_head_ = e.age_next;
  if (e.age_next != kNil) entries_[e.age_next].age_prev = e.age_prev; else age_tail_ = e.age_prev;
}

void FlowTable::age_push_back(std::uint32_t i) {
  Entry& e = entries_[i];
  e.age_next = kNil;
  e.age_prev = age_tail_;
  if (age_tail_ != kNil) entries_[age_tail_].age_next = i; else age_head_ = i;
  age_tail_ = i;
}

FlowEndReason FlowTable::timed_out_reason(const Entry& e, std::uint64_t now_ns,
                                          FlowEndReason otherwise) const {
  const bool idle = now_ns > e.last_ns && now_ns - e.last_ns > config_.inactive_timeout_ns;
  const bool active = now_ns > e.first_ns && now_ns - e.first_ns > config_.active_timeout_ns;
  if (idle && active) {
    return e.last_ns + config_.inactive_timeout_ns <= e.first_ns + config_.active_timeout_ns
               ? FlowEndReason::kIdleTimeout
               : FlowEndReason::kActiveTimeout;
  }
  if (idle) return FlowEndReason::kIdleTimeout;
  if (active) return FlowEndReason::kActiveTimeout;
  return otherwise;
}

void FlowTable::expire_entry(std::uint32_t index, FlowEndReason reason,
                             std::vector<FlowRecord>& expired) {
  Entry& e = entries_[index];
  // A flow that had already timed out by the table's clock ends for the timeout that came first,
  // whichever path expires it (sweep, full cache, end of input): the record does not depend on
  // when the periodic expiry last ran, nor on the number of shards.
  if (reason != FlowEndReason::kEndOfFlow) reason = timed_out_reason(e, clock_ns_, reason);
  expired.push_back(to_record(e, reason));
  ++counters_.expired[static_cast<int>(reason)];

  // Unlink from its bucket chain: chains are short, so walking from the head is cheap.
  std::uint32_t* link = &buckets_[hash_key(e.key, config_.hash_seed) & bucket_mask_];
  while (*link != index) link = &entries_[*link].bucket_next;
  *link = e.bucket_next;

  lru_unlink(index);
  age_unlink(index);
  e.in_use = 0;
  e.bucket_next = free_head_;
  free_head_ = index;
  --size_;
}

bool FlowTable::refile_lru_tail() {
  const std::uint32_t tail = lru_tail_;
  const Entry& e = entries_[tail];
  if (e.last_ns <= e.lru_ns || tail == lru_head_) return false;
  lru_unlink(tail);
  lru_push_front(tail);
  return true;
}

std::uint32_t FlowTable::allocate_entry(std::vector<FlowRecord>& expired) {
  if (free_head_ == kNil && high_water_ == config_.capacity) {
    // Full: the least recently updated flow makes room (Cisco/Suricata emergency eviction).
    // A few tail flows may have been updated since they were filed; re-file those first (a
    // bounded number, so eviction stays O(1)).
    for (int i = 0; i < 8 && refile_lru_tail(); ++i) {
    }
    expire_entry(lru_tail_, FlowEndReason::kLackOfResources, expired);
  }
  if (free_head_ != kNil) {
    const std::uint32_t index = free_head_;
    free_head_ = entries_[index].bucket_next;
    return index;
  }
  return static_cast<std::uint32_t>(new (&entries_[high_water_++]) Entry - entries_);
}

void FlowTable::update(const PacketSummary& packet, std::vector<FlowRecord>& expired) {
  update_hashed(packet, hash_key(packet.key, config_.hash_seed), expired);
}

void FlowTable::update_batch(std::span<const PacketSummary> packets, std::vector<FlowRecord>& expired) {
  // Groups of 16 (as DPDK's l3fwd looks up keys in groups): hash and prefetch the buckets, then
  // prefetch the entries the buckets point to, then update. Prefetches are only hints: an update
  // earlier in the group that changes a chain costs a miss, never correctness.
  constexpr std::size_t kGroup = 16;
  std::uint64_t hashes[kGroup];
  for (std::size_t base = 0; base < packets.size(); base += kGroup) {
    const std::size_t m = std::min(kGroup, packets.size() - base);
    for (std::size_t i = 0; i < m; ++i) {
      hashes[i] = hash_key(packets[base + i].key, config_.hash_seed);
      __builtin_prefetch(&buckets_[hashes[i] & bucket_mask_]);
    }
    for (std::size_t i = 0; i < m; ++i) {
      const std::uint32_t head = buckets_[hashes[i] & bucket_mask_];
      if (head != kNil) {
        __builtin_prefetch(&entries_[head], 1);
        __builtin_prefetch(reinterpret_cast<const char*>(&entries_[head]) + 64, 1);
      }
    }
    for (std::size_t i = 0; i < m; ++i) update_hashed(packets[base + i], hashes[i], expired);
  }
}

void FlowTable::update_hashed(const PacketSummary& packet, std::uint64_t hash,
                              std::vector<FlowRecord>& expired) {
  if (packet.timestamp_ns > clock_ns_) clock_ns_ = packet.timestamp_ns;
  const auto tag = static_cast<std::uint32_t>(hash);
  std::uint32_t* bucket = &buckets_[hash & bucket_mask_];

  std::uint32_t index = *bucket;
  while (index != kNil) {
    const Entry& e = entries_[index];
    if (e.hash_tag == tag && e.key == packet.key) break;
    index = e.bucket_next;
  }

  if (index != kNil) {
    Entry& e = entries_[index];
    // A flow this packet would join but which has already timed out at the packet's own time is
    // expired first, so the result does not depend on when the periodic expiry last ran.
    const FlowEndReason reason = timed_out_reason(e, packet.timestamp_ns, FlowEndReason::kEndOfFlow);
    if (reason != FlowEndReason::kEndOfFlow) {
      expire_entry(index, reason, expired);
      index = kNil;
    }
  }

  if (index == kNil) {
    index = allocate_entry(expired);
    bucket = &buckets_[hash & bucket_mask_];
    Entry& e = entries_[index];
    e.key = packet.key;
    e.hash_tag = tag;
    e.bucket_next = *bucket;
    *bucket = index;
    e.packets = 0;
    e.octets = 0;
    e.first_ns = packet.timestamp_ns;
    e.last_ns = packet.timestamp_ns;
    e.tcp_flags = 0;
    e.min_ttl = packet.ttl;
    e.max_ttl = packet.ttl;
    e.in_use = 1;
    lru_push_front(index);
    age_push_back(index);
    ++size_;
    ++counters_.flows_created;
  } else if (clock_ns_ - entries_[index].lru_ns > lru_granularity_ns_ && lru_head_ != index) {
    lru_unlink(index);
    lru_push_front(index);
  }

  Entry& e = entries_[index];
  const std::uint64_t weight = config_.packet_weight;
  e.packets += weight;
  e.octets += packet.octets * weight;
  // Timestamps in a file may go backwards a little: keep first <= last whatever the order.
  e.first_ns = std::min(e.first_ns, packet.timestamp_ns);
  e.last_ns = std::max(e.last_ns, packet.timestamp_ns);
  e.tcp_flags |= packet.tcp_flags;
  e.min_ttl = std::min(e.min_ttl, packet.ttl);
  e.max_ttl = std::max(e.max_ttl, packet.ttl);
  counters_.packets += weight;
  counters_.octets += packet.octets * weight;

  // Cisco: a TCP flow ends with the packet carrying FIN or RST, after it is counted.
  if (packet.key.protocol == kProtocolTcp && (packet.tcp_flags & (kTcpFin | kTcpRst)) != 0) {
    expire_entry(index, FlowEndReason::kEndOfFlow, expired);
  }
}

std::size_t FlowTable::expire(std::uint64_t now_ns, std::vector<FlowRecord>& expired,
                              std::size_t max_records) {
  if (now_ns > clock_ns_) clock_ns_ = now_ns;
  std::size_t n = 0;
  // The LRU tail is the flow idle the longest; the age head the flow active the longest.
  // Entries nearer the head were filed later, and a flow's last update is never before its
  // filing, so the scan stops at the first tail that is neither idle nor out of place.
  while (n < max_records && lru_tail_ != kNil) {
    const Entry& e = entries_[lru_tail_];
    if (now_ns > e.last_ns && now_ns - e.last_ns > config_.inactive_timeout_ns) {
      expire_entry(lru_tail_, FlowEndReason::kIdleTimeout, expired);
      ++n;
    } else if (!refile_lru_tail()) {
      break;
    }
  }
  while (n < max_records && age_head_ != kNil) {
    const Entry& e = entries_[age_head_];
    if (now_ns <= e.first_ns || now_ns - e.first_ns <= config_.active_timeout_ns) break;
    expire_entry(age_head_, FlowEndReason::kActiveTimeout, expired);
    ++n;
  }
  return n;
}

std::size_t FlowTable::expire_all(FlowEndReason reason, std::vector<FlowRecord>& expired,
                                  std::size_t max_records) {
  std::size_t n = 0;
  while (n < max_records && age_head_ != kNil) {
    expire_entry(age_head_, reason, expired);
    ++n;
  }
  return n;
}

}  // namespace tapflow::cache
