// One-time operator warnings about the flow cache, shared by every shard: a full cache is logged
// once per run (not per packet), with the counter carrying the details.
#pragma once

#include "cache/flow_table.h"

namespace tapflow::probe {

// Called after each batch; cheap (one load) unless the table has just started evicting.
void warn_if_cache_full(const cache::FlowTable& table);

}  // namespace tapflow::probe
