// The probe's command line: softflowd's letters that map onto tapflow options, and the answers
// for those that do not (issue 16).
#include "probe/cli.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tapflow::probe {
namespace {

// The error CLI11 raises for `args`, or "" when they parse.
std::string parse(std::vector<std::string> args, ProbeOptions& options) {
  CLI::App app;
  add_probe_options(app, options);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
  return "";
}

TEST(Cli, SoftflowdLettersThatMapAreAccepted) {
  ProbeOptions o;
  ASSERT_EQ(parse({"-i", "eth1", "-d", "-N", "-C", "128", "-m", "5000", "-p", "/run/x.pid", "-c", "/run/x.ctl",
                   "-t", "maxlife=1h", "-t", "general=30", "-n", "192.0.2.1:2055", "-v", "9", "-s", "10"},
                  o),
            "");
  EXPECT_FALSE(o.promiscuous);
  EXPECT_EQ(o.snaplen, 128);
  EXPECT_EQ(o.cache_size, 5000u);
  EXPECT_EQ(o.pidfile, "/run/x.pid");
  EXPECT_EQ(o.control_path, "/run/x.ctl");
  EXPECT_EQ(o.active_timeout_s, 3600u);
  EXPECT_EQ(o.inactive_timeout_s, 30u);
  EXPECT_EQ(o.version, 9);
  EXPECT_EQ(o.sampling.interval, 10u);
}

TEST(Cli, SoftflowdLettersThatDoNotMapGiveTapflowsSpelling) {
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"-T", "full"}, "tapflow has no -T; flows are tracked by the full 5-tuple plus ToS and interface"},
      {{"-D"}, "tapflow has no -D; it always runs in the foreground: use --log-level debug for more detail"},
      {{"-6"}, "tapflow has no -6; IPv6 flows are always tracked (NetFlow v5 cannot carry them: use -v 9 or -v 10)"},
      {{"-P", "tcp"}, "tapflow has no -P; the transport is in the export URL: -n udp://HOST:PORT, tcp://HOST:PORT or "
                      "sctp://HOST:PORT"},
      {{"-B", "1000000"}, "tapflow has no -B; the capture buffer is --buffer-size MIB (mebibytes, not bytes)"},
      {{"-t", "tcp=300"}, "-t tcp=300: tapflow has one inactive timeout for every protocol (--inactive-timeout, or "
                          "-t general=TIME) and an active timeout (--active-timeout, or -t maxlife=TIME)"},
      {{"-t", "maxlife=soon"}, "-t maxlife=soon: expected seconds or a duration like 90s, 15m, 1h30m, 1s to 7d"},
  };
  for (const auto& [args, expected] : cases) {
    ProbeOptions o;
    std::vector<std::string> argv{"-r", "x.pcap"};
    argv.insert(argv.end(), args.begin(), args.end());
    EXPECT_EQ(parse(argv, o), expected) << args[0];
  }
}

// tapflow's own short options keep their meaning next to softflowd's.
TEST(Cli, TapflowsOwnShortOptionsStand) {
  ProbeOptions o;
  ASSERT_EQ(parse({"-r", "a.pcap", "-r", "b.pcap", "-n", "h:1", "-n", "h:2", "-v", "5", "-s", "random:4"}, o), "");
  EXPECT_EQ(o.read_files, (std::vector<std::string>{"a.pcap", "b.pcap"}));
  EXPECT_EQ(o.export_urls, (std::vector<std::string>{"h:1", "h:2"}));
  EXPECT_EQ(o.version, 5);
  EXPECT_EQ(o.sampling.mode, cache::SamplingMode::kRandom);
}

}  // namespace
}  // namespace tapflow::probe
