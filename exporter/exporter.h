// Exporter: turns finished flow records into NetFlow v5, v9 or IPFIX messages and sends them to one
// destination. Sees only cache::FlowRecord; knows nothing of packets or the cache.
// Data path rule: no exceptions once constructed; transport failures are counted.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/flow_record.h"
#include "cache/sampler.h"
#include "exporter/anonymize/anonymize_spec.h"
#include "exporter/ie/information_elements.h"
#include "exporter/transport/transport.h"

namespace tapflow::exporter {

class PrefixSource;

// Wall clock in nanoseconds since the Unix epoch; injected so tests are deterministic.
using Clock = std::function<std::uint64_t()>;
std::uint64_t system_clock_ns();

// Packets the probe saw but did not account in any flow (decoder rejects, kernel drops): the
// IPFIX Metering Process Reliability Statistics (RFC 7011 §4.2).
struct ProbeTotals {
  std::uint64_t ignored_packets = 0;
  std::uint64_t ignored_octets = 0;
};

struct ExportOptions {
  int version = 10;                               // 5, 9 or 10 (IPFIX)
  std::uint32_t observation_domain_id = 0;        // IPFIX domain, v9 source id
  std::uint8_t engine_type = 0, engine_id = 0;    // v5 header
  std::size_t mtu = 1500;                         // messages (incl. IP/UDP headers) stay under it
  std::uint32_t template_refresh_interval_s = 600;  // v9 and IPFIX over UDP (RFC 7011 §8.4)
  std::uint32_t template_refresh_packets = 20;  // v9 and IPFIX over UDP: also every N messages;
                                                // 0 = by time only
  // What to announce to the collector: v5 header bits, v9 options (SAMPLING_INTERVAL 34 /
  // SAMPLING_ALGORITHM 35), IPFIX options (RFC 5476 selector IEs). None when the counts are
  // already scaled.
  cache::SamplingConfig sampling = {};
  // May be empty (zeros); called at template (re)send and close(), never per record.
  std::function<ProbeTotals()> totals = {};
  // UDP destinations send at most this fast (pacer.h); unlimited unless set.
  ExportRate rate = {};
  // UDP to a multicast group: its TTL (IPv4) or hop limit (IPv6).
  int multicast_ttl = 1;
  // Source address of UDP and TCP exports (bound before connecting); empty = the kernel's choice.
  std::string source_address;
  // --anonymize: addresses masked before this destination's encoder (anonymize/anonymizer.h);
  // a URL's ?anonymize= overrides it.
  AnonymizeSpec anonymize = {};
  // --prefixes FILE, loaded (prefixes/prefix_table.h): AS numbers and prefix lengths filled in
  // before this destination's anonymisation and encoder; a URL's ?prefixes=FILE|none overrides it.
  std::shared_ptr<PrefixSource> prefixes;
  bool peer_as = false;  // --prefix-as peer: the peer AS where the file gives one, else the origin
  // v9/IPFIX templates carry AS numbers and prefix lengths (set for a destination with prefixes).
  bool routing_fields = false;
  // v9/IPFIX templates carry layer2SegmentId (--decap: flows have a tunnel type and id).
  bool tunnel_fields = false;
  // --fields and the extra --key fields: optional rows of information_elements() the v9/IPFIX
  // templates carry (v5 refuses a run with any, probe/); json: and the table show them.
  ElementSet chosen_fields;
  ElementSet dropped_fields;  // key fields --key left out (always 0): not in the templates
  // --biflow: records carry the reverse direction. IPFIX and json: export it (RFC 5103 reverse
  // elements); v5 and v9 destinations get each biflow as its two uniflows.
  bool biflow = false;

  // The template contents these options give (sampling is the encoder's business).
  TemplateSpec template_spec() const {
    TemplateSpec spec;
    spec.features = static_cast<std::uint8_t>((routing_fields ? kRoutingFeature : 0) | (tunnel_fields ? kTunnelFeature : 0) |
                                              (biflow ? kBiflowFeature : 0));
    spec.chosen = chosen_fields;
    spec.dropped = dropped_fields;
    return spec;
  }
  // --rotate: file: and json: outputs (not json:-) get a file per interval of this many seconds
  // of the export clock, their paths strftime patterns (transport/file_rotation.h); 0 = one file.
  std::uint32_t rotate_interval_s = 0;
  // --user: the files opened now, before the privilege drop, are given to this user and group
  // so that it can reopen them after a SIGHUP (-1: left as they are).
  int output_owner_uid = -1, output_owner_gid = -1;
};

struct ExportCounters {
  // records, messages, octets and template_sets count what was handed to the transport, whether
  // or not it delivered it (the IPFIX sequence numbers count the same way, so a collector sees
  // the loss as a gap); send_errors and records_unsent say how much of that failed.
  std::uint64_t records = 0;        // data records sent
  std::uint64_t messages = 0;       // messages sent
  std::uint64_t octets = 0;         // message bytes sent
  std::uint64_t template_sets = 0;  // template sets sent
  std::uint64_t send_errors = 0;    // messages the transport failed to deliver
  std::uint64_t records_unsent = 0; // data records in those messages (included in `records`)
  std::uint64_t unexportable = 0;   // records the format cannot carry (v5: IPv6), not sent
  // NetFlow v5 has 32-bit packet and octet counters: a flow above 2^32 - 1 is sent as several
  // records with the same key and times whose counters add up to the flow's (no loss); `records`
  // counts them all, `split_flows` the flows that needed it.
  std::uint64_t split_flows = 0;
  // Records where a field was wider than the format and was clamped (v5: input ifIndex > 65535;
  // a flow above 30 * (2^32 - 1) packets or octets).
  std::uint64_t clamped_records = 0;
  std::uint64_t options_records = 0;  // options data records sent (sampling, statistics)
};

class FlowExporter {
 public:
  virtual ~FlowExporter() = default;
  // Encodes the records, sending each message as it fills.
  virtual void export_records(std::span<const cache::FlowRecord> records) = 0;
  // Sends the partly filled message, if any, and flushes the transport.
  virtual void flush() = 0;
  virtual const ExportCounters& counters() const = 0;
  // The destination as the user gave it, for messages and statistics.
  virtual const std::string& destination() const = 0;
  // sysUpTime zero point (ns since epoch) for v5/v9 First/Last and sysUpTime. Default when never
  // called: the clock's value when the exporter was constructed. Called before any record, by
  // the pipeline, with the first packet's time when reading files. A record's first/last before
  // it is clamped to zero uptime, never underflows.
  virtual void set_system_start(std::uint64_t ns) = 0;
  // End of the run: IPFIX sends the reliability statistics record (with the templates, so the
  // message stands alone), then everything is flushed. Called once.
  virtual void close() = 0;
  // SIGHUP: file transports close and reopen their path (O_APPEND, so a SIGHUP without rotation
  // loses nothing) and the next message carries the templates again (RFC 5655: each file must be
  // self-describing); network transports do nothing. Called on the exporting thread between
  // batches.
  virtual void reopen() = 0;
  // The pace of a UDP destination (others have none), changed on the exporting thread.
  virtual void set_rate(const ExportRate& rate) = 0;
  virtual ExportRate rate() const = 0;
  // The next message carries the templates (a failover group's member taking over).
  virtual void force_templates() {}
  // What the transport reported since the last call (an outage, its end, the first failure of a
  // kind), for the program to log: exporters never log.
  virtual bool has_events() const = 0;
  virtual void take_events(std::vector<TransportEvent>& out) = 0;
};

// Parses `url` (udp://HOST:PORT, udp://[V6]:PORT, HOST:PORT, tcp://HOST:PORT, sctp://HOST:PORT,
// file:PATH, or a group: failover:URL,URL... / balance:URL,URL..., see group_exporter.h) and
// opens the transport. options.version 5 (NetFlow v5), 9 (NetFlow v9, RFC 3954)
// or 10 (IPFIX, RFC 7011); files, TCP and SCTP are IPFIX only (RFC 5655, RFC 7011 §10: NetFlow
// v5/v9 are datagram formats with no stream framing). Throws std::runtime_error with a message a
// user can act on when the URL, destination, version or sampling cannot be honoured.
std::unique_ptr<FlowExporter> make_exporter(std::string_view url, const ExportOptions& options,
                                            Clock clock = system_clock_ns);

}  // namespace tapflow::exporter
