// --export-rate: the accepted spellings, the refused ones with their message, and the pace a
// token bucket keeps (checked by the count of tokens, never by timing a run).
#include "exporter/transport/pacer.h"

#include <gtest/gtest.h>

#include <chrono>

namespace tapflow::exporter {
namespace {

ExportRate parse(const char* text) {
  std::string error;
  auto r = parse_export_rate(text, error);
  EXPECT_TRUE(r.has_value()) << text << ": " << error;
  return r.value_or(ExportRate{});
}

TEST(ExportRate, MessagesBytesAndBitsPerSecond) {
  EXPECT_EQ(parse("2000").unit, ExportRate::Unit::kMessages);
  EXPECT_DOUBLE_EQ(parse("2000").per_second, 2000);
  EXPECT_DOUBLE_EQ(parse("5k").per_second, 5000);
  EXPECT_DOUBLE_EQ(parse("2000/s").per_second, 2000);
  EXPECT_DOUBLE_EQ(parse("2000msg/s").per_second, 2000);
  EXPECT_EQ(parse("10MB/s").unit, ExportRate::Unit::kBytes);
  EXPECT_DOUBLE_EQ(parse("10MB/s").per_second, 10e6);
  EXPECT_DOUBLE_EQ(parse("800kB/s").per_second, 800e3);
  EXPECT_DOUBLE_EQ(parse("100Mbit/s").per_second, 12.5e6);
  EXPECT_DOUBLE_EQ(parse("1Gbps").per_second, 125e6);
  EXPECT_FALSE(parse("0").limited());
  EXPECT_FALSE(parse("none").limited());
  EXPECT_FALSE(parse("unlimited").limited());
  EXPECT_EQ(parse("4000").to_string(), "4000 messages/s");
  EXPECT_EQ(parse("12.5MB/s").to_string(), "12.5 MB/s");
}

TEST(ExportRate, AnythingElseSaysWhatIsExpected) {
  for (const char* bad : {"", "fast", "-5", "10 parsecs", "10furlongs/s", "0.5"}) {
    std::string error;
    EXPECT_FALSE(parse_export_rate(bad, error).has_value()) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
  std::string error;
  parse_export_rate("10MiB/s", error);
  EXPECT_NE(error.find("unknown unit"), std::string::npos) << error;
}

TEST(Pacer, UnlimitedNeverWaitsAndALimitedOneSpendsItsBurstFirst) {
  Pacer unlimited;
  for (int i = 0; i < 100000; ++i) unlimited.wait(1500);
  EXPECT_EQ(unlimited.waited().count(), 0);
  // 1000 messages/s: a burst of 10 goes at once, the 11th waits for a token.
  Pacer paced({ExportRate::Unit::kMessages, 1000});
  for (int i = 0; i < 10; ++i) paced.wait(1500);
  EXPECT_EQ(paced.waited().count(), 0);
  paced.wait(1500);
  EXPECT_GT(paced.waited().count(), 0);
}

}  // namespace
}  // namespace tapflow::exporter
