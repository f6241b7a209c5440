#include "drivers/pcap_live_reader.h"

#include <net/if.h>
#include <pcap/pcap.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace tapflow::drivers {

namespace {
std::runtime_error open_error(const std::string& name, const std::string& what) {
  return std::runtime_error("cannot capture on '" + name + "': " + what);
}
}  // namespace

LiveInterface parse_interface(const std::string& spec) {
  LiveInterface out;
  const auto colon = spec.find(':');
  if (colon != std::string::npos && colon > 0 &&
      spec.find_first_not_of("0123456789") == colon) {
    out.if_index = static_cast<std::uint32_t>(std::stoul(spec.substr(0, colon)));
    out.name = spec.substr(colon + 1);
  } else {
    out.name = spec;
    out.if_index = if_nametoindex(spec.c_str());
  }
  if (out.name.empty()) throw std::runtime_error("empty interface name in '" + spec + "'");
  return out;
}

PcapLiveReader::PcapLiveReader(const LiveCaptureOptions& options) : interfaces_(options.interfaces) {
  for (const auto& itf : interfaces_) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_create(itf.name.c_str(), errbuf);
    if (p == nullptr) throw open_error(itf.name, errbuf);
    handles_.push_back(p);
    pcap_set_snaplen(p, options.snaplen);
    pcap_set_promisc(p, options.promiscuous ? 1 : 0);
    pcap_set_timeout(p, 100);
    if (options.buffer_size > 0) pcap_set_buffer_size(p, options.buffer_size);
    if (options.immediate) pcap_set_immediate_mode(p, 1);
    pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
    const int rc = pcap_activate(p);
    if (rc < 0) {
      std::string why = rc == PCAP_ERROR_NO_SUCH_DEVICE ? "no such device"
                        : rc == PCAP_ERROR_PERM_DENIED  ? "permission denied (run as root or give CAP_NET_RAW)"
                        : rc == PCAP_ERROR_IFACE_NOT_UP ? "interface is down"
                                                        : pcap_geterr(p);
      throw open_error(itf.name, why);
    }
    if (!options.filter.empty()) {
      bpf_program program{};
      if (pcap_compile(p, &program, options.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        throw std::runtime_error("bad capture filter '" + options.filter + "': " + pcap_geterr(p));
      }
      const int set = pcap_setfilter(p, &program);
      pcap_freecode(&program);
      if (set != 0) throw open_error(itf.name, std::string("cannot set filter: ") + pcap_geterr(p));
    }
    if (pcap_setnonblock(p, 1, errbuf) != 0) throw open_error(itf.name, errbuf);
    link_types_.push_back(pcap_datalink(p) == DLT_RAW ? 101 : pcap_datalink(p));
    fds_.push_back(pcap_get_selectable_fd(p));
    ts_scale_.push_back(pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO ? 1 : 1000);
  }
}

PcapLiveReader::~PcapLiveReader() {
  for (pcap_t* p : handles_) pcap_close(p);
}

bool PcapLiveReader::wait(int timeout_ms) {
  pollfd fds[16];
  const std::size_t n = std::min<std::size_t>(fds_.size(), 16);
  for (std::size_t i = 0; i < n; ++i) fds[i] = {fds_[i], POLLIN, 0};
  const int rc = poll(fds, n, timeout_ms);
  if (rc < 0 && errno != EINTR) error_ = std::string("poll: ") + std::strerror(errno);
  for (std::size_t i = 0; i < n; ++i) {
    if (fds[i].revents & (POLLERR | POLLNVAL)) {
      error_ = "capture on '" + interfaces_[i].name + "' failed (interface gone or down)";
    }
  }
  // With TPACKET_V3 a block can be ready without POLLIN on some kernels; always try to read.
  return error_.empty();
}

bool PcapLiveReader::next(std::size_t i, Frame& frame) {
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  const int rc = pcap_next_ex(handles_[i], &header, &data);
  if (rc == 1) {
    frame.data = {data, header->caplen};
    frame.wire_length = header->len;
    frame.timestamp_ns = static_cast<std::uint64_t>(header->ts.tv_sec) * 1'000'000'000ull +
                         static_cast<std::uint64_t>(header->ts.tv_usec) * ts_scale_[i];
    return true;
  }
  if (rc == PCAP_ERROR) {
    error_ = "capture on '" + interfaces_[i].name + "' failed: " + pcap_geterr(handles_[i]);
  }
  return false;
}

std::vector<LiveCaptureCounters> PcapLiveReader::counters() const {
  std::vector<LiveCaptureCounters> out;
  for (std::size_t i = 0; i < handles_.size(); ++i) {
    pcap_stat st{};
    LiveCaptureCounters c;
    c.interface = interfaces_[i].name;
    if (pcap_stats(handles_[i], &st) == 0) {
      c.received = st.ps_recv;
      c.dropped_kernel = st.ps_drop;
      c.dropped_interface = st.ps_ifdrop;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace tapflow::drivers
