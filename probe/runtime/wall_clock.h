// The data path's wall clock: CLOCK_REALTIME_COARSE, which costs no system call (a vDSO read of
// the last tick), read once per poll or loop, never per packet.
#pragma once

#include <time.h>

#include <cstdint>

namespace tapflow::probe::runtime {

inline std::uint64_t coarse_wall_clock_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace tapflow::probe::runtime
