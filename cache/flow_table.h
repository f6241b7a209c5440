// The flow table: a fixed-capacity cache of active flows owned by one shard (one thread).
// Allocated once at construction; updating it never allocates.
//
// Lookup is open addressing over 64-byte buckets of eight slots, each slot a 16-bit tag and an
// entry reference (as DPDK's rte_hash), probed linearly; each bucket counts the entries that
// probed past it because it was full (as folly's F14), so a lookup stops at the first bucket
// nobody overflowed and erasing needs no tombstones.
// Entries live in two pools: an IPv4 flow takes one 64-byte cache line (key, counters, times and
// timer links together), any other flow a 96-byte entry holding the whole key.
//
// Expiry (inactive, active, TCP FIN/RST, cache full, forced) costs O(1) per flow expired: every
// flow sits in a timer wheel slot for its deadline, the earlier of last packet + inactive timeout
// and first packet + active timeout. An update does not move the flow (its deadline only gets
// later); when its slot comes due the flow is either expired or re-filed in the slot of its new
// deadline. Slots are `granularity` wide (at most 1 s and 1/8 of the inactive timeout), so a flow
// is expired at most one granularity after its deadline; what a record holds never depends on
// when expiry ran (a packet joining a timed-out flow expires it first).
//
// With extras or biflow configured (--key/--fields, --biflow) every flow lives in the wide pool
// and owns a side block, the entry of a third pool with the wide entry's index: its masked extra
// key bytes (compared with the key), its FlowExtras, its reverse counters. Those runs take their
// own update path; a table with neither maps no side pool, and its path is the one above.
// A biflow's entry header counts both directions (packets, octets, the earliest and latest packet,
// so the timer wheel needs nothing else); the side block keeps what is the reverse's and the
// forward direction's own times, and the record is split back into directions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#include "cache/flow_record.h"
#include "cache/page_memory.h"
#include "cache/packet_summary.h"

namespace tapflow::cache {

struct FlowTableConfig {
  std::size_t capacity = 1u << 20;                // maximum number of active flows
  std::uint64_t inactive_timeout_ns = 15'000'000'000ull;
  std::uint64_t active_timeout_ns = 1'800'000'000'000ull;
  std::uint64_t hash_seed = 0;
  // Hash buckets of 8 slots, rounded up to a power of two and to at least capacity / 8; 0 = one
  // per 4 flows of capacity (a full table fills half the slots).
  std::size_t bucket_count = 0;
  // Each packet counts as this many packets and its octets this many times (--scale-sampled:
  // the sampling interval; 1 otherwise).
  std::uint32_t packet_weight = 1;
  // --key / --fields: every flow keeps a FlowExtras (its first packet's PacketExtras, the OR of
  // fragment flags, min/max packet length); update() and update_batch() then take each packet's
  // PacketExtras. Bytes set in extra_key_mask select the PacketExtras key bytes (the first
  // kExtraKeyBytes) that are part of the flow key: packets differing there are different flows.
  bool extras = false;
  std::array<std::uint8_t, kExtraKeyBytes> extra_key_mask{};
  // --biflow (RFC 5103): one flow per connection. A packet whose reversed key (addresses, ports,
  // MACs swapped) matches a flow is accounted in its reverse counters. The first packet seen is
  // the initiator, except a SYN-ACK without a flow: its destination sent the SYN, so the flow is
  // keyed from that side (biflow_direction kInitiator whenever the SYN's direction is known).
  // FIN/RST: a flow ends on RST, or once both directions have sent FIN; idle is counted from the
  // last packet in either direction.
  // How the table reads that (what the comments above leave open):
  // - The hash is direction-independent (side_hash in flow_table.cpp): both directions of a
  //   connection probe the same buckets and each slot is compared both ways, one lookup.
  // - A packet joins the flow keyed as it, else the one keyed as its reverse. Both can exist only
  //   under a mask that selects a MAC bit on one side and not the other; a timed-out match is
  //   expired and the lookup runs again, so no two flows ever share a key.
  // - ICMP and ICMPv6 flows are never paired: their key holds type and code, not ports, so the
  //   reversed key of an echo reply is not its request's, and pairing by addresses alone would
  //   merge unrelated messages. Each ICMP direction is a biflow with no reverse packets.
  // - ToS and the ingress interface are not part of a biflow's key: a connection's ends often mark
  //   their packets differently, and an optical tap or a two-port mirror delivers each direction
  //   on its own interface. The record's key carries the forward direction's first packet's, its
  //   ReverseCounters the reverse's.
  // - Only the MACs swap in the reversed key: VLAN ids, MPLS labels and the flow label must be
  //   equal both ways for a key that selects them (an IPv6 flow label chosen by each end keeps
  //   the two directions apart).
  // - A biflow created by a SYN-ACK holds no forward packet until the SYN's sender sends again:
  //   its record then has packets, octets, first_ns, last_ns, tcp_flags and TTLs 0 (as
  //   ReverseCounters without a reverse packet), and its extras are the SYN-ACK's with the MACs
  //   and tunnel endpoints swapped into the key's orientation.
  // - A biflow's FlowExtras cover both directions: fragment flags and min/max length over all
  //   its packets; packet_weight scales both directions' counters.
  bool biflow = false;
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
  // would have joined, the flow with the nearest deadline when the table is full); their records
  // are appended to `expired`, which the caller drains. Advances the table's clock to the
  // packet's time if it is later.
  void update(const PacketSummary& packet, std::vector<FlowRecord>& expired);
  // With config().extras: the packet's extras too (`extras` is ignored otherwise).
  void update(const PacketSummary& packet, const PacketExtras& extras, std::vector<FlowRecord>& expired);

  // The same as update() for each packet in order, but prefetches the buckets and entries of a
  // group of packets before touching any of them, so their cache misses overlap.
  void update_batch(std::span<const PacketSummary> packets, std::vector<FlowRecord>& expired);
  // With config().extras: `extras[i]` belongs to `packets[i]` (same length); without, it may be
  // empty and is ignored.
  void update_batch(std::span<const PacketSummary> packets, std::span<const PacketExtras> extras,
                    std::vector<FlowRecord>& expired);

  // Expires flows idle or active for longer than the timeouts at time `now_ns` (at most one
  // granularity late), at most `max_records` of them (spreading expiry over calls); returns how
  // many were expired.
  std::size_t expire(std::uint64_t now_ns, std::vector<FlowRecord>& expired,
                     std::size_t max_records = SIZE_MAX);

  // Expires up to `max_records` flows with reason `reason` (end of input, shutdown, `ctl
  // expire`), in the order they lie in memory; returns how many. Call until it returns 0 to empty
  // the table. A flow already timed out by the table's clock keeps its timeout as the reason.
  std::size_t expire_all(FlowEndReason reason, std::vector<FlowRecord>& expired,
                         std::size_t max_records = SIZE_MAX);

  // Calls `visit(const FlowRecord&)` for each active flow, latest deadline (most recently
  // updated) first, up to `limit` flows (for `ctl flows` / `top`); the records carry reason
  // kForcedEnd.
  template <class Visit>
  void for_each_active(Visit&& visit, std::size_t limit = SIZE_MAX) const {
    for (std::size_t k = wheel_size_; k-- > 0 && limit > 0;) {
      const std::size_t slot = (wheel_cursor_ + k) & wheel_mask_;
      for (Ref r = wheel_[slot].head; r != kNil && limit > 0; r = header(r).wheel_next, --limit) {
        visit(to_record(r, FlowEndReason::kForcedEnd));
      }
    }
  }

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return config_.capacity; }
  std::uint64_t clock_ns() const { return clock_ns_; }
  std::uint64_t granularity_ns() const { return granularity_ns_; }
  const FlowTableCounters& counters() const { return counters_; }
  const FlowTableConfig& config() const { return config_; }
  // Whether records carry extras, reverse counters and a direction (--key, --fields, --biflow):
  // without side blocks those stay zero.
  bool has_side_blocks() const { return side_ != nullptr; }

 private:
  // An entry reference: an index into the IPv4 pool, or into the wide pool with kWide set.
  using Ref = std::uint32_t;
  static constexpr Ref kNil = 0xffffffffu;
  static constexpr Ref kWide = 0x80000000u;

  // What both entry kinds start with: counters, times, timer links, and the key's small fields.
  struct EntryHeader {
    std::uint64_t packets;
    std::uint64_t octets;
    std::uint64_t first_ns;
    std::uint64_t last_ns;
    Ref wheel_prev, wheel_next;   // the timer wheel slot's list; wheel_next chains the free list
    std::uint16_t wheel_slot;
    std::uint8_t tcp_flags;
    std::uint8_t min_ttl;
    std::uint8_t max_ttl;
    std::uint8_t protocol;
    std::uint8_t tos;
    std::uint8_t ip_version;
  };
  static_assert(sizeof(EntryHeader) == 48, "the header leaves 16 bytes of a line for an IPv4 key");

  // An entry: the header, then the rest of the key with addresses of `kAddressSize` bytes.
  // IPv4 flows (4) take one cache line: the lookup compares the key and the update writes the
  // counters without touching a second line. Any other flow (IPv6, a --decap flow with a tunnel,
  // or a key that is not plain IPv4) keeps the whole key (16) in 96 bytes, the tunnel type and
  // id in what was the wide entry's padding.
  struct NoTunnel {};
  struct TunnelFields {
    std::uint8_t bytes[5];  // tunnel_type, then tunnel_id (host order)
  };
  template <std::size_t kAddressSize>
  struct alignas(kAddressSize == 4 ? 64 : 32) Entry {
    EntryHeader h;
    std::uint16_t source_port, destination_port;
    std::uint32_t ingress_interface;
    std::uint8_t source_address[kAddressSize];
    std::uint8_t destination_address[kAddressSize];
    [[no_unique_address]] std::conditional_t<kAddressSize == 4, NoTunnel, TunnelFields> tunnel;
  };
  using Entry4 = Entry<4>;
  using EntryWide = Entry<16>;
  static_assert(sizeof(Entry4) == 64, "an IPv4 flow is one cache line");
  static_assert(sizeof(EntryWide) == 96, "a wide entry is one and a half cache lines");

  // Eight slots: tags first so one 16-byte load compares them all.
  struct alignas(64) Bucket {
    std::uint16_t tags[8];
    Ref slots[8];             // entry reference + 1; 0 = free, so zeroed memory is empty
    std::uint32_t overflow;   // entries whose probe passed this bucket because it was full
  };
  static_assert(sizeof(Bucket) == 64, "a bucket is one cache line");

  template <class E>
  struct Pool {
    // Raw storage: an entry is constructed when first taken, so capacity never used is never
    // touched and stays out of the resident set.
    PageMemory storage;
    E* entries = nullptr;
    std::uint32_t high_water = 0;   // entries above were never used
    std::uint32_t free_head = kNil; // recycled entries (packets 0), chained through h.wheel_next
  };

  // --key/--fields, --biflow: what a flow keeps beside its wide entry, at the same index.
  struct SideBlock {
    // The packet's extra key bytes AND the key mask, in the key's orientation: compared with
    // the key, so flows differing there stay apart.
    std::uint8_t key_extras[kExtraKeyBytes];
    // The forward direction's own first and last packet (the header has both directions'); 0
    // until the source sends (a biflow created by a SYN-ACK).
    std::uint64_t forward_first_ns;
    std::uint64_t forward_last_ns;
    ReverseCounters reverse;
    FlowExtras extras;  // default (zero, direction unknown) without config.extras
    std::uint64_t hash; // what the flow was placed with: a biflow's cannot be had from its key alone
    BiflowDirection direction;
    // --biflow: the forward direction's first packet's ToS and ingress interface, which the key
    // bytes then leave out (0 there); 0 until the source sends.
    std::uint8_t forward_tos;
    std::uint32_t forward_ingress_interface;
  };
  // What a packet reads or updates (key bytes, times, reverse counters, lengths, fragment flags)
  // lies in the first 128 bytes; the first packet's tunnel addresses and the hash after them.
  static_assert(offsetof(SideBlock, extras) + offsetof(FlowExtras, first) + offsetof(PacketExtras, tunnel_source) <= 128,
                "a packet's side updates stay in two cache lines");
  static_assert(sizeof(SideBlock) == 176, "no hidden padding");
  static_assert(std::is_trivially_destructible_v<SideBlock>, "side blocks are never destroyed one by one");

  EntryHeader& header(Ref r) {
    return (r & kWide) != 0 ? wide_.entries[r & ~kWide].h : narrow_.entries[r].h;
  }
  const EntryHeader& header(Ref r) const {
    return (r & kWide) != 0 ? wide_.entries[r & ~kWide].h : narrow_.entries[r].h;
  }
  FlowRecord to_record(Ref r, FlowEndReason reason) const { FlowRecord rec; fill_record(r, reason, rec); return rec; }
  // Writes the flow into `rec`, which is zero in its extras, reverse and direction fields: a
  // table without side blocks leaves them so.
  void fill_record(Ref r, FlowEndReason reason, FlowRecord& rec) const;
  // The hash the flow was placed with.
  std::uint64_t placed_hash(Ref r) const;
  FlowKey key_of(Ref r) const;
  bool key_matches(Ref r, const FlowKey& key) const;

  // The earlier of the inactive and active deadlines; the flow is due once the clock passes it.
  std::uint64_t deadline(const EntryHeader& e) const {
    const std::uint64_t idle = saturating_add(e.last_ns, config_.inactive_timeout_ns);
    const std::uint64_t active = saturating_add(e.first_ns, config_.active_timeout_ns);
    return idle < active ? idle : active;
  }
  // A timestamp near 2^64 (a crafted pcapng time offset) must not wrap a deadline into the past.
  static std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
    const std::uint64_t sum = a + b;
    return sum < a ? ~std::uint64_t{0} : sum;
  }
  // The timeout a flow has passed at now_ns (the earlier deadline if both), else `otherwise`.
  FlowEndReason timed_out_reason(const EntryHeader& e, std::uint64_t now_ns, FlowEndReason otherwise) const;

  void update_hashed(const PacketSummary& packet, std::uint64_t hash, std::vector<FlowRecord>& expired);
  // The key as an entry stores it (see flow_table.cpp), and which pool it belongs in.
  struct ProbeKey {
    std::uint8_t bytes[48];
    bool narrow;
  };
  static ProbeKey make_probe(const FlowKey& key);
  static unsigned match_tags(const Bucket& bucket, std::uint16_t tag);
  Ref find(const ProbeKey& probe, std::uint64_t hash) const;
  void place(Ref r, std::uint64_t hash);
  void unplace(Ref r, std::uint64_t hash);

  // The side path (config.extras or config.biflow): every flow in the wide pool with a side
  // block. A packet is looked up by its key and masked extras, and in biflow mode reversed too.
  struct SideProbe {
    ProbeKey forward;                                 // always the wide form
    ProbeKey reverse;                                 // addresses and ports swapped; if pairable
    std::uint8_t extras[kExtraKeyBytes];              // the masked key bytes
    std::uint8_t reverse_extras[kExtraKeyBytes];      // the same with the MACs swapped first
    bool pairable;                                    // biflow, and not ICMP
  };
  SideProbe make_side_probe(const FlowKey& key, const PacketExtras& extras) const;
  std::uint64_t side_hash(const FlowKey& key, const PacketExtras& extras) const;
  Ref find_side(const SideProbe& probe, std::uint64_t hash, bool& reversed) const;
  void update_side(const PacketSummary& packet, const PacketExtras& extras, std::uint64_t hash,
                   std::vector<FlowRecord>& expired);
  [[gnu::noinline]] void update_side_unhashed(const PacketSummary& packet, const PacketExtras& extras,
                                              std::vector<FlowRecord>& expired);
  void update_batch_side(std::span<const PacketSummary> packets, std::span<const PacketExtras> extras,
                         std::vector<FlowRecord>& expired);

  Ref allocate(bool wide, std::vector<FlowRecord>& expired);
  void release(Ref r);
  void expire_entry(Ref r, FlowEndReason reason, std::vector<FlowRecord>& expired);
  void evict(std::vector<FlowRecord>& expired);

  // Timer wheel: slot s holds, newest filed first, flows whose deadline falls in granularity-wide interval number
  // wheel_cursor_ + ((s - wheel_cursor_) mod wheel_size_); deadlines beyond the wheel's reach
  // are filed in its last slot and re-filed when it comes round.
  void wheel_insert(Ref r, std::uint64_t deadline_ns);
  void wheel_unlink(Ref r);
  // Distance from the cursor to the first non-empty slot, or wheel_size_ if all are empty.
  std::size_t wheel_next_nonempty() const;
  // Every flow re-filed relative to a cursor moved to `interval` (a clock jump of more than a
  // whole turn of the wheel).
  void wheel_rebase(std::uint64_t interval);

  FlowTableConfig config_;
  Pool<Entry4> narrow_;
  Pool<EntryWide> wide_;
  PageMemory bucket_memory_;    // zeroed: every slot free
  Bucket* buckets_ = nullptr;
  std::uint64_t bucket_mask_ = 0;
  struct WheelSlot {
    Ref head = kNil;   // filed last: sweeps start here, the entries most likely still cached
    Ref tail = kNil;   // filed first: eviction takes it, the least recently updated
  };
  std::unique_ptr<WheelSlot[]> wheel_;
  std::unique_ptr<std::uint64_t[]> wheel_occupied_;  // one bit per non-empty slot
  std::size_t wheel_size_ = 0;
  std::size_t wheel_mask_ = 0;
  std::uint64_t wheel_cursor_ = 0;   // number of the first interval not yet swept
  std::uint64_t drain_cursor_ = 0;   // expire_all's place in the pools (narrow, then wide)
  std::uint64_t granularity_ns_ = 0;
  std::size_t size_ = 0;
  std::uint64_t clock_ns_ = 0;
  FlowTableCounters counters_;
  // One side block per wide entry, mapped only with config.extras or config.biflow (nullptr
  // otherwise: the default path never reads it). Last, so the default path's members keep their
  // places.
  PageMemory side_memory_;
  SideBlock* side_ = nullptr;
  // Biflow: the key mask's bits that both orientations of a packet determine (a MAC bit only if
  // both MACs select it); the direction-independent hash reads only these.
  std::array<std::uint8_t, kExtraKeyBytes> biflow_hash_mask_{};
};

}  // namespace tapflow::cache
