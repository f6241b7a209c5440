// A build without DPDK: -i dpdk:PORT is refused with one line (see dpdk_driver.h).
#include "drivers/dpdk/dpdk_driver.h"

namespace tapflow::drivers {

bool dpdk_built_in() { return false; }

std::unique_ptr<Driver> open_dpdk_driver(const DpdkOptions&) { throw DpdkUnavailable(); }

}  // namespace tapflow::drivers
