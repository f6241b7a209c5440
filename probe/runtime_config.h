// Every stage's configuration, built in one place from the command line (make_runtime_config):
// the runtime and its stages take these, never the CLI struct.
#pragma once

#include <cstdint>

#include "cache/flow_table.h"
#include "cache/sampler.h"
#include "probe/decode/decoder.h"
#include "probe/probe_options.h"
#include "probe/runtime/export_thread.h"

namespace tapflow::probe {

struct RuntimeConfig {
  // Data-path threads for a one-stream source: 1 runs decode, sampling and the one shard on one
  // thread; N > 1 is a dispatcher plus N - 1 shard workers. A source split by a flow hash gets
  // one worker per queue instead. The export thread comes on top of either.
  unsigned threads = 1;
  std::size_t cache_size = 1u << 20;  // flows over all shards
  cache::FlowTableConfig table;       // capacity is per shard, set by the runtime
  cache::SamplingConfig sampling;
  DecodeOptions decode;               // --decap
  bool scale_sampled = false;
  bool progress = false;
  runtime::ExportConfig export_config;
};

// The CPUs this process may run on (its affinity mask), at most 8: the default --threads, so a
// probe confined to one CPU (taskset, a cgroup) does not split its data path over threads that
// would only take turns.
unsigned default_thread_count();

RuntimeConfig make_runtime_config(const ProbeOptions& options);

}  // namespace tapflow::probe
