#include "probe/ops/control_request.h"

#include <charconv>
#include <sstream>
#include <vector>

namespace tapflow::probe {

namespace {

std::optional<std::size_t> parse_count(const std::string& word) {
  std::size_t value = 0;
  const auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), value);
  if (ec != std::errc{} || end != word.data() + word.size() || value == 0) return std::nullopt;
  return value;
}

}  // namespace

std::optional<ControlRequest> parse_control_request(std::string_view line, std::string& error) {
  std::istringstream in{std::string(line)};
  std::vector<std::string> words;
  ControlRequest request;
  for (std::string w; in >> w;) {
    if (w == "--json" || w == "json") request.json = true; else words.push_back(w);
  }
  error.clear();
  if (words.empty()) {
    error = "no request";
    return std::nullopt;
  }
  const std::string& command = words[0];
  std::size_t max_words = 1;
  if (command == "stats") {
    request.command = ControlRequest::Command::kStats;
  } else if (command == "expire") {
    request.command = ControlRequest::Command::kExpire;
  } else if (command == "flows" || command == "top") {
    const bool top = command == "top";
    request.command = top ? ControlRequest::Command::kTop : ControlRequest::Command::kFlows;
    request.count = top ? 10 : 20;
    max_words = top ? 3 : 2;
    std::size_t next = 1;
    if (words.size() > next) {
      if (const auto n = parse_count(words[next])) {
        request.count = *n;
        ++next;
      } else if (!top || (words[next][0] >= '0' && words[next][0] <= '9') || words[next][0] == '-') {
        error = "'" + command + " " + words[next] + "': N is a whole number from 1";
        return std::nullopt;
      }
    }
    if (top && words.size() > next) {
      const std::string& by = words[next];
      if (by == "bytes") {
        request.rank = ControlRequest::Rank::kBytes;
      } else if (by == "packets") {
        request.rank = ControlRequest::Rank::kPackets;
      } else if (by == "flows") {
        request.rank = ControlRequest::Rank::kFlows;
      } else if (by == "hosts") {
        request.rank = ControlRequest::Rank::kHosts;
        if (words.size() > next + 1) {
          if (words[next + 1] == "packets" || words[next + 1] == "bytes") {
            request.hosts_by_packets = words[next + 1] == "packets";
            ++next;
          } else {
            error = "'top ... hosts " + words[next + 1] + "': rank hosts by bytes or packets";
            return std::nullopt;
          }
        }
      } else {
        error = "'top ... " + by + "': rank by bytes, packets, flows or hosts";
        return std::nullopt;
      }
      ++next;
    }
    max_words = next;
  } else {
    error = "unknown request '" + command + "'";
    return std::nullopt;
  }
  if (words.size() > max_words) {
    error = "'" + command + "' takes ";
    error += max_words == 1 ? "no argument" : "fewer arguments";
    error += ", got '" + words[max_words] + "'";
    return std::nullopt;
  }
  return request;
}

}  // namespace tapflow::probe
