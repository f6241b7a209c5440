// Everything the command line configures for a probe run, with the documented defaults.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cache/sampler.h"
#include "exporter/anonymize/anonymize_spec.h"
#include "exporter/ie/information_elements.h"
#include "exporter/transport/pacer.h"
#include "probe/record_choice.h"

namespace tapflow::probe {

struct ProbeOptions {
  std::vector<std::string> read_files;    // -r, in order
  std::vector<std::string> interfaces;    // -i [IDX:]IFACE, live capture
  std::vector<std::string> filter_words;  // trailing arguments, joined into `filter`
  std::string filter;                     // BPF filter
  int snaplen = 256;
  bool promiscuous = true;
  int buffer_size_mb = 64;
  bool immediate = false;
  unsigned rx_queues = 1;                 // --rx-queues: AF_PACKET fanout sockets / DPDK RX queues per port
  std::string dpdk_eal;                   // --dpdk-eal: EAL arguments for -i dpdk:PORT
  std::string pidfile;
  std::string user;                       // drop privileges to this user after opening capture
  std::vector<std::string> export_urls;   // -n; none = print flows as a table on stdout
  int version = 10;                       // -v: 5, 9 or 10 (IPFIX)
  exporter::ExportRate export_rate = exporter::kDefaultExportRate;  // --export-rate, UDP destinations
  int export_ttl = 1;                     // --export-ttl: multicast TTL / hop limit
  std::string export_source;              // --export-source ADDR (UDP)
  exporter::AnonymizeSpec anonymize;      // --anonymize: every destination without its own ?anonymize=
  std::string prefixes;                   // --prefixes FILE: AS numbers and prefix lengths
  std::string prefix_as = "origin";       // --prefix-as origin|peer
  std::uint32_t rotate_s = 0;             // --rotate: file:/json: outputs cut by the probe's clock; 0 = off
  std::uint16_t decap = 0;                // --decap: probe::DecapProtocols bits; 0 = outer flows
  RecordChoice key;                       // --key: the flow key (default: the 7-tuple)
  exporter::ElementSet fields;            // --fields: optional elements the records carry
  bool biflow = false;                    // --biflow: one record per connection (RFC 5103)
  cache::SamplingConfig sampling;         // -s / --sample: before the cache
  bool scale_sampled = false;             // multiply counters by the sampling interval
  unsigned engine_type = 0;               // NetFlow v5 header
  unsigned engine_id = 0;
  std::uint32_t template_refresh_packets = 20;  // v9/IPFIX over UDP: also every N messages
  std::uint32_t active_timeout_s = 1800;
  std::uint32_t inactive_timeout_s = 15;
  std::size_t cache_size = 1u << 20;      // total over all shards
  unsigned threads = 0;                   // data-path threads: 1 inline, N = reader + N-1 shards; 0 = cores (max 8)
  std::uint32_t observation_domain_id = 0;
  std::size_t mtu = 1500;
  std::uint32_t template_refresh_s = 600;
  std::string control_path;               // --control; "" = default for live capture, "none" = off
  std::string metrics_address;            // --metrics ADDR:PORT
  std::string stats_json;                 // --stats-json PATH ("-" = stdout)
  bool progress = true;                   // only shown when stderr is a terminal
  std::string log_level = "info";         // error, warning, notice, info, debug
};

}  // namespace tapflow::probe
