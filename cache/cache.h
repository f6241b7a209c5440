// Public header of the cache stage: the flow key, packet summary, flow record and flow table.
#pragma once

#include "cache/flow_hash.h"
#include "cache/flow_key.h"
#include "cache/flow_record.h"
#include "cache/flow_table.h"
#include "cache/packet_summary.h"
#include "cache/sampler.h"
