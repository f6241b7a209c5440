#include "cache/flow_table.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "cache/flow_hash.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tapflow::cache {

namespace {
constexpr std::uint8_t kTcpFin = 0x01;
constexpr std::uint8_t kTcpSyn = 0x02;
constexpr std::uint8_t kTcpRst = 0x04;
constexpr std::uint8_t kTcpAck = 0x10;
constexpr std::uint8_t kProtocolIcmp = 1;
constexpr std::uint8_t kProtocolTcp = 6;
constexpr std::uint8_t kProtocolIcmpv6 = 58;

// What a packet without decoded extras (or a table without config.extras) is read with.
const PacketExtras kNoExtras{};

// An entry stores the key from the header's `protocol` field to its end, in this byte order:
// protocol, tos, ip_version, source port, destination port, ingress interface (host order),
// source address, destination address (4 bytes each in an IPv4 entry, 16 in a wide one), and in
// a wide entry only the tunnel type and tunnel id (host order). A narrow entry's tunnel is none.
constexpr std::size_t kKeyOffset = 45;
constexpr std::size_t kNarrowKeySize = 19;
constexpr std::size_t kWideKeySize = 48;

bool load_is_zero(const std::uint8_t* p) {  // 12 bytes
  std::uint64_t a;
  std::uint32_t b;
  std::memcpy(&a, p, 8);
  std::memcpy(&b, p + 8, 4);
  return (a | b) == 0;
}

// The key in an entry's byte order (narrow: the IPv4 form).
inline void write_key(const FlowKey& key, bool narrow, std::uint8_t* out) {
  const std::size_t address_size = narrow ? 4 : 16;
  *out++ = key.protocol;
  *out++ = key.tos;
  *out++ = key.ip_version;
  std::memcpy(out, &key.source_port, 2);
  std::memcpy(out + 2, &key.destination_port, 2);
  std::memcpy(out + 4, &key.ingress_interface, 4);
  std::memcpy(out + 8, key.source_address.data(), address_size);
  std::memcpy(out + 8 + address_size, key.destination_address.data(), address_size);
  if (!narrow) {
    out[40] = key.tunnel_type;
    std::memcpy(out + 41, &key.tunnel_id, 4);
  }
}

// The packet as its connection's other end would have sent it: MACs and tunnel endpoints
// swapped. Only those name an end; VLANs, labels and the flow label are the packet's own.
inline PacketExtras swap_ends(const PacketExtras& extras) {
  PacketExtras swapped = extras;
  swapped.source_mac = extras.destination_mac;
  swapped.destination_mac = extras.source_mac;
  swapped.tunnel_source = extras.tunnel_destination;
  swapped.tunnel_destination = extras.tunnel_source;
  return swapped;
}

inline void mask_key_extras(const PacketExtras& extras, const std::array<std::uint8_t, kExtraKeyBytes>& mask,
                            std::uint8_t* out) {
  const auto* in = reinterpret_cast<const std::uint8_t*>(&extras);
  for (std::size_t i = 0; i < kExtraKeyBytes; ++i) out[i] = in[i] & mask[i];
}

std::uint64_t load_u48(const std::uint8_t* p) {
  std::uint64_t v = 0;
  std::memcpy(&v, p, 6);
  return v;
}

}  // namespace

FlowTable::ProbeKey FlowTable::make_probe(const FlowKey& key) {
  ProbeKey p;
  // An IPv4 key has zero in the last 12 bytes of each address (FlowKey's contract); one that
  // does not is kept whole in a wide entry rather than trusted.
  p.narrow = key.ip_version == 4 && (key.tunnel_type | key.tunnel_id) == 0 &&
             load_is_zero(key.source_address.data() + 4) &&
             load_is_zero(key.destination_address.data() + 4);
  write_key(key, p.narrow, p.bytes);
  return p;
}

namespace {
template <class Entry>
const std::uint8_t* key_bytes(const Entry& e) {
  return reinterpret_cast<const std::uint8_t*>(&e) + kKeyOffset;
}
template <class Entry>
std::uint8_t* key_bytes(Entry& e) {
  return reinterpret_cast<std::uint8_t*>(&e) + kKeyOffset;
}
}  // namespace

FlowTable::FlowTable(const FlowTableConfig& config) : config_(config) {
  static_assert(sizeof(ProbeKey::bytes) == kWideKeySize);
  static_assert(offsetof(EntryHeader, protocol) == kKeyOffset, "key bytes start at protocol");
  static_assert(offsetof(Entry4, destination_address) + 4 == kKeyOffset + kNarrowKeySize);
  static_assert(offsetof(EntryWide, tunnel) + sizeof(TunnelFields) == kKeyOffset + kWideKeySize);
  static_assert(std::is_trivially_destructible_v<Entry4> && std::is_trivially_destructible_v<EntryWide>,
                "entries are never destroyed one by one");
  if (config_.capacity == 0 || config_.capacity >= kWide - 1) {
    throw std::invalid_argument("flow cache size must be between 1 and 2147483646");
  }
  // A live entry counts at least one packet (expire_all tells live from free entries so).
  if (config_.packet_weight == 0) throw std::invalid_argument("packet weight must be at least 1");
  // Page-aligned, so every entry and bucket is aligned to its cache line.
  narrow_.storage = PageMemory(sizeof(Entry4) * config_.capacity);
  narrow_.entries = static_cast<Entry4*>(narrow_.storage.data());
  wide_.storage = PageMemory(sizeof(EntryWide) * config_.capacity);
  wide_.entries = static_cast<EntryWide*>(wide_.storage.data());
  if (config_.extras || config_.biflow) {
    side_memory_ = PageMemory(sizeof(SideBlock) * config_.capacity);
    side_ = static_cast<SideBlock*>(side_memory_.data());
    // A MAC bit is hashed only if both MACs select it: a packet of the other direction has the
    // two swapped, and bits selected on one side only would move between them.
    const auto& mask = config_.extra_key_mask;
    biflow_hash_mask_ = mask;
    for (std::size_t i = 0; i < 6; ++i) {
      biflow_hash_mask_[i] = biflow_hash_mask_[6 + i] = static_cast<std::uint8_t>(mask[i] & mask[6 + i]);
    }
    static_assert(offsetof(PacketExtras, destination_mac) == 6 && offsetof(PacketExtras, vlan_id) == 12);
  }

  // Enough slots for every flow, and by default twice as many.
  const std::size_t least = (config_.capacity + 7) / 8;
  const std::size_t wanted = config_.bucket_count != 0 ? config_.bucket_count : (config_.capacity + 3) / 4;
  const std::size_t buckets = std::bit_ceil(std::max(least, wanted));
  bucket_memory_ = PageMemory(sizeof(Bucket) * buckets);
  buckets_ = static_cast<Bucket*>(bucket_memory_.data());
  bucket_mask_ = buckets - 1;

  // Fine enough that an idle flow is never more than 1/8 of the inactive timeout late.
  granularity_ns_ = std::clamp<std::uint64_t>(config_.inactive_timeout_ns / 8, 1'000'000ull, 1'000'000'000ull);
  const std::uint64_t reach =
      std::max(config_.inactive_timeout_ns, config_.active_timeout_ns) / granularity_ns_ + 2;
  wheel_size_ = std::bit_ceil(static_cast<std::size_t>(std::clamp<std::uint64_t>(reach, 64, 65536)));
  wheel_mask_ = wheel_size_ - 1;
  wheel_.reset(new WheelSlot[wheel_size_]);
  wheel_occupied_.reset(new std::uint64_t[wheel_size_ / 64]());
}

FlowTable::~FlowTable() = default;

FlowKey FlowTable::key_of(Ref r) const {
  const bool wide = (r & kWide) != 0;
  const std::uint8_t* in = wide ? key_bytes(wide_.entries[r & ~kWide]) : key_bytes(narrow_.entries[r]);
  const std::size_t address_size = wide ? 16 : 4;
  FlowKey key;
  key.protocol = in[0];
  key.tos = in[1];
  key.ip_version = in[2];
  std::memcpy(&key.source_port, in + 3, 2);
  std::memcpy(&key.destination_port, in + 5, 2);
  std::memcpy(&key.ingress_interface, in + 7, 4);
  std::memcpy(key.source_address.data(), in + 11, address_size);
  std::memcpy(key.destination_address.data(), in + 11 + address_size, address_size);
  if (wide) {
    key.tunnel_type = in[43];
    std::memcpy(&key.tunnel_id, in + 44, 4);
  }
  return key;
}

void FlowTable::fill_record(Ref r, FlowEndReason reason, FlowRecord& rec) const {
  const EntryHeader& e = header(r);
  rec.key = key_of(r);
  rec.packets = e.packets;
  rec.octets = e.octets;
  rec.first_ns = e.first_ns;
  rec.last_ns = e.last_ns;
  rec.tcp_flags = e.tcp_flags;
  rec.min_ttl = e.min_ttl;
  rec.max_ttl = e.max_ttl;
  rec.end_reason = reason;
  if (side_ != nullptr) {
    // The header counts both directions: the forward direction is what the reverse did not send.
    const SideBlock& side = side_[r & ~kWide];
    rec.packets -= side.reverse.packets;
    rec.octets -= side.reverse.octets;
    rec.first_ns = side.forward_first_ns;
    rec.last_ns = side.forward_last_ns;
    rec.extras = side.extras;
    rec.reverse = side.reverse;
    rec.biflow_direction = side.direction;
    if (config_.biflow) {
      rec.key.tos = side.forward_tos;
      rec.key.ingress_interface = side.forward_ingress_interface;
    }
  }
}

std::uint64_t FlowTable::placed_hash(Ref r) const {
  if (side_ != nullptr) return side_[r & ~kWide].hash;
  return hash_key(key_of(r), config_.hash_seed);
}

FlowEndReason FlowTable::timed_out_reason(const EntryHeader& e, std::uint64_t now_ns,
                                          FlowEndReason otherwise) const {
  const bool idle = now_ns > e.last_ns && now_ns - e.last_ns > config_.inactive_timeout_ns;
  const bool active = now_ns > e.first_ns && now_ns - e.first_ns > config_.active_timeout_ns;
  if (idle && active) {
    return saturating_add(e.last_ns, config_.inactive_timeout_ns) <=
                   saturating_add(e.first_ns, config_.active_timeout_ns)
               ? FlowEndReason::kIdleTimeout
               : FlowEndReason::kActiveTimeout;
  }
  if (idle) return FlowEndReason::kIdleTimeout;
  if (active) return FlowEndReason::kActiveTimeout;
  return otherwise;
}

// --- hash buckets -------------------------------------------------------------------------------

// One bit per slot whose tag is `tag` (free slots included: callers check the slot).
unsigned FlowTable::match_tags(const Bucket& bucket, std::uint16_t tag) {
#if defined(__SSE2__)
  const __m128i tags = _mm_load_si128(reinterpret_cast<const __m128i*>(bucket.tags));
  const __m128i equal = _mm_cmpeq_epi16(tags, _mm_set1_epi16(static_cast<short>(tag)));
  // Each 16-bit lane of 0 or -1 packed to a byte, then one bit per byte.
  return static_cast<unsigned>(_mm_movemask_epi8(_mm_packs_epi16(equal, _mm_setzero_si128())));
#else
  unsigned mask = 0;
  for (unsigned i = 0; i < 8; ++i) mask |= static_cast<unsigned>(bucket.tags[i] == tag) << i;
  return mask;
#endif
}

FlowTable::Ref FlowTable::find(const ProbeKey& probe, std::uint64_t hash) const {
  const auto tag = static_cast<std::uint16_t>(hash >> 48);
  std::uint64_t b = hash & bucket_mask_;
  for (std::uint64_t probes = 0; probes <= bucket_mask_; ++probes) {
    const Bucket& bucket = buckets_[b];
    for (unsigned m = match_tags(bucket, tag); m != 0; m &= m - 1) {
      const int i = std::countr_zero(m);
      if (bucket.slots[i] == 0) continue;
      const Ref r = bucket.slots[i] - 1;
      if (probe.narrow) {
        if ((r & kWide) == 0 && std::memcmp(key_bytes(narrow_.entries[r]), probe.bytes, kNarrowKeySize) == 0) {
          return r;
        }
      } else if ((r & kWide) != 0 &&
                 std::memcmp(key_bytes(wide_.entries[r & ~kWide]), probe.bytes, kWideKeySize) == 0) {
        return r;
      }
    }
    if (bucket.overflow == 0) break;
    b = (b + 1) & bucket_mask_;
  }
  return kNil;
}

void FlowTable::place(Ref r, std::uint64_t hash) {
  const auto tag = static_cast<std::uint16_t>(hash >> 48);
  std::uint64_t b = hash & bucket_mask_;
  // There is always a free slot: the table holds fewer flows than the buckets have slots.
  for (;;) {
    Bucket& bucket = buckets_[b];
    for (int i = 0; i < 8; ++i) {
      if (bucket.slots[i] == 0) {
        bucket.slots[i] = r + 1;
        bucket.tags[i] = tag;
        return;
      }
    }
    ++bucket.overflow;
    b = (b + 1) & bucket_mask_;
  }
}

void FlowTable::unplace(Ref r, std::uint64_t hash) {
  std::uint64_t b = hash & bucket_mask_;
  for (;;) {
    Bucket& bucket = buckets_[b];
    for (int i = 0; i < 8; ++i) {
      if (bucket.slots[i] == r + 1) {
        bucket.slots[i] = 0;
        return;
      }
    }
    --bucket.overflow;
    b = (b + 1) & bucket_mask_;
  }
}

// --- entry pools --------------------------------------------------------------------------------

FlowTable::Ref FlowTable::allocate(bool wide, std::vector<FlowRecord>& expired) {
  // Each pool can hold the whole capacity, so only the total needs a bound.
  if (size_ >= config_.capacity) evict(expired);
  if (wide) {
    if (wide_.free_head != kNil) {
      const Ref index = wide_.free_head;
      wide_.free_head = wide_.entries[index].h.wheel_next;
      return index | kWide;
    }
    new (&wide_.entries[wide_.high_water]) EntryWide;
    return wide_.high_water++ | kWide;
  }
  if (narrow_.free_head != kNil) {
    const Ref index = narrow_.free_head;
    narrow_.free_head = narrow_.entries[index].h.wheel_next;
    return index;
  }
  new (&narrow_.entries[narrow_.high_water]) Entry4;
  return narrow_.high_water++;
}

void FlowTable::release(Ref r) {
  header(r).packets = 0;  // marks the entry free for expire_all's walk over the pools
  if ((r & kWide) != 0) {
    wide_.entries[r & ~kWide].h.wheel_next = wide_.free_head;
    wide_.free_head = r & ~kWide;
  } else {
    narrow_.entries[r].h.wheel_next = narrow_.free_head;
    narrow_.free_head = r;
  }
}

// --- timer wheel --------------------------------------------------------------------------------

void FlowTable::wheel_insert(Ref r, std::uint64_t deadline_ns) {
  const std::uint64_t interval =
      std::clamp<std::uint64_t>(deadline_ns / granularity_ns_, wheel_cursor_, wheel_cursor_ + wheel_size_ - 1);
  const auto slot = static_cast<std::size_t>(interval & wheel_mask_);
  EntryHeader& e = header(r);
  WheelSlot& list = wheel_[slot];
  e.wheel_slot = static_cast<std::uint16_t>(slot);
  e.wheel_prev = kNil;
  e.wheel_next = list.head;
  if (list.head != kNil) {
    header(list.head).wheel_prev = r;
  } else {
    list.tail = r;
    wheel_occupied_[slot / 64] |= std::uint64_t{1} << (slot % 64);
  }
  list.head = r;
}

void FlowTable::wheel_unlink(Ref r) {
  const EntryHeader& e = header(r);
  WheelSlot& list = wheel_[e.wheel_slot];
  if (e.wheel_next != kNil) header(e.wheel_next).wheel_prev = e.wheel_prev; else list.tail = e.wheel_prev;
  if (e.wheel_prev != kNil) header(e.wheel_prev).wheel_next = e.wheel_next; else list.head = e.wheel_next;
  if (list.head == kNil) wheel_occupied_[e.wheel_slot / 64] &= ~(std::uint64_t{1} << (e.wheel_slot % 64));
}

std::size_t FlowTable::wheel_next_nonempty() const {
  const std::size_t from = wheel_cursor_ & wheel_mask_;
  const std::size_t words = wheel_size_ / 64;
  const std::size_t first = from / 64;
  std::uint64_t bits = wheel_occupied_[first] & (~std::uint64_t{0} << (from % 64));
  for (std::size_t i = 0;; ++i) {
    if (bits != 0) {
      const std::size_t slot = ((first + i) % words) * 64 + static_cast<std::size_t>(std::countr_zero(bits));
      return (slot - from) & wheel_mask_;
    }
    if (i == words) return wheel_size_;
    const std::size_t w = (first + i + 1) % words;
    bits = wheel_occupied_[w];
    // Back at the first word: only the slots before the cursor are left.
    if (i + 1 == words) bits &= (std::uint64_t{1} << (from % 64)) - 1;
  }
}

void FlowTable::wheel_rebase(std::uint64_t interval) {
  // Take every flow off the wheel (chained through wheel_next), move the cursor, then file each
  // one again: O(flows), once per clock jump of more than a turn of the wheel. Flows already due
  // land in the cursor's slot, which the sweep that follows takes first, max_records at a time.
  Ref chain = kNil;
  for (std::size_t slot = 0; slot < wheel_size_; ++slot) {
    for (Ref r = wheel_[slot].head; r != kNil;) {
      const Ref next = header(r).wheel_next;
      header(r).wheel_next = chain;
      chain = r;
      r = next;
    }
    wheel_[slot] = WheelSlot{};
  }
  std::fill_n(wheel_occupied_.get(), wheel_size_ / 64, 0);
  wheel_cursor_ = interval;
  while (chain != kNil) {
    const Ref r = chain;
    chain = header(r).wheel_next;
    wheel_insert(r, deadline(header(r)));
  }
}

// --- expiry -------------------------------------------------------------------------------------

void FlowTable::expire_entry(Ref r, FlowEndReason reason, std::vector<FlowRecord>& expired) {
  const EntryHeader& e = header(r);
  // A flow that had already timed out by the table's clock ends for the timeout that came first,
  // whichever path expires it (sweep, full cache, end of input): the record does not depend on
  // when the periodic expiry last ran, nor on the number of shards.
  if (reason != FlowEndReason::kEndOfFlow) reason = timed_out_reason(e, clock_ns_, reason);
  // Built in place: a record is copied once more on its way out (Worker::emit), not twice.
  FlowRecord& record = expired.emplace_back();
  fill_record(r, reason, record);
  ++counters_.expired[static_cast<int>(reason)];
  unplace(r, side_ != nullptr ? side_[r & ~kWide].hash : hash_key(record.key, config_.hash_seed));
  wheel_unlink(r);
  release(r);
  --size_;
}

void FlowTable::evict(std::vector<FlowRecord>& expired) {
  // Full: the flow with the nearest deadline makes room (Cisco/Suricata emergency eviction) —
  // the least recently updated one, unless its active timeout comes first. A few flows at the
  // front of the wheel may have been updated since they were filed; re-file those first (a
  // bounded number, so eviction stays O(1)).
  for (int refiled = 0;; ++refiled) {
    const std::size_t distance = wheel_next_nonempty();
    // The slot's tail: filed first, so the least recently updated of the slot.
    const Ref r = wheel_[(wheel_cursor_ + distance) & wheel_mask_].tail;
    const std::uint64_t due = deadline(header(r));
    if (refiled < 8 && due / granularity_ns_ > wheel_cursor_ + distance &&
        wheel_cursor_ + distance < wheel_cursor_ + wheel_size_ - 1) {
      wheel_unlink(r);
      wheel_insert(r, due);
      continue;
    }
    const Ref next_victim = header(r).wheel_prev;
    expire_entry(r, FlowEndReason::kLackOfResources, expired);
    // A full cache stays full: the next packet of a new flow evicts the new tail, whose entry
    // unlinking just read. Fetch its bucket and the entry after it now.
    if (next_victim != kNil) {
      const EntryHeader& e = header(next_victim);
      if (e.wheel_prev != kNil) __builtin_prefetch(&header(e.wheel_prev), 1);
      __builtin_prefetch(&buckets_[placed_hash(next_victim) & bucket_mask_], 1);
    }
    return;
  }
}

std::size_t FlowTable::expire(std::uint64_t now_ns, std::vector<FlowRecord>& expired,
                              std::size_t max_records) {
  if (now_ns > clock_ns_) clock_ns_ = now_ns;
  // Intervals before `target` have ended by now_ns: every deadline in them has passed.
  const std::uint64_t target = now_ns / granularity_ns_;
  if (size_ == 0) {
    wheel_cursor_ = std::max(wheel_cursor_, target);
    return 0;
  }
  // The interval just before now_ns has ended, so the sweep below takes the flows due by then.
  if (target > wheel_cursor_ + wheel_size_) wheel_rebase(target - 1);
  std::size_t n = 0;
  while (n < max_records && wheel_cursor_ < target) {
    const Ref r = wheel_[wheel_cursor_ & wheel_mask_].head;
    if (r == kNil) {
      const std::size_t distance = wheel_next_nonempty();
      if (distance == wheel_size_ || wheel_cursor_ + distance >= target) {
        wheel_cursor_ = target;
        break;
      }
      wheel_cursor_ += distance;
      continue;
    }
    const std::uint64_t due = deadline(header(r));
    if (now_ns > due) {
      expire_entry(r, FlowEndReason::kIdleTimeout, expired);
      ++n;
    } else {
      // Updated since it was filed: its deadline is now at least `target`, a later slot.
      wheel_unlink(r);
      wheel_insert(r, due);
    }
  }
  return n;
}

std::size_t FlowTable::expire_all(FlowEndReason reason, std::vector<FlowRecord>& expired,
                                  std::size_t max_records) {
  // Walks the pools in address order, not the wheel's lists: each step along a list waits for
  // the miss of the step before, while here the entries stream in and the buckets and wheel
  // neighbours of the entry kAhead further are prefetched. Draining 333 k flows took 63 ms along
  // the wheel (190 ns a flow). The cursor survives between calls and wraps, so calls in chunks
  // with updates in between still end with an empty table.
  constexpr std::uint64_t kAhead = 8;
  const auto ref_at = [this](std::uint64_t i) {
    return i < narrow_.high_water ? static_cast<Ref>(i) : static_cast<Ref>(i - narrow_.high_water) | kWide;
  };
  std::size_t n = 0;
  std::uint64_t idle_steps = 0;  // entries passed since the last one expired
  while (n < max_records && size_ > 0) {
    const std::uint64_t used = std::uint64_t{narrow_.high_water} + wide_.high_water;
    // A whole pass without a live entry cannot happen while size_ > 0 (a live entry counts at
    // least one packet); the bound keeps a broken invariant from spinning forever.
    if (++idle_steps > used) break;
    if (drain_cursor_ >= used) drain_cursor_ = 0;
    if (drain_cursor_ + kAhead < used) {
      const Ref ahead = ref_at(drain_cursor_ + kAhead);
      const EntryHeader& a = header(ahead);
      if (a.packets != 0) {
        __builtin_prefetch(&buckets_[placed_hash(ahead) & bucket_mask_], 1);
        if (a.wheel_prev != kNil) __builtin_prefetch(&header(a.wheel_prev), 1);
        if (a.wheel_next != kNil) __builtin_prefetch(&header(a.wheel_next), 1);
      }
    }
    const Ref r = ref_at(drain_cursor_++);
    if (header(r).packets == 0) continue;  // on a free list
    expire_entry(r, reason, expired);
    ++n;
    idle_steps = 0;
  }
  return n;
}

// --- updates ------------------------------------------------------------------------------------

void FlowTable::update(const PacketSummary& packet, std::vector<FlowRecord>& expired) {
  // A tail call out of line, so the default path keeps its frame and registers.
  if (side_ != nullptr) [[unlikely]] return update_side_unhashed(packet, kNoExtras, expired);
  update_hashed(packet, hash_key(packet.key, config_.hash_seed), expired);
}

void FlowTable::update(const PacketSummary& packet, const PacketExtras& extras, std::vector<FlowRecord>& expired) {
  if (side_ == nullptr) {
    update_hashed(packet, hash_key(packet.key, config_.hash_seed), expired);
    return;
  }
  update_side_unhashed(packet, config_.extras ? extras : kNoExtras, expired);
}

void FlowTable::update_side_unhashed(const PacketSummary& packet, const PacketExtras& extras,
                                     std::vector<FlowRecord>& expired) {
  update_side(packet, extras, side_hash(packet.key, extras), expired);
}

void FlowTable::update_batch(std::span<const PacketSummary> packets, std::span<const PacketExtras> extras,
                             std::vector<FlowRecord>& expired) {
  if (side_ == nullptr) {
    update_batch(packets, expired);
    return;
  }
  update_batch_side(packets, config_.extras ? extras : std::span<const PacketExtras>{}, expired);
}

void FlowTable::update_batch(std::span<const PacketSummary> packets, std::vector<FlowRecord>& expired) {
  // The one test the default path pays: once per batch.
  if (side_ != nullptr) [[unlikely]] {
    update_batch_side(packets, {}, expired);
    return;
  }
  // Software pipelined (as DPDK's l3fwd and rte_hash bulk lookups): packet i + 2d has its key
  // hashed and its bucket prefetched, packet i + d has its bucket read and the entry whose tag
  // matches prefetched, packet i is updated. Prefetches are only hints: an update that moves an
  // entry in between costs a miss, never correctness.
  constexpr std::size_t kDistance = 6;
  constexpr std::size_t kRing = 16;  // > 2 * kDistance, a power of two
  std::uint64_t hashes[kRing];
  const std::size_t n = packets.size();
  for (std::size_t i = 0; i < n + 2 * kDistance; ++i) {
    if (i < n) {
      hashes[i % kRing] = hash_key(packets[i].key, config_.hash_seed);
      __builtin_prefetch(&buckets_[hashes[i % kRing] & bucket_mask_]);
    }
    if (i >= kDistance && i - kDistance < n) {
      const std::uint64_t hash = hashes[(i - kDistance) % kRing];
      const Bucket& bucket = buckets_[hash & bucket_mask_];
      const unsigned m = match_tags(bucket, static_cast<std::uint16_t>(hash >> 48));
      if (m != 0 && bucket.slots[std::countr_zero(m)] != 0) {
        const Ref r = bucket.slots[std::countr_zero(m)] - 1;
        if ((r & kWide) != 0) {
          const auto* e = reinterpret_cast<const char*>(&wide_.entries[r & ~kWide]);
          __builtin_prefetch(e, 1);
          __builtin_prefetch(e + 64, 1);
        } else {
          __builtin_prefetch(&narrow_.entries[r], 1);
        }
      }
    }
    if (i >= 2 * kDistance) {
      const std::size_t k = i - 2 * kDistance;
      update_hashed(packets[k], hashes[k % kRing], expired);
    }
  }
}

void FlowTable::update_hashed(const PacketSummary& packet, std::uint64_t hash,
                              std::vector<FlowRecord>& expired) {
  if (packet.timestamp_ns > clock_ns_) clock_ns_ = packet.timestamp_ns;
  const ProbeKey probe = make_probe(packet.key);
  Ref r = find(probe, hash);

  if (r != kNil) {
    // A flow this packet would join but which has already timed out at the packet's own time is
    // expired first, so the result does not depend on when the periodic expiry last ran.
    const FlowEndReason reason = timed_out_reason(header(r), packet.timestamp_ns, FlowEndReason::kEndOfFlow);
    if (reason != FlowEndReason::kEndOfFlow) {
      expire_entry(r, reason, expired);
      r = kNil;
    }
  }

  if (r == kNil) {
    // An empty wheel has nothing to sweep: its cursor may jump to the clock.
    if (size_ == 0) wheel_cursor_ = std::max(wheel_cursor_, clock_ns_ / granularity_ns_);
    r = allocate(!probe.narrow, expired);
    if (probe.narrow) {
      std::memcpy(key_bytes(narrow_.entries[r]), probe.bytes, kNarrowKeySize);
    } else {
      std::memcpy(key_bytes(wide_.entries[r & ~kWide]), probe.bytes, kWideKeySize);
    }
    EntryHeader& e = header(r);
    e.packets = 0;
    e.octets = 0;
    e.first_ns = packet.timestamp_ns;
    e.last_ns = packet.timestamp_ns;
    e.tcp_flags = 0;
    e.min_ttl = packet.ttl;
    e.max_ttl = packet.ttl;
    place(r, hash);
    wheel_insert(r, deadline(e));
    ++size_;
    ++counters_.flows_created;
  }

  EntryHeader& e = header(r);
  const std::uint64_t weight = config_.packet_weight;
  e.packets += weight;
  e.octets += packet.octets * weight;
  // Timestamps in a file may go backwards a little: keep first <= last whatever the order. An
  // earlier first packet brings the active deadline forward, so the flow moves to its new slot
  // (rare: only out-of-order captures take this branch).
  if (packet.timestamp_ns < e.first_ns) {
    e.first_ns = packet.timestamp_ns;
    wheel_unlink(r);
    wheel_insert(r, deadline(e));
  }
  e.last_ns = std::max(e.last_ns, packet.timestamp_ns);
  e.tcp_flags |= packet.tcp_flags;
  e.min_ttl = std::min(e.min_ttl, packet.ttl);
  e.max_ttl = std::max(e.max_ttl, packet.ttl);
  counters_.packets += weight;
  counters_.octets += packet.octets * weight;

  // Cisco: a TCP flow ends with the packet carrying FIN or RST, after it is counted.
  if (packet.key.protocol == kProtocolTcp && (packet.tcp_flags & (kTcpFin | kTcpRst)) != 0) {
    expire_entry(r, FlowEndReason::kEndOfFlow, expired);
  }
}


// --- the side path: extras and biflow ------------------------------------------------------------

FlowTable::SideProbe FlowTable::make_side_probe(const FlowKey& packet_key, const PacketExtras& extras) const {
  SideProbe p;
  FlowKey key = packet_key;
  if (config_.biflow) {
    // Not part of a biflow's key (see FlowTableConfig::biflow): each direction's own.
    key.tos = 0;
    key.ingress_interface = 0;
  }
  p.forward.narrow = false;
  write_key(key, false, p.forward.bytes);
  mask_key_extras(extras, config_.extra_key_mask, p.extras);
  // ICMP keys hold type * 256 + code where ports would be: reversed, an echo reply's key is not
  // its request's, and pairing on addresses alone would join unrelated messages. Never paired.
  p.pairable = config_.biflow && key.protocol != kProtocolIcmp && key.protocol != kProtocolIcmpv6;
  if (p.pairable) {
    FlowKey reversed = key;
    reversed.source_address = key.destination_address;
    reversed.destination_address = key.source_address;
    reversed.source_port = key.destination_port;
    reversed.destination_port = key.source_port;
    p.reverse.narrow = false;
    write_key(reversed, false, p.reverse.bytes);
    // Swapped, then masked: a key that selects one MAC selects the other end's in a reply.
    mask_key_extras(swap_ends(extras), config_.extra_key_mask, p.reverse_extras);
  }
  return p;
}

std::uint64_t FlowTable::side_hash(const FlowKey& key, const PacketExtras& extras) const {
  constexpr std::uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull,
                          k2 = 0x8ebc6af09c88c6e3ull;
  const auto* x = reinterpret_cast<const std::uint8_t*>(&extras);
  if (!config_.biflow) {
    // The key's hash with the masked extra key bytes mixed in: two multiplies more.
    std::uint8_t masked[kExtraKeyBytes];
    mask_key_extras(extras, config_.extra_key_mask, masked);
    std::uint64_t h = hash_key(key, config_.hash_seed);
    h = detail::mix(detail::load_u64(masked) ^ h ^ k0, detail::load_u64(masked + 8) ^ k1);
    return detail::mix(detail::load_u64(masked + 16) ^ h, config_.hash_seed ^ k2);
  }
  // Direction-independent, so a connection's two directions probe the same buckets and one
  // lookup compares each candidate both ways (a second lookup with the reversed key would cost a
  // second bucket walk, a likely cache miss, for every reverse packet and every new flow).
  // symmetric_hash leaves out the ingress interface and the key's last word (protocol, tos,
  // version, tunnel), equal both ways; the ToS is not part of a biflow's key.
  const auto* k = reinterpret_cast<const std::uint8_t*>(&key);
  constexpr std::uint64_t kWithoutTos = ~(std::uint64_t{0xff} << (8 * (offsetof(FlowKey, tos) - 40)));
  std::uint64_t h = symmetric_hash(key, config_.hash_seed);
  h = detail::mix((detail::load_u64(k + 40) & kWithoutTos) ^ h ^ k0, config_.hash_seed ^ k1);
  if (!config_.extras) return h;
  // The MACs as sum and XOR (equal when swapped), the rest as it is; only the bits both
  // orientations determine (biflow_hash_mask_), so every packet of a flow hashes alike.
  const auto& m = biflow_hash_mask_;
  const std::uint64_t source = load_u48(x) & load_u48(m.data());
  const std::uint64_t destination = load_u48(x + 6) & load_u48(m.data() + 6);
  const std::uint64_t rest = detail::load_u64(x + 12) & detail::load_u64(m.data() + 12);
  std::uint32_t rest_x, rest_m;
  std::memcpy(&rest_x, x + 20, 4);
  std::memcpy(&rest_m, m.data() + 20, 4);
  h = detail::mix((source + destination) ^ h ^ k2, (source ^ destination) ^ k0);
  return detail::mix(rest ^ h ^ k1, static_cast<std::uint64_t>(rest_x & rest_m) ^ k2);
}

FlowTable::Ref FlowTable::find_side(const SideProbe& probe, std::uint64_t hash, bool& reversed) const {
  // The flow keyed as the packet, else the one keyed as its reverse. Both can exist only under a
  // key mask that selects a MAC bit on one side and not the other (a packet whose reverse missed
  // a flow for a MAC outside the key created its own): the forward one wins, whatever their
  // order in the buckets. A key equal to its own reverse matches forward.
  const auto tag = static_cast<std::uint16_t>(hash >> 48);
  std::uint64_t b = hash & bucket_mask_;
  Ref reverse_match = kNil;
  for (std::uint64_t probes = 0; probes <= bucket_mask_; ++probes) {
    const Bucket& bucket = buckets_[b];
    for (unsigned m = match_tags(bucket, tag); m != 0; m &= m - 1) {
      const int i = std::countr_zero(m);
      if (bucket.slots[i] == 0) continue;
      const Ref r = bucket.slots[i] - 1;
      const std::uint8_t* stored = key_bytes(wide_.entries[r & ~kWide]);
      const SideBlock& side = side_[r & ~kWide];
      if (std::memcmp(stored, probe.forward.bytes, kWideKeySize) == 0 &&
          std::memcmp(side.key_extras, probe.extras, kExtraKeyBytes) == 0) {
        reversed = false;
        return r;
      }
      if (probe.pairable && reverse_match == kNil &&
          std::memcmp(stored, probe.reverse.bytes, kWideKeySize) == 0 &&
          std::memcmp(side.key_extras, probe.reverse_extras, kExtraKeyBytes) == 0) {
        reverse_match = r;
      }
    }
    if (bucket.overflow == 0) break;
    b = (b + 1) & bucket_mask_;
  }
  reversed = reverse_match != kNil;
  return reverse_match;
}

void FlowTable::update_batch_side(std::span<const PacketSummary> packets, std::span<const PacketExtras> extras,
                                  std::vector<FlowRecord>& expired) {
  // The default path's pipeline (update_batch), with the side block prefetched beside the entry.
  constexpr std::size_t kDistance = 6;
  constexpr std::size_t kRing = 16;
  std::uint64_t hashes[kRing];
  const std::size_t n = packets.size();
  const auto extras_of = [&](std::size_t i) -> const PacketExtras& {
    return i < extras.size() ? extras[i] : kNoExtras;
  };
  for (std::size_t i = 0; i < n + 2 * kDistance; ++i) {
    if (i < n) {
      hashes[i % kRing] = side_hash(packets[i].key, extras_of(i));
      __builtin_prefetch(&buckets_[hashes[i % kRing] & bucket_mask_]);
    }
    if (i >= kDistance && i - kDistance < n) {
      const std::uint64_t hash = hashes[(i - kDistance) % kRing];
      const Bucket& bucket = buckets_[hash & bucket_mask_];
      const unsigned m = match_tags(bucket, static_cast<std::uint16_t>(hash >> 48));
      if (m != 0 && bucket.slots[std::countr_zero(m)] != 0) {
        const Ref index = (bucket.slots[std::countr_zero(m)] - 1) & ~kWide;
        const auto* e = reinterpret_cast<const char*>(&wide_.entries[index]);
        const auto* side = reinterpret_cast<const char*>(&side_[index]);
        __builtin_prefetch(e, 1);
        __builtin_prefetch(e + 64, 1);
        __builtin_prefetch(side, 1);
        __builtin_prefetch(side + 64, 1);
      }
    }
    if (i >= 2 * kDistance) {
      const std::size_t k = i - 2 * kDistance;
      update_side(packets[k], extras_of(k), hashes[k % kRing], expired);
    }
  }
}

void FlowTable::update_side(const PacketSummary& packet, const PacketExtras& extras, std::uint64_t hash,
                            std::vector<FlowRecord>& expired) {
  if (packet.timestamp_ns > clock_ns_) clock_ns_ = packet.timestamp_ns;
  const SideProbe probe = make_side_probe(packet.key, extras);
  bool reversed = false;
  Ref r = find_side(probe, hash, reversed);
  // As update_hashed: a flow timed out at the packet's time (idle from its last packet either
  // way, active from its first) is expired before the packet is counted. Then the lookup runs
  // again: the packet may match another flow the other way round (see find_side), and a new flow
  // must not duplicate it (found by fuzz_flow_table). At most two flows match, so this ends.
  while (r != kNil) {
    const FlowEndReason reason = timed_out_reason(header(r), packet.timestamp_ns, FlowEndReason::kEndOfFlow);
    if (reason == FlowEndReason::kEndOfFlow) break;
    expire_entry(r, reason, expired);
    r = find_side(probe, hash, reversed);
  }

  const bool tcp = packet.key.protocol == kProtocolTcp;
  if (r == kNil) {
    if (size_ == 0) wheel_cursor_ = std::max(wheel_cursor_, clock_ns_ / granularity_ns_);
    const bool syn = tcp && (packet.tcp_flags & kTcpSyn) != 0;
    // A SYN-ACK with no flow: its destination sent the SYN, so that end is the source.
    reversed = probe.pairable && syn && (packet.tcp_flags & kTcpAck) != 0;
    r = allocate(true, expired);
    const Ref index = r & ~kWide;
    std::memcpy(key_bytes(wide_.entries[index]), reversed ? probe.reverse.bytes : probe.forward.bytes,
                kWideKeySize);
    SideBlock& side = *new (&side_[index]) SideBlock{};
    std::memcpy(side.key_extras, reversed ? probe.reverse_extras : probe.extras, kExtraKeyBytes);
    if (config_.extras) {
      side.extras.first = reversed ? swap_ends(extras) : extras;
      side.extras.min_length = packet.octets;
      side.extras.max_length = packet.octets;
    }
    side.hash = hash;
    // A pure SYN from the source, or a SYN-ACK keyed from its destination: either way the
    // source sent the SYN.
    side.direction = config_.biflow && syn ? BiflowDirection::kInitiator : BiflowDirection::kArbitrary;
    EntryHeader& e = header(r);
    e.packets = 0;
    e.octets = 0;
    e.first_ns = packet.timestamp_ns;
    e.last_ns = packet.timestamp_ns;
    e.tcp_flags = 0;
    e.min_ttl = 0;  // set by the first forward packet
    e.max_ttl = 0;
    place(r, hash);
    wheel_insert(r, deadline(e));
    ++size_;
    ++counters_.flows_created;
  }

  EntryHeader& e = header(r);
  SideBlock& side = side_[r & ~kWide];
  const std::uint64_t weight = config_.packet_weight;
  const std::uint64_t octets = packet.octets * weight;
  const bool first_forward = !reversed && e.packets == side.reverse.packets;
  // The header: both directions, so the deadlines need nothing else.
  e.packets += weight;
  e.octets += octets;
  if (packet.timestamp_ns < e.first_ns) {
    e.first_ns = packet.timestamp_ns;
    wheel_unlink(r);
    wheel_insert(r, deadline(e));
  }
  e.last_ns = std::max(e.last_ns, packet.timestamp_ns);
  if (reversed) {
    ReverseCounters& v = side.reverse;
    if (v.packets == 0) {
      v.first_ns = v.last_ns = packet.timestamp_ns;
      v.min_ttl = v.max_ttl = packet.ttl;
      v.tos = packet.key.tos;
      v.ingress_interface = packet.key.ingress_interface;
    }
    v.packets += weight;
    v.octets += octets;
    v.first_ns = std::min(v.first_ns, packet.timestamp_ns);
    v.last_ns = std::max(v.last_ns, packet.timestamp_ns);
    v.tcp_flags |= packet.tcp_flags;
    v.min_ttl = std::min(v.min_ttl, packet.ttl);
    v.max_ttl = std::max(v.max_ttl, packet.ttl);
  } else {
    if (first_forward) {
      side.forward_first_ns = side.forward_last_ns = packet.timestamp_ns;
      e.min_ttl = e.max_ttl = packet.ttl;
      side.forward_tos = packet.key.tos;
      side.forward_ingress_interface = packet.key.ingress_interface;
    }
    side.forward_first_ns = std::min(side.forward_first_ns, packet.timestamp_ns);
    side.forward_last_ns = std::max(side.forward_last_ns, packet.timestamp_ns);
    e.tcp_flags |= packet.tcp_flags;
    e.min_ttl = std::min(e.min_ttl, packet.ttl);
    e.max_ttl = std::max(e.max_ttl, packet.ttl);
  }
  if (config_.extras) {
    side.extras.first.fragment_flags |= extras.fragment_flags;
    side.extras.min_length = std::min(side.extras.min_length, packet.octets);
    side.extras.max_length = std::max(side.extras.max_length, packet.octets);
  }
  counters_.packets += weight;
  counters_.octets += octets;

  if (tcp && (packet.tcp_flags & (kTcpFin | kTcpRst)) != 0) {
    // A uniflow ends with its FIN or RST (Cisco). A biflow ends on RST from either end, and on
    // FIN only once both ends have sent one: the first FIN half-closes the connection.
    const bool both_fin = (e.tcp_flags & side.reverse.tcp_flags & kTcpFin) != 0;
    if (!config_.biflow || (packet.tcp_flags & kTcpRst) != 0 || both_fin) {
      expire_entry(r, FlowEndReason::kEndOfFlow, expired);
    }
  }
}

}  // namespace tapflow::cache
