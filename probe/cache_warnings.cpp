#include "probe/cache_warnings.h"

#include "probe/log.h"

#include <fmt/format.h>

#include <atomic>

namespace tapflow::probe {

namespace {
std::atomic<bool> g_cache_full_warned{false};
}

void warn_if_cache_full(const cache::FlowTable& table) {
  const auto evicted = table.counters().expired[static_cast<int>(cache::FlowEndReason::kLackOfResources)];
  if (evicted == 0 || g_cache_full_warned.load(std::memory_order_relaxed)) return;
  if (g_cache_full_warned.exchange(true)) return;
  log::warning(
      "flow cache full ({} flows per shard): the least recently updated flows are exported early "
      "(flowEndReason lackOfResources); raise --cache-size or lower --inactive-timeout. Logged "
      "once; see flows expired by reason.",
      table.capacity());
}

}  // namespace tapflow::probe
