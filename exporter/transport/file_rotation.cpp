#include "exporter/transport/file_rotation.h"

#include <ctime>
#include <vector>

namespace tapflow::exporter {

std::uint64_t rotation_interval_start(std::uint64_t now_ns, std::uint32_t interval_s) {
  const std::uint64_t now_s = now_ns / 1'000'000'000ull;
  return interval_s == 0 ? now_s : now_s - now_s % interval_s;
}

bool has_time_conversion(std::string_view pattern) {
  for (std::size_t i = 0; i + 1 < pattern.size(); ++i) {
    if (pattern[i] != '%') continue;
    if (pattern[i + 1] != '%') return true;
    ++i;  // "%%" is a literal percent sign
  }
  return false;
}

std::string rotation_pattern(std::string_view path, std::uint32_t interval_s) {
  std::string pattern(path);
  if (has_time_conversion(pattern)) return pattern;
  pattern += interval_s % 60 == 0 ? ".%Y%m%d%H%M" : ".%Y%m%d%H%M%S";
  return pattern;
}

std::string expand_rotation_pattern(std::string_view pattern, std::uint64_t start_s) {
  const std::time_t t = static_cast<std::time_t>(start_s);
  std::tm utc{};
  gmtime_r(&t, &utc);
  // strftime returns 0 both for a buffer too small and for an empty result: the format gets a
  // character that is never empty, taken off afterwards.
  const std::string format = std::string(pattern) + "#";
  std::vector<char> buffer(format.size() * 4 + 64);
  for (;;) {
    const std::size_t n = std::strftime(buffer.data(), buffer.size(), format.c_str(), &utc);
    if (n != 0) return std::string(buffer.data(), n - 1);
    buffer.resize(buffer.size() * 2);
  }
}

bool pattern_merges_intervals(std::string_view pattern, std::uint32_t interval_s) {
  if (interval_s == 0) return false;
  // Consecutive intervals share a name within the first unit of the finest conversion (a %H
  // pattern with 300 s: within the first hour), so a couple of thousand from a start suffice.
  constexpr std::uint64_t kFrom = 1'483'228'800;  // 2017-01-01T00:00:00Z
  std::uint64_t t = kFrom - kFrom % interval_s;
  std::string previous = expand_rotation_pattern(pattern, t);
  for (int i = 0; i < 2000; ++i) {
    t += interval_s;
    std::string name = expand_rotation_pattern(pattern, t);
    if (name == previous) return true;
    previous = std::move(name);
  }
  return false;
}

std::string rotation_base_directory(std::string_view pattern) {
  std::size_t conversion = pattern.size();
  for (std::size_t i = 0; i + 1 < pattern.size(); ++i) {
    if (pattern[i] != '%') continue;
    if (pattern[i + 1] != '%') {
      conversion = i;
      break;
    }
    ++i;
  }
  const auto slash = pattern.substr(0, conversion).rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(pattern.substr(0, slash));
}

std::optional<std::string> file_output_path(std::string_view url) {
  const bool file = url.starts_with("file:");
  if (!file && !url.starts_with("json:")) return std::nullopt;
  std::string path(url.substr(5));
  if (const auto query = path.find("?anonymize="); query != std::string::npos) path.resize(query);
  if (!file && path == "-") return std::nullopt;
  if (file && path.starts_with("//")) path.erase(0, 2);
  return path;
}

}  // namespace tapflow::exporter
