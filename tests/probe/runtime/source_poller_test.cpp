#include "probe/runtime/source_poller.h"

#include <gtest/gtest.h>

namespace tapflow::probe::runtime {
namespace {

TEST(ProgressBar, OneFileShowsRateAndTimeLeft) {
  drivers::Progress p{"gen.pcap", 250, 1000, 1, 1};
  // A quarter read in 10 s: 30 s to go, 2 million packets in 10 s = 0.20 Mpps.
  EXPECT_EQ(format_progress(p, 2'000'000, 10.0, 10.0),
            "gen.pcap [=======                       ]  25%  2000000 packets  0.20 Mpps  0:30 left");
}

TEST(ProgressBar, SeveralFilesShowTheIndexAndSayWhoseTimeIsLeft) {
  drivers::Progress p{"b.pcap", 500, 1000, 2, 5};
  EXPECT_EQ(format_progress(p, 1'000'000, 20.0, 4000.0),
            "b.pcap (file 2/5) [===============               ]  50%  1000000 packets  0.05 Mpps  "
            "1:06:40 left in this file");
}

TEST(ProgressBar, NoTimeLeftBeforeAnythingIsRead) {
  drivers::Progress p{"-", 0, 0, 1, 1};  // a pipe: no size
  EXPECT_EQ(format_progress(p, 0, 0.0, 0.0), "- [                              ]   0%  0 packets");
}

}  // namespace
}  // namespace tapflow::probe::runtime
