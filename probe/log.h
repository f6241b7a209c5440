// Logging for every stage: one line per message on stderr, with a level.
//   terminal / file:  "tapflow: warning: cannot send to udp://... (further failures only counted)"
//   under systemd:    "<4>tapflow: warning: ..." (sd-daemon priority prefix, so journald keeps the
//                     level) when JOURNAL_STREAM names our stderr, as systemd sets it.
// Messages below the threshold (--log-level) cost one comparison. Thread-safe: each line goes out
// in one write(2). The program logs; the stages (drivers, cache, exporter) never do: they count,
// and report what an operator must hear of as events, which the runtime logs here. Nothing is
// logged per packet or per record (a log line says when something starts going wrong).
#pragma once

#include <fmt/format.h>

#include <string_view>
#include <utility>

namespace tapflow::log {

// syslog(3) priorities.
enum class Level : int { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

void set_threshold(Level level);
Level threshold();
bool enabled(Level level);
// "error", "warning", "notice", "info", "debug"; false for anything else.
bool parse_level(std::string_view text, Level& level);
std::string_view to_string(Level level);
// Re-reads JOURNAL_STREAM (done once at start-up; tests call it after changing it).
void detect_journal();

void write(Level level, std::string_view message);

// Says that a status line (the progress bar, without its newline) ends stderr: every log line
// then first clears it ("\r\033[K"), so no message is glued onto the bar, which its owner draws
// again later. The bar's owner sets it when drawing and clears it when erasing.
void set_status_line(bool shown);

template <typename... Args>
void error(fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(Level::kError)) write(Level::kError, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void warning(fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(Level::kWarning)) write(Level::kWarning, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void notice(fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(Level::kNotice)) write(Level::kNotice, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(Level::kInfo)) write(Level::kInfo, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(Level::kDebug)) write(Level::kDebug, fmt::format(format, std::forward<Args>(args)...));
}

// Logs an event a stage reported (drivers::DriverEvent, exporter::TransportEvent: the stages
// never log themselves), by its severity.
template <typename Event>
void event(const Event& e) {
  using Severity = decltype(e.severity);
  const Level level = e.severity == Severity::kError     ? Level::kError
                      : e.severity == Severity::kWarning ? Level::kWarning
                                                         : Level::kNotice;
  if (enabled(level)) write(level, e.message);
}

}  // namespace tapflow::log
