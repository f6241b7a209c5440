// --rotate: file outputs cut into intervals of the probe's own clock (the packets' time when
// reading files, the wall clock live), as nfcapd cuts its files by arrival time. Intervals are
// aligned to multiples of their length in Unix time (300 s: :00, :05, ...); a file is named by
// expanding the path's strftime conversions with its interval's start, in UTC. Pure functions,
// no I/O: FileTransport opens the files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tapflow::exporter {

// Start of the interval holding `now_ns` (ns since the epoch), in seconds since the epoch.
std::uint64_t rotation_interval_start(std::uint64_t now_ns, std::uint32_t interval_s);

// True if `pattern` holds a strftime conversion (a '%' not part of "%%").
bool has_time_conversion(std::string_view pattern);

// The pattern a rotated output uses: `path` itself when it has a conversion, else `path` with
// nfcapd's suffix appended, ".%Y%m%d%H%M" (".%Y%m%d%H%M%S" when the interval is not whole
// minutes), so that every interval has a file of its own.
std::string rotation_pattern(std::string_view path, std::uint32_t interval_s);

// `pattern` with its strftime conversions expanded for `start_s` (seconds since the epoch) in UTC,
// whatever TZ says: a conversion's names do not depend on the machine it runs on, and no hour is
// named twice when daylight saving time ends.
std::string expand_rotation_pattern(std::string_view pattern, std::uint64_t start_s);

// True when `pattern` names two consecutive intervals the same (its finest conversion is coarser
// than the interval: %H with 300 s), so they would share one file. Sampled over the first 2,000 intervals from 2017.
bool pattern_merges_intervals(std::string_view pattern, std::uint32_t interval_s);

// The directory part of `pattern` before its first conversion ("/archive" for
// "/archive/%Y/%m/flows.%H%M"; "." for a relative name without a directory): the directory
// the rotated files' own directories are created in.
std::string rotation_base_directory(std::string_view pattern);

// The path (or pattern) of a destination written to a file: file:PATH (file:///PATH too) and
// json:PATH, without a ?anonymize= query; nullopt for network destinations and json:- (the
// standard output).
std::optional<std::string> file_output_path(std::string_view url);

}  // namespace tapflow::exporter
