// DPDK poll-mode ports as a frame source (-i dpdk:PORT): RX queue q of the driver polls RX queue q
// of every port, so each queue's worker owns queue q of all ports, and RSS with a symmetric key
// splits the traffic by flow. Frames point straight into the mbufs (no copy); no allocation,
// system call or clock read per packet. This header names no DPDK type: DPDK's flags stay in
// dpdk_driver.cpp. A build without DPDK has the same functions; opening throws DpdkUnavailable.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "drivers/driver.h"

namespace tapflow::drivers {

struct DpdkPort {
  std::uint16_t port_id = 0;    // after EAL init: vdevs and allowed devices in probe order
  std::uint32_t if_index = 0;   // exported as ingressInterface; 0 = the PMD's (a kernel ifindex or 0)
};

struct DpdkOptions {
  std::vector<std::string> eal_arguments;  // without argv[0]
  std::vector<DpdkPort> ports;
  unsigned rx_queues = 1;                  // per port; fewer where the port cannot split by flow
  bool promiscuous = true;
};

// What the command line's -i word and --dpdk-eal string mean (dpdk_port_spec.cpp, always built).
// "dpdk:0" and "7:dpdk:0" (ingressInterface 7) are DPDK ports; anything else is not.
bool is_dpdk_interface(const std::string& spec);
// Throws std::invalid_argument for "dpdk:", "dpdk:x", a port id above 65535.
DpdkPort parse_dpdk_port(const std::string& spec);
// The EAL string split on white space (no quoting: EAL arguments hold no spaces).
std::vector<std::string> split_eal_arguments(const std::string& text);

// True when tapflow was built with DPDK (TAPFLOW_HAVE_DPDK).
bool dpdk_built_in();

class DpdkUnavailable : public std::runtime_error {
 public:
  DpdkUnavailable() : std::runtime_error("tapflow was built without DPDK (libdpdk-dev not found at build time)") {}
};

// Initialises the EAL (once per process), configures and starts the ports. Throws
// std::runtime_error with a message naming the port or the EAL's complaint; DpdkUnavailable in a
// build without DPDK. Destroying the driver stops and closes the ports and releases the EAL.
std::unique_ptr<Driver> open_dpdk_driver(const DpdkOptions& options);

}  // namespace tapflow::drivers
