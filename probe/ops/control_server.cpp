#include "probe/ops/control_server.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "exporter/json/json_lines_exporter.h"
#include <sstream>
#include <stdexcept>
#include <vector>

#include "probe/counters.h"
#include "probe/ops/control_request.h"
#include "probe/ops/top_hosts.h"
#include "probe/flow_printer.h"

namespace tapflow::probe {

namespace {

sockaddr_un socket_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    throw std::runtime_error("control socket path too long: '" + path + "'");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

bool someone_listens(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const sockaddr_un addr = socket_address(path);
  const bool ok = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// The fields of -n json: (one definition), plus the flow's age.
nlohmann::json flow_json(const cache::FlowRecord& r, std::uint64_t now_ns, const exporter::TemplateSpec& fields) {
  nlohmann::json j = exporter::record_json(r, fields);
  j["age_s"] = now_ns > r.first_ns ? static_cast<double>(now_ns - r.first_ns) / 1e9 : 0.0;
  return j;
}

std::string flows_text(const std::vector<cache::FlowRecord>& flows, std::uint64_t now_ns) {
  std::string out = fmt::format("{:<6} {:>47} -> {:<47} {:>10} {:>14} {:>9} {:<8}\n", "proto", "source",
                                "destination", "packets", "octets", "age s", "flags");
  for (const auto& r : flows) {
    out += fmt::format("{:<6} {:>47} -> {:<47} {:>10} {:>14} {:>9.1f} {:<8}\n", cache::protocol_name(r.key.protocol),
                       cache::format_endpoint(r.key, true), cache::format_endpoint(r.key, false), r.packets, r.octets,
                       now_ns > r.first_ns ? static_cast<double>(now_ns - r.first_ns) / 1e9 : 0.0,
                       format_tcp_flags(r.tcp_flags));
  }
  return out;
}

std::uint64_t latest_packet_ns(const Pipeline::Snapshot& s) {
  std::uint64_t now = s.stats.profile.last_ns;
  for (const auto& f : s.flows) now = std::max(now, f.last_ns);
  return now;
}

}  // namespace

std::string handle_control_request(const std::string& line, Pipeline& pipeline) {
  std::string error;
  const auto request = parse_control_request(line, error);
  if (!request) return fmt::format("error: {}; use {}\n", error, kControlUsage);
  const bool json = request->json;
  const std::size_t n = request->count;
  using Command = ControlRequest::Command;
  using Rank = ControlRequest::Rank;
  if (request->command == Command::kStats) {
    Pipeline::Snapshot s;
    if (!pipeline.request(false, 0, s)) return "error: tapflow is shutting down\n";
    if (json) {
      auto j = to_json(s.stats);
      return j.dump(2) + "\n";
    }
    return format_summary(s.stats) + "\n" + format_profile(s.stats.profile);
  }
  if (request->command == Command::kFlows) {
    Pipeline::Snapshot s;
    if (!pipeline.request(false, n, s)) return "error: tapflow is shutting down\n";
    const auto now = latest_packet_ns(s);
    if (json) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& f : s.flows) j.push_back(flow_json(f, now, pipeline.record_fields()));
      return j.dump(2) + "\n";
    }
    return flows_text(s.flows, now) + fmt::format("{} of {} active flows\n", s.flows.size(), s.stats.flows_active);
  }
  if (request->command == Command::kTop) {
    Pipeline::Snapshot s;
    if (!pipeline.request(false, SIZE_MAX, s)) return "error: tapflow is shutting down\n";
    if (request->rank == Rank::kFlows) {
      // Sources with the most active flows.
      std::map<std::string, std::uint64_t> per_source;
      for (const auto& f : s.flows) ++per_source[format_address(f.key.source_address, f.key.is_ipv6())];
      std::vector<std::pair<std::string, std::uint64_t>> ranked(per_source.begin(), per_source.end());
      std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
      if (ranked.size() > n) ranked.resize(n);
      if (json) {
        nlohmann::json j = nlohmann::json::array();
        for (const auto& [source, flows] : ranked) j.push_back({{"source", source}, {"flows", flows}});
        return j.dump(2) + "\n";
      }
      std::string out = fmt::format("top {} sources by active flows\n{:<40} {:>10}\n", n, "source", "flows");
      for (const auto& [source, flows] : ranked) out += fmt::format("{:<40} {:>10}\n", source, flows);
      return out;
    }
    if (request->rank == Rank::kHosts) {
      const auto ranked = rank_hosts(s.flows, n, request->hosts_by_packets);
      if (json) {
        nlohmann::json j = nlohmann::json::array();
        for (const auto& h : ranked) {
          j.push_back({{"host", h.address}, {"octets", h.octets}, {"packets", h.packets}, {"flows", h.flows}});
        }
        return j.dump(2) + "\n";
      }
      std::string out = fmt::format("top {} hosts by {}, as source or destination (each flow counts for both ends)\n",
                                    n, request->hosts_by_packets ? "packets" : "bytes");
      out += fmt::format("{:<39} {:>14} {:>12} {:>8}\n", "host", "octets", "packets", "flows");
      for (const auto& h : ranked) {
        out += fmt::format("{:<39} {:>14} {:>12} {:>8}\n", h.address, h.octets, h.packets, h.flows);
      }
      return out;
    }
    const bool bytes = request->rank == Rank::kBytes;
    const std::size_t keep = std::min(n, s.flows.size());
    std::partial_sort(s.flows.begin(), s.flows.begin() + static_cast<std::ptrdiff_t>(keep), s.flows.end(),
                      [bytes](const auto& a, const auto& b) { return bytes ? a.octets > b.octets : a.packets > b.packets; });
    s.flows.resize(keep);
    const auto now = latest_packet_ns(s);
    if (json) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& f : s.flows) j.push_back(flow_json(f, now, pipeline.record_fields()));
      return j.dump(2) + "\n";
    }
    return fmt::format("top {} flows by {}\n", n, bytes ? "bytes" : "packets") + flows_text(s.flows, now);
  }
  Pipeline::Snapshot s;
  if (!pipeline.request(true, 0, s)) return "error: tapflow is shutting down\n";
  if (json) return nlohmann::json{{"expired", true}, {"flows_active", s.stats.flows_active}}.dump() + "\n";
  return fmt::format("every active flow exported (forced end); {} flows active now\n", s.stats.flows_active);
}

ControlServer::ControlServer(std::string path, Pipeline& pipeline) : path_(std::move(path)) {
  const sockaddr_un addr = socket_address(path_);
  struct stat st {};
  if (lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      throw std::runtime_error("control socket path '" + path_ + "' exists and is not a socket");
    }
    if (someone_listens(path_)) {
      throw std::runtime_error("control socket '" + path_ + "' is in use by another running tapflow; "
                               "give this one its own --control PATH");
    }
    unlink(path_.c_str());  // stale: its process is gone
  }
  const int listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) throw std::runtime_error(std::string("control socket: ") + std::strerror(errno));
  // Created 0600 from the start (umask), so no other user can connect between bind and chmod.
  const mode_t old_mask = umask(0177);
  const int bound = bind(listen_fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  umask(old_mask);
  if (bound != 0 || listen(listen_fd, 16) != 0) {
    const std::string why = std::strerror(errno);
    close(listen_fd);
    throw std::runtime_error("cannot create control socket '" + path_ + "': " + why);
  }
  chmod(path_.c_str(), 0600);
  RequestProtocol protocol;
  protocol.request_length = [](std::string_view received) {
    const auto end = received.find('\n');
    return end == std::string_view::npos ? 0 : end + 1;
  };
  protocol.answer = [&pipeline](std::string_view request, int client) -> std::string {
    // The socket is 0600, but check the peer anyway: only our own user (or root) may ask.
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(client, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid != 0 && cred.uid != geteuid()) {
      return "error: permission denied\n";
    }
    std::string line(request.substr(0, request.find('\n')));
    return handle_control_request(line, pipeline);
  };
  protocol.too_large = "error: request line longer than 1024 octets\n";
  protocol.timed_out = "error: no request line within 2 s\n";
  protocol.answer_at_end = true;  // a request without its newline, then the client's shutdown
  try {
    server_ = std::make_unique<RequestServer>(listen_fd, std::move(protocol), limits());
  } catch (...) {
    unlink(path_.c_str());
    throw;
  }
}

RequestLimits ControlServer::limits() {
  RequestLimits limits;
  limits.max_clients = 8;
  limits.max_request_bytes = 1024;
  limits.read_timeout = std::chrono::milliseconds(2000);
  limits.write_timeout = std::chrono::milliseconds(10000);
  return limits;
}

ControlServer::~ControlServer() {
  server_.reset();  // closes the listening socket
  unlink(path_.c_str());
}

int run_control_client(const std::string& path, const std::string& request) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_un addr = socket_address(path);
  if (fd < 0 || connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    fmt::print(stderr, "tapflow ctl: cannot connect to '{}': {} (is tapflow running with --control {}?)\n",
               path, std::strerror(errno), path);
    if (fd >= 0) close(fd);
    return 1;
  }
  const std::string line = request + "\n";
  if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    fmt::print(stderr, "tapflow ctl: cannot send the request: {}\n", std::strerror(errno));
    close(fd);
    return 1;
  }
  shutdown(fd, SHUT_WR);
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) answer.append(buf, static_cast<std::size_t>(n));
  close(fd);
  fmt::print("{}", answer);
  return answer.rfind("error:", 0) == 0 ? 1 : 0;
}

}  // namespace tapflow::probe
