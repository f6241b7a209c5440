#include "probe/runtime_config.h"

#include <sched.h>

#include <algorithm>
#include <random>
#include <thread>

#include "exporter/prefixes/prefix_table.h"
#include "probe/log.h"

namespace tapflow::probe {

namespace {
std::uint64_t seconds_to_ns(std::uint32_t s) { return static_cast<std::uint64_t>(s) * 1'000'000'000ull; }
}  // namespace

unsigned default_thread_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  unsigned cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? static_cast<unsigned>(CPU_COUNT(&set))
                                                               : std::thread::hardware_concurrency();
  return std::clamp(cpus, 1u, 8u);
}

RuntimeConfig make_runtime_config(const ProbeOptions& options) {
  RuntimeConfig c;
  c.threads = options.threads != 0 ? options.threads : default_thread_count();
  c.cache_size = options.cache_size;
  const std::uint64_t seed = (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  const bool sampled = options.sampling.mode != cache::SamplingMode::kNone;
  c.table = {.capacity = options.cache_size,
             .inactive_timeout_ns = seconds_to_ns(options.inactive_timeout_s),
             .active_timeout_ns = seconds_to_ns(options.active_timeout_s),
             .hash_seed = seed,
             .packet_weight = options.scale_sampled && sampled ? options.sampling.interval : 1u};
  c.sampling = options.sampling;
  c.decode.decap = options.decap;
  // --key, --fields, --biflow: the decode stage, the table and the templates from one choice.
  RecordChoice record = options.key;
  record.chosen |= options.fields;
  record.biflow = options.biflow;
  c.decode.extras = record.needs_extras();
  c.decode.key_drops = record.key_drops;
  c.table.extras = c.decode.extras;
  c.table.extra_key_mask = record.extra_key_mask;
  c.table.biflow = record.biflow;
  c.scale_sampled = options.scale_sampled;
  c.progress = options.progress;
  // What the collectors are told: the sampling applied, or nothing when the counts are already
  // scaled (collectors that renormalise would multiply them a second time).
  const cache::SamplingConfig announced = options.scale_sampled ? cache::SamplingConfig{} : options.sampling;
  c.export_config.urls = options.export_urls;
  c.export_config.live = !options.interfaces.empty();
  c.export_config.options = {.version = options.version,
                             .observation_domain_id = options.observation_domain_id,
                             .engine_type = static_cast<std::uint8_t>(options.engine_type),
                             .engine_id = static_cast<std::uint8_t>(options.engine_id),
                             .mtu = options.mtu,
                             .template_refresh_interval_s = options.template_refresh_s,
                             .template_refresh_packets = options.template_refresh_packets,
                             .sampling = announced,
                             .rate = options.export_rate,
                             .multicast_ttl = options.export_ttl,
                             .source_address = options.export_source,
                             .anonymize = options.anonymize,
                             .prefixes = nullptr,
                             .peer_as = options.prefix_as == "peer",
                             .tunnel_fields = options.decap != 0,
                             .chosen_fields = record.chosen,
                             .dropped_fields = record.dropped,
                             .biflow = record.biflow,
                             .rotate_interval_s = options.rotate_s};
  if (!options.prefixes.empty()) {
    // Loaded once for every destination that uses it; a bad file stops the start (exit 2).
    auto source = std::make_shared<exporter::PrefixSource>(options.prefixes, options.prefix_as == "peer");
    log::notice("{}", source->initial_report());
    c.export_config.options.prefixes = std::move(source);
  }
  return c;
}

}  // namespace tapflow::probe
