#include "probe/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace tapflow::log {

namespace {
std::atomic<int> g_threshold{static_cast<int>(Level::kInfo)};

// systemd sets JOURNAL_STREAM=DEV:INODE for the stream it connected to stdout/stderr.
bool stderr_is_journal() {
  const char* value = std::getenv("JOURNAL_STREAM");
  if (value == nullptr) return false;
  unsigned long long device = 0, inode = 0;
  if (std::sscanf(value, "%llu:%llu", &device, &inode) != 2) return false;
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == device && static_cast<unsigned long long>(st.st_ino) == inode;
}

std::atomic<bool> g_journal{stderr_is_journal()};
std::atomic<bool> g_status_line{false};
}  // namespace

void set_status_line(bool shown) { g_status_line.store(shown, std::memory_order_relaxed); }

void set_threshold(Level level) { g_threshold.store(static_cast<int>(level), std::memory_order_relaxed); }
Level threshold() { return static_cast<Level>(g_threshold.load(std::memory_order_relaxed)); }
bool enabled(Level level) { return static_cast<int>(level) <= g_threshold.load(std::memory_order_relaxed); }
void detect_journal() { g_journal.store(stderr_is_journal()); }

std::string_view to_string(Level level) {
  switch (level) {
    case Level::kError: return "error";
    case Level::kWarning: return "warning";
    case Level::kNotice: return "notice";
    case Level::kInfo: return "info";
    case Level::kDebug: return "debug";
  }
  return "info";
}

bool parse_level(std::string_view text, Level& level) {
  for (Level l : {Level::kError, Level::kWarning, Level::kNotice, Level::kInfo, Level::kDebug}) {
    if (text == to_string(l)) {
      level = l;
      return true;
    }
  }
  return false;
}

void write(Level level, std::string_view message) {
  std::string line;
  line.reserve(message.size() + 32);
  if (g_status_line.exchange(false, std::memory_order_relaxed)) line += "\r\033[K";
  if (g_journal.load(std::memory_order_relaxed)) {
    line += '<';
    line += static_cast<char>('0' + static_cast<int>(level));
    line += '>';
  }
  line += "tapflow: ";
  if (level != Level::kInfo && level != Level::kNotice) {
    line += to_string(level);
    line += ": ";
  }
  line += message;
  line += '\n';
  // One write per line so lines from several threads never interleave; stderr is unbuffered.
  std::fflush(stderr);
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace tapflow::log
