// --rotate: interval alignment, path patterns in UTC, nfcapd's suffix, patterns too coarse for
// their interval; and the rotating FileTransport with an injected clock (a file per interval,
// directories made, a SIGHUP within an interval appending, IPFIX files with their templates).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "exporter/exporter.h"
#include "exporter/ipfix/ipfix_file_reader.h"
#include "exporter/transport/file_rotation.h"
#include "exporter/transport/file_transport.h"

namespace tapflow::exporter {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000;
// 2017-03-26T00:58:20Z: the night Europe's clocks go forward at 01:00 UTC.
constexpr std::uint64_t k2017 = 1'490'489'900;

TEST(FileRotation, IntervalsAreAlignedToMultiplesInUnixTime) {
  EXPECT_EQ(rotation_interval_start(k2017 * kSecond + 123, 300), k2017 - k2017 % 300);
  EXPECT_EQ(rotation_interval_start(k2017 * kSecond, 300) % 300, 0u);
  EXPECT_EQ(rotation_interval_start(1'490'490'000 * kSecond, 300), 1'490'490'000u);  // 01:00:00 itself
  EXPECT_EQ(rotation_interval_start(1'490'490'000 * kSecond - 1, 300), 1'490'490'000u - 300);
  EXPECT_EQ(rotation_interval_start(k2017 * kSecond, 86400), 1'490'486'400u);  // UTC midnight
}

TEST(FileRotation, ExpandsTheIntervalStartInUtcWhateverTzSays) {
  const char* saved = std::getenv("TZ");
  const std::string before = saved != nullptr ? saved : "";
  setenv("TZ", "Europe/Berlin", 1);
  tzset();
  EXPECT_EQ(expand_rotation_pattern("/archive/%Y/%m/%d/flows.%H%M", 1'490'490'000), "/archive/2017/03/26/flows.0100");
  EXPECT_EQ(expand_rotation_pattern("flows.%Y%m%d%H%M%S", 1'490'489'700), "flows.20170326005500");
  EXPECT_EQ(expand_rotation_pattern("100%%-%H", 1'490'489'700), "100%-00");
  EXPECT_EQ(expand_rotation_pattern("", 0), "");
  if (saved != nullptr) setenv("TZ", before.c_str(), 1); else unsetenv("TZ");
  tzset();
}

TEST(FileRotation, APathWithoutConversionsGetsNfcapdsSuffix) {
  EXPECT_FALSE(has_time_conversion("/var/lib/tapflow/flows.ipfix"));
  EXPECT_FALSE(has_time_conversion("100%%"));
  EXPECT_FALSE(has_time_conversion("trailing%"));
  EXPECT_TRUE(has_time_conversion("flows.%H%M"));
  EXPECT_TRUE(has_time_conversion("100%%.%s"));
  EXPECT_EQ(rotation_pattern("/x/flows", 300), "/x/flows.%Y%m%d%H%M");
  EXPECT_EQ(rotation_pattern("/x/flows", 30), "/x/flows.%Y%m%d%H%M%S");
  EXPECT_EQ(rotation_pattern("/x/flows.%H%M", 300), "/x/flows.%H%M");
  EXPECT_EQ(expand_rotation_pattern(rotation_pattern("nfcapd", 300), 1'490'489'700), "nfcapd.201703260055");
}

TEST(FileRotation, KnowsPatternsThatNameConsecutiveIntervalsAlike) {
  EXPECT_FALSE(pattern_merges_intervals("flows.%Y%m%d%H%M", 300));
  EXPECT_FALSE(pattern_merges_intervals("flows.%Y%m%d%H%M", 60));
  EXPECT_TRUE(pattern_merges_intervals("flows.%Y%m%d%H%M", 30));
  EXPECT_TRUE(pattern_merges_intervals("flows.%Y%m%d%H", 300));
  EXPECT_FALSE(pattern_merges_intervals("flows.%Y%m%d%H", 3600));
  EXPECT_FALSE(pattern_merges_intervals("%Y/%m/%d", 86400));
  EXPECT_TRUE(pattern_merges_intervals("flows.%Y", 86400));
  EXPECT_FALSE(pattern_merges_intervals("flows.%s", 1));
}

TEST(FileRotation, BaseDirectoryIsWhatComesBeforeTheFirstConversion) {
  EXPECT_EQ(rotation_base_directory("/archive/%Y/%m/flows.%H%M"), "/archive");
  EXPECT_EQ(rotation_base_directory("/var/lib/tapflow/flows.%H%M"), "/var/lib/tapflow");
  EXPECT_EQ(rotation_base_directory("/flows.%H"), "/");
  EXPECT_EQ(rotation_base_directory("flows.%H"), ".");
  EXPECT_EQ(rotation_base_directory("a/100%%/b/%H"), "a/100%%/b");
}

std::filesystem::path temp_directory(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / (name + "." + std::to_string(getpid()));
  std::filesystem::remove_all(d);
  return d;
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST(RotatingFileTransport, OpensTheFileOfTheClocksIntervalAtItsFirstMessage) {
  const auto dir = temp_directory("tapflow_rotation");
  std::uint64_t now = 1'490'489'700 * kSecond + 5 * kSecond;  // 00:55:05
  FileTransport t((dir / "%Y/%m/%d/flows.%H%M").string(),
                  FileOptions{.rotate_interval_s = 300, .clock = [&now] { return now; }});
  EXPECT_FALSE(std::filesystem::exists(dir));  // nothing before the first message
  EXPECT_EQ(t.send(bytes("a")), SendResult::kSent);
  now += 10 * kSecond;
  EXPECT_EQ(t.send(bytes("b")), SendResult::kSent);
  // SIGHUP within the interval: the same file, appended.
  EXPECT_TRUE(t.reopen());
  EXPECT_EQ(t.send(bytes("c")), SendResult::kSent);
  // The export thread closes the file at the interval's end; the next message opens the next.
  now = 1'490'490'000 * kSecond + 1;
  EXPECT_TRUE(t.reopen());
  EXPECT_EQ(t.send(bytes("d")), SendResult::kSent);
  // An interval with no message has no file.
  now = 1'490'490'000 * kSecond + 700 * kSecond;
  EXPECT_TRUE(t.reopen());
  EXPECT_EQ(t.send(bytes("e")), SendResult::kSent);
  EXPECT_FALSE(t.has_events());
  EXPECT_EQ(read_all(dir / "2017/03/26/flows.0055"), "abc");
  EXPECT_EQ(read_all(dir / "2017/03/26/flows.0100"), "d");
  EXPECT_FALSE(std::filesystem::exists(dir / "2017/03/26/flows.0105"));
  EXPECT_EQ(read_all(dir / "2017/03/26/flows.0110"), "e");
  std::filesystem::remove_all(dir);
}

TEST(RotatingFileTransport, TruncatesAFileOfAnEarlierRunAndAppendsIntervalsSharingAName) {
  const auto dir = temp_directory("tapflow_rotation_names");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "flows.00") << "an earlier run";
  std::uint64_t now = 1'490'486'400 * kSecond;  // 00:00
  FileTransport t((dir / "flows.%H").string(), FileOptions{.rotate_interval_s = 300, .clock = [&now] { return now; }});
  EXPECT_EQ(t.send(bytes("1")), SendResult::kSent);
  now += 300 * kSecond;
  t.reopen();
  EXPECT_EQ(t.send(bytes("2")), SendResult::kSent);
  EXPECT_EQ(read_all(dir / "flows.00"), "12");
  std::filesystem::remove_all(dir);
}

TEST(RotatingFileTransport, AFileThatCannotBeCreatedIsReportedOnceAndCounted) {
  const auto dir = temp_directory("tapflow_rotation_fail");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "file") << "x";  // a directory component that is a file
  FileTransport t((dir / "file/%H").string(), FileOptions{.rotate_interval_s = 60, .clock = [] { return k2017 * kSecond; }});
  EXPECT_EQ(t.send(bytes("1")), SendResult::kFailed);
  EXPECT_EQ(t.send(bytes("2")), SendResult::kFailed);
  std::vector<TransportEvent> events;
  t.take_events(events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].message.find("cannot open IPFIX file '" + (dir / "file/00").string()), std::string::npos)
      << events[0].message;
  std::filesystem::remove_all(dir);
}

TEST(RotatingFileTransport, StandardOutputIsNeverReopened) {
  FileOptions options;
  options.reopenable = false;
  FileTransport t("/dev/null", options);
  EXPECT_FALSE(t.reopen());
  EXPECT_EQ(t.send(bytes("x")), SendResult::kSent);
}

cache::FlowRecord record(std::uint32_t n) {
  cache::FlowRecord r;
  r.key.ip_version = 4;
  r.key.source_address[0] = 10;
  r.key.source_address[3] = static_cast<std::uint8_t>(n);
  r.key.destination_address[0] = 192;
  r.key.source_port = static_cast<std::uint16_t>(1000 + n);
  r.key.destination_port = 80;
  r.key.protocol = 6;
  r.packets = n + 1;
  r.octets = 100 * (n + 1);
  r.first_ns = k2017 * kSecond;
  r.last_ns = r.first_ns + kSecond;
  return r;
}

TEST(RotatingFileTransport, EveryIpfixFileStandsAloneWithItsTemplates) {
  const auto dir = temp_directory("tapflow_rotation_ipfix");
  std::uint64_t now = 1'490'489'700 * kSecond;
  ExportOptions options;
  options.rotate_interval_s = 300;
  auto e = make_exporter("file:" + (dir / "flows").string(), options, [&now] { return now; });
  std::vector<cache::FlowRecord> first{record(1), record(2)}, second{record(3)};
  e->export_records(first);
  // The export thread at the interval's end: the exporters reopen while the clock still reads the
  // interval their open message belongs to, then the clock moves on.
  e->reopen();
  now += 300 * kSecond;
  e->export_records(second);
  e->close();
  EXPECT_EQ(e->counters().records, 3u);
  EXPECT_EQ(e->counters().template_sets, 3u);  // each file's first message, and the close's statistics
  const auto a = read_ipfix_file((dir / "flows.201703260055").string());
  const auto b = read_ipfix_file((dir / "flows.201703260100").string());
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0].flow.key, first[0].key);
  EXPECT_EQ(b[0].flow.key, second[0].key);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tapflow::exporter
