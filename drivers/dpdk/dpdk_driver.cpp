#include "drivers/dpdk/dpdk_driver.h"

#include <fmt/format.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pause.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <utility>

namespace tapflow::drivers {

bool dpdk_built_in() { return true; }

namespace {

// DPDK examples/l3fwd's burst: enough to amortise the PMD call, small enough to stay in L1.
constexpr std::uint16_t kBurstSize = 32;
// What a poll may hold until the next one (the runtime's batch is 256 frames).
constexpr std::size_t kMaxFramesPerPoll = 256;
constexpr std::uint16_t kRxDescriptors = 1024;  // per queue, before the PMD adjusts it
constexpr unsigned kMempoolCache = 256;         // per lcore; at most RTE_MEMPOOL_CACHE_MAX_SIZE
static_assert(kMempoolCache <= RTE_MEMPOOL_CACHE_MAX_SIZE);
static_assert(kMaxFramesPerPoll % kBurstSize == 0);
// Idle: spin (rte_pause) this long after the last packet, then sleep between empty polls, so a
// quiet port does not burn a core; 50 us at 14.88 Mpps is 744 packets, within a 1024-slot ring.
constexpr std::uint64_t kIdleSpinNs = 1'000'000;
constexpr long kIdleSleepNs = 50'000;
// RSS on IPv4/IPv6 addresses and TCP/UDP ports, as far as the PMD offers it.
constexpr std::uint64_t kRssHashFunctions = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
// PMDs without RSS whose queues are still split by flow: net_pcap reads one rx_pcap file per
// queue (the user split them), net_af_packet opens one socket per queue pair in a
// PACKET_FANOUT_HASH group (the kernel's flow hash, symmetric, with defragmentation).
constexpr std::array<std::string_view, 2> kSelfSplittingPmds = {"net_pcap", "net_af_packet"};

// The EAL is initialised once per process and cannot be again after rte_eal_cleanup().
std::atomic<int> g_eal_state{0};  // 0 never, 1 initialised, 2 released

std::string errno_text(int error) { return rte_strerror(error < 0 ? -error : error); }

std::uint64_t realtime_ns() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(now.tv_nsec);
}

// Wall time from the TSC: one clock_gettime at start, then cycles / rte_get_tsc_hz(). Read once
// per burst; the PMDs' hardware RX timestamps (a dynamic mbuf field) are not used yet.
struct TscClock {
  std::uint64_t base_tsc = 0;
  std::uint64_t base_ns = 0;
  std::uint64_t hz = 1;

  void calibrate() {
    hz = std::max<std::uint64_t>(1, rte_get_tsc_hz());
    base_tsc = rte_rdtsc();
    base_ns = realtime_ns();
  }
  std::uint64_t to_ns(std::uint64_t tsc) const {
    const std::uint64_t delta = tsc - base_tsc;
    // Split so nothing overflows 64 bits: (delta % hz) * 1e9 < 2^64 for any hz below 18 GHz.
    return base_ns + delta / hz * 1'000'000'000ull + delta % hz * 1'000'000'000ull / hz;
  }
  std::uint64_t cycles(std::uint64_t ns) const { return ns / 1000 * hz / 1'000'000; }
};

// A port's identity and link state; the state is written by queue 0's thread, read by every
// queue's counters.
struct PortState {
  std::uint16_t id = 0;
  std::uint32_t if_index = 0;
  std::uint16_t queues = 1;
  std::string name;  // "dpdk:0"
  std::atomic<bool> up{true};
  std::atomic<std::uint64_t> went_down{0};
};

class DpdkQueue final : public RxQueue {
 public:
  DpdkQueue(std::uint16_t queue_id, std::vector<PortState*> ports, const TscClock& clock, bool watches_links)
      : queue_id_(queue_id), ports_(std::move(ports)), clock_(clock), watches_links_(watches_links) {
    idle_spin_cycles_ = clock_.cycles(kIdleSpinNs);
  }
  ~DpdkQueue() override { release(); }
  DpdkQueue(const DpdkQueue&) = delete;
  DpdkQueue& operator=(const DpdkQueue&) = delete;

  // Frees the mbufs the last poll handed out (their frames are no longer read).
  void release() {
    if (held_count_ != 0) rte_pktmbuf_free_bulk(held_.data(), static_cast<unsigned>(held_count_));
    held_count_ = 0;
  }

  void add_event(DriverEvent::Severity severity, std::string message) {
    events_.push_back({severity, std::move(message)});
  }

  PollOutcome poll(std::span<Frame> frames, std::size_t& count, int timeout_ms) override {
    count = 0;
    if (!thread_registered_) register_thread();
    release();
    frames = frames.first(std::min(frames.size(), kMaxFramesPerPoll));
    const std::uint64_t start = rte_rdtsc();
    if (watches_links_ && start - links_checked_tsc_ >= clock_.hz) check_links(start);
    const std::uint64_t deadline = start + clock_.cycles(static_cast<std::uint64_t>(std::max(0, timeout_ms)) * 1'000'000ull);
    for (;;) {
      count = receive(frames);
      const std::uint64_t now = rte_rdtsc();
      if (count != 0) {
        last_packet_tsc_ = now;
        return PollOutcome::kFrames;
      }
      if (now >= deadline) return PollOutcome::kIdle;
      if (now - last_packet_tsc_ < idle_spin_cycles_) {
        rte_pause();
      } else {
        const timespec pause{0, kIdleSleepNs};
        nanosleep(&pause, nullptr);
      }
    }
  }

  // Per port: the packets of this RX queue (q_ipackets; the port's ipackets when it has one
  // queue). The port-wide losses (imissed, ierrors, rx_nombuf) are on queue 0's line only, so
  // the lines of a port add up to the port's totals and nothing is counted twice in the summary,
  // ctl, JSON, /metrics and the ignored packets of the IPFIX statistics.
  QueueCounters counters() const override {
    QueueCounters out;
    for (const PortState* port : ports_) {
      CaptureCounters c;
      c.name = port->queues == 1 ? port->name : fmt::format("{}/q{}", port->name, queue_id_);
      rte_eth_stats stats{};
      if (rte_eth_stats_get(port->id, &stats) == 0) {
        if (port->queues == 1) {
          c.received = stats.ipackets;
        } else if (queue_id_ < RTE_ETHDEV_QUEUE_STAT_CNTRS) {
          c.received = stats.q_ipackets[queue_id_];
        }
        if (queue_id_ == 0) {
          c.dropped_kernel = stats.imissed;       // no free RX descriptor: the ring was full
          c.dropped_interface = stats.ierrors;    // erroneous frames the NIC dropped
          c.dropped_no_buffer = stats.rx_nombuf;  // no mbuf to refill the ring
        }
      }
      if (queue_id_ == 0) c.went_down = port->went_down.load(std::memory_order_relaxed);
      c.state = port->up.load(std::memory_order_relaxed) ? "capturing" : "down";
      out.capture.push_back(std::move(c));
    }
    return out;
  }

  bool has_events() const override { return !events_.empty(); }
  std::vector<DriverEvent> take_events() override { return std::exchange(events_, {}); }
  bool failed() const override { return false; }

 private:
  // The runtime's stage threads are std::threads, not EAL lcores: without an lcore id the
  // mempool has no per-lcore cache for them and every mbuf alloc/free goes to the shared ring
  // (correct, slower). rte_thread_register() gives the polling thread an lcore id of its own
  // (each queue is polled by one thread, always the same), so the PMD's refills and our
  // rte_pktmbuf_free_bulk use a cache. It keeps the thread's CPU affinity.
  void register_thread() {
    thread_registered_ = true;
    if (rte_lcore_id() != LCORE_ID_ANY) return;  // already an EAL thread
    if (rte_thread_register() != 0) {
      add_event(DriverEvent::Severity::kNotice,
                fmt::format("DPDK RX queue {}: its thread has no lcore id ({}): mbufs are recycled without "
                            "the per-lcore mempool cache",
                            queue_id_, errno_text(rte_errno)));
    }
  }

  // Up to frames.size() frames, in bursts of kBurstSize, taking turns over the ports (starting
  // with a different one each poll, so none starves); one TSC read per burst.
  std::size_t receive(std::span<Frame> frames) {
    std::size_t n = 0;
    bool more = true;
    while (more && n < frames.size()) {
      more = false;
      for (std::size_t k = 0; k < ports_.size() && n < frames.size(); ++k) {
        const PortState& port = *ports_[(next_port_ + k) % ports_.size()];
        const auto want = static_cast<std::uint16_t>(std::min<std::size_t>(kBurstSize, frames.size() - n));
        rte_mbuf** burst = held_.data() + n;
        const std::uint16_t got = rte_eth_rx_burst(port.id, queue_id_, burst, want);
        if (got == 0) continue;
        const std::uint64_t timestamp_ns = clock_.to_ns(rte_rdtsc());
        for (std::uint16_t i = 0; i < got; ++i) {
          if (i + 1 < got) rte_prefetch0(rte_pktmbuf_mtod(burst[i + 1], const void*));
          const rte_mbuf* m = burst[i];
          // A chained mbuf (a frame larger than one data room): the first segment's bytes are
          // captured, the whole packet's length is the wire length; the headers are in front.
          Frame& frame = frames[n + i];
          frame.data = {rte_pktmbuf_mtod(m, const std::uint8_t*), m->data_len};
          frame.wire_length = m->pkt_len;
          frame.ingress_interface = port.if_index;
          frame.timestamp_ns = timestamp_ns;
          frame.link_type = kLinkTypeEthernet;
        }
        n += got;
        held_count_ = n;
        if (got == want) more = true;
      }
    }
    next_port_ = ports_.size() > 1 ? (next_port_ + 1) % ports_.size() : 0;
    return n;
  }

  // Once a second on queue 0: a link that went down is counted and said once; its port stays
  // started, so capture resumes when the link is back.
  void check_links(std::uint64_t now_tsc) {
    links_checked_tsc_ = now_tsc;
    for (PortState* port : ports_) {
      rte_eth_link link{};
      if (rte_eth_link_get_nowait(port->id, &link) != 0) continue;
      const bool up = link.link_status == RTE_ETH_LINK_UP;
      if (port->up.exchange(up, std::memory_order_relaxed) == up) continue;
      if (!up) {
        port->went_down.fetch_add(1, std::memory_order_relaxed);
        add_event(DriverEvent::Severity::kWarning,
                  "capture on '" + port->name + "': link went down; the port stays started, capture resumes when it is up again");
      } else {
        add_event(DriverEvent::Severity::kNotice, "capture on '" + port->name + "' resumed (link up)");
      }
    }
  }

  std::uint16_t queue_id_;
  std::vector<PortState*> ports_;
  TscClock clock_;
  bool watches_links_;
  bool thread_registered_ = false;
  std::uint64_t idle_spin_cycles_ = 0;
  std::uint64_t last_packet_tsc_ = 0;
  std::uint64_t links_checked_tsc_ = 0;
  std::size_t next_port_ = 0;
  std::array<rte_mbuf*, kMaxFramesPerPoll> held_{};
  std::size_t held_count_ = 0;
  std::vector<DriverEvent> events_;
};

class DpdkDriver final : public Driver {
 public:
  explicit DpdkDriver(const DpdkOptions& options) {
    try {
      open(options);
    } catch (...) {
      release();
      throw;
    }
  }
  ~DpdkDriver() override { release(); }
  DpdkDriver(const DpdkDriver&) = delete;
  DpdkDriver& operator=(const DpdkDriver&) = delete;

  std::size_t queue_count() const override { return queues_.size(); }
  RxQueue& queue(std::size_t index) override { return *queues_[index]; }
  bool flow_hashed() const override { return true; }
  bool live() const override { return true; }

 private:
  void open(const DpdkOptions& options) {
    if (options.ports.empty()) throw std::runtime_error("no DPDK port to capture on");
    init_eal(options.eal_arguments);
    clock_.calibrate();
    std::vector<DriverEvent> events;
    for (const DpdkPort& spec : options.ports) {
      for (const auto& p : ports_) {
        if (p->id == spec.port_id) throw std::runtime_error(fmt::format("dpdk:{} is named twice", spec.port_id));
      }
      auto port = std::make_unique<PortState>();
      port->id = spec.port_id;
      port->name = fmt::format("dpdk:{}", spec.port_id);
      configure(*port, spec, options.rx_queues, events);
      ports_.push_back(std::move(port));
    }
    create_mempool();
    for (std::size_t i = 0; i < ports_.size(); ++i) start(*ports_[i], rx_descriptors_[i], options.promiscuous, events);
    std::uint16_t queue_count = 0;
    for (const auto& p : ports_) queue_count = std::max(queue_count, p->queues);
    for (std::uint16_t q = 0; q < queue_count; ++q) {
      std::vector<PortState*> mine;
      for (const auto& p : ports_) {
        if (q < p->queues) mine.push_back(p.get());
      }
      queues_.push_back(std::make_unique<DpdkQueue>(q, std::move(mine), clock_, q == 0));
    }
    for (auto& e : events) queues_[0]->add_event(e.severity, std::move(e.message));
  }

  static void init_eal(const std::vector<std::string>& arguments) {
    int expected = 0;
    if (!g_eal_state.compare_exchange_strong(expected, 1)) {
      throw std::runtime_error("DPDK's EAL can be initialised only once per process");
    }
    // EAL's own start-up lines are at INFO: quiet by default; a --log-level of the user's,
    // later on the line, wins. The strings live as long as the process (EAL may keep argv).
    static std::vector<std::string> words;
    words = {"tapflow", "--log-level=notice"};
    words.insert(words.end(), arguments.begin(), arguments.end());
    static std::vector<char*> argv;
    argv.clear();
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    // rte_eal_init pins the calling thread to the main lcore's CPU, and every thread started
    // after it (the workers, the export thread) would inherit that: give it back its CPUs.
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    const bool had_affinity = pthread_getaffinity_np(pthread_self(), sizeof cpus, &cpus) == 0;
    if (rte_eal_init(static_cast<int>(argv.size() - 1), argv.data()) < 0) {
      g_eal_state.store(0);
      std::string given;
      for (const auto& a : arguments) given += (given.empty() ? "" : " ") + a;
      throw std::runtime_error(fmt::format("cannot initialise DPDK (--dpdk-eal \"{}\"): {}", given,
                                           errno_text(rte_errno)));
    }
    if (had_affinity) pthread_setaffinity_np(pthread_self(), sizeof cpus, &cpus);
  }

  static std::string available_ports() {
    std::string out;
    std::uint16_t id = 0;
    RTE_ETH_FOREACH_DEV(id) {
      rte_eth_dev_info info{};
      if (rte_eth_dev_info_get(id, &info) != 0) continue;
      out += fmt::format("{}{} ({})", out.empty() ? "" : ", ", id, info.driver_name);
    }
    return out.empty() ? "none (give --dpdk-eal \"-a PCI_ADDRESS\" or \"--vdev=...\")" : out;
  }

  // How many RX queues the port gets, its RSS configuration, rte_eth_dev_configure.
  void configure(PortState& port, const DpdkPort& spec, unsigned wanted, std::vector<DriverEvent>& events) {
    if (!rte_eth_dev_is_valid_port(port.id)) {
      throw std::runtime_error(fmt::format("no DPDK port {}; the EAL found: {}", port.id, available_ports()));
    }
    rte_eth_dev_info info{};
    if (const int rc = rte_eth_dev_info_get(port.id, &info); rc != 0) {
      throw std::runtime_error(fmt::format("{}: cannot read the device's information: {}", port.name, errno_text(rc)));
    }
    port.if_index = spec.if_index != 0 ? spec.if_index : info.if_index;
    const std::string pmd = info.driver_name != nullptr ? info.driver_name : "?";
    const std::uint64_t rss_hf = info.flow_type_rss_offloads & kRssHashFunctions;
    const bool self_splitting = std::find(kSelfSplittingPmds.begin(), kSelfSplittingPmds.end(), pmd) != kSelfSplittingPmds.end();
    const unsigned max_queues = std::max<unsigned>(1, info.max_rx_queues);
    unsigned queues = 1;
    if (wanted > 1 && rss_hf == 0 && !self_splitting) {
      events.push_back({DriverEvent::Severity::kWarning,
                        fmt::format("{} ({}) has no RSS to split its traffic by flow: 1 RX queue, not the {} "
                                    "asked by --rx-queues",
                                    port.name, pmd, wanted)});
    } else if (wanted > 1) {
      queues = std::min(wanted, max_queues);
      if (queues < wanted) {
        events.push_back({DriverEvent::Severity::kWarning,
                          fmt::format("{} ({}) has only {} RX queue{}: using {}, not the {} asked by --rx-queues",
                                      port.name, pmd, max_queues, max_queues == 1 ? "" : "s", queues, wanted)});
      }
    }
    if (self_splitting && max_queues > queues) {
      events.push_back({DriverEvent::Severity::kWarning,
                        fmt::format("{} ({}) has {} RX queues but --rx-queues {} polls only {}: the others' "
                                    "packets are not read",
                                    port.name, pmd, max_queues, wanted, queues)});
    }
    port.queues = static_cast<std::uint16_t>(queues);
    rte_eth_conf conf{};
    // RSS with the symmetric Toeplitz key (0x6D5A repeated, Woo and Park 2012): both directions
    // of a connection hash alike, so they meet in one queue and one flow-cache shard.
    std::vector<std::uint8_t> key(info.hash_key_size != 0 ? info.hash_key_size : 40);
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = i % 2 == 0 ? 0x6D : 0x5A;
    if (queues > 1 && rss_hf != 0) {
      conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
      conf.rx_adv_conf.rss_conf.rss_key = key.data();
      conf.rx_adv_conf.rss_conf.rss_key_len = static_cast<std::uint8_t>(key.size());
      conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
    }
    if (const int rc = rte_eth_dev_configure(port.id, port.queues, 0, &conf); rc != 0) {
      throw std::runtime_error(fmt::format("{} ({}): cannot configure {} RX queue{}: {}", port.name, pmd, port.queues,
                                           port.queues == 1 ? "" : "s", errno_text(rc)));
    }
    configured_.push_back(port.id);
    std::uint16_t rx = kRxDescriptors, tx = 0;
    if (const int rc = rte_eth_dev_adjust_nb_rx_tx_desc(port.id, &rx, &tx); rc != 0) {
      throw std::runtime_error(fmt::format("{}: cannot size its RX rings: {}", port.name, errno_text(rc)));
    }
    rx_descriptors_.push_back(rx);
  }

  // One pool for every port and queue: the rings full, each queue's poll held, each lcore's
  // cache full, and a burst in flight per queue.
  void create_mempool() {
    std::size_t queues = 0, needed = 0;
    for (std::size_t i = 0; i < ports_.size(); ++i) {
      needed += std::size_t{ports_[i]->queues} * rx_descriptors_[i];
      queues = std::max<std::size_t>(queues, ports_[i]->queues);
    }
    needed += queues * (kMaxFramesPerPoll + kBurstSize) + (queues + 1) * kMempoolCache * 3 / 2;
    std::size_t size = 1;  // a power of two minus one is the ring's best fit
    while (size - 1 < needed) size <<= 1;
    pool_ = rte_pktmbuf_pool_create("tapflow_rx", static_cast<unsigned>(size - 1), kMempoolCache, 0,
                                    RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
    if (pool_ == nullptr) {
      throw std::runtime_error(fmt::format("cannot allocate {} mbufs for the DPDK RX rings: {} (give the EAL more "
                                           "memory: -m MB, or hugepages)",
                                           size - 1, errno_text(rte_errno)));
    }
  }

  void start(PortState& port, std::uint16_t descriptors, bool promiscuous, std::vector<DriverEvent>& events) {
    int socket = rte_eth_dev_socket_id(port.id);
    if (socket < 0) socket = SOCKET_ID_ANY;
    for (std::uint16_t q = 0; q < port.queues; ++q) {
      if (const int rc = rte_eth_rx_queue_setup(port.id, q, descriptors, static_cast<unsigned>(socket), nullptr, pool_);
          rc != 0) {
        throw std::runtime_error(fmt::format("{}: cannot set up RX queue {}: {}", port.name, q, errno_text(rc)));
      }
    }
    if (promiscuous) {
      if (const int rc = rte_eth_promiscuous_enable(port.id); rc != 0 && rc != -ENOTSUP) {
        events.push_back({DriverEvent::Severity::kWarning,
                          fmt::format("{}: cannot enable promiscuous mode: {}", port.name, errno_text(rc))});
      }
    }
    if (const int rc = rte_eth_dev_start(port.id); rc != 0) {
      throw std::runtime_error(fmt::format("{}: cannot start the port: {}", port.name, errno_text(rc)));
    }
    started_.push_back(port.id);
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(port.id, &link) == 0 && link.link_status != RTE_ETH_LINK_UP) {
      port.up.store(false);
      events.push_back({DriverEvent::Severity::kWarning,
                        "capture on '" + port.name + "': the link is down; capture starts when it is up"});
    }
  }

  // Ports stopped and closed, mbufs back in the pool, the pool freed, the EAL released.
  void release() {
    queues_.clear();
    for (const std::uint16_t id : started_) static_cast<void>(rte_eth_dev_stop(id));
    for (const std::uint16_t id : configured_) static_cast<void>(rte_eth_dev_close(id));
    started_.clear();
    configured_.clear();
    if (pool_ != nullptr) rte_mempool_free(pool_);
    pool_ = nullptr;
    if (g_eal_state.load() == 1) {
      rte_eal_cleanup();
      g_eal_state.store(2);
    }
  }

  TscClock clock_;
  std::vector<std::unique_ptr<PortState>> ports_;
  std::vector<std::uint16_t> rx_descriptors_;  // per port, as the PMD adjusted them
  std::vector<std::uint16_t> configured_;
  std::vector<std::uint16_t> started_;
  rte_mempool* pool_ = nullptr;
  std::vector<std::unique_ptr<DpdkQueue>> queues_;
};

}  // namespace

std::unique_ptr<Driver> open_dpdk_driver(const DpdkOptions& options) { return std::make_unique<DpdkDriver>(options); }

}  // namespace tapflow::drivers
