#include "probe/toml_config.h"

#include <gtest/gtest.h>

#include <sstream>

#include "probe/cli.h"

namespace tapflow::probe {
namespace {

// The probe's own command line with the TOML reader, as main() sets it up.
struct Probe {
  CLI::App app;
  ProbeOptions options;
  std::shared_ptr<TomlConfig> config;
  Probe() {
    add_probe_options(app, options);
    app.allow_config_extras(CLI::config_extras_mode::error);
    config = std::make_shared<TomlConfig>(app);
    app.config_formatter(config);
  }
  // The message of the error `text` gives, or "" when it is accepted.
  std::string parse(const std::string& text) {
    std::istringstream in(text);
    try {
      app.parse_from_stream(in);
    } catch (const CLI::ParseError& e) {
      return config->locate(e.what());
    }
    return "";
  }
};

TEST(TomlConfig, FeedsEveryKindOfOption) {
  Probe p;
  EXPECT_EQ(p.parse("# a comment\n"
                    "interface = [\"eth1\", \"eth2\"]\n"
                    "export = [\"udp://192.0.2.1:2055\", \"file:/tmp/x\"]\n"
                    "inactive-timeout = \"1m\"\n"
                    "active-timeout = 600\n"
                    "no-promisc = true\n"
                    "sample = \"random:10\"\n"
                    "version-export = 9\n"),
            "");
  EXPECT_EQ(p.options.interfaces, (std::vector<std::string>{"eth1", "eth2"}));
  EXPECT_EQ(p.options.export_urls, (std::vector<std::string>{"udp://192.0.2.1:2055", "file:/tmp/x"}));
  EXPECT_EQ(p.options.inactive_timeout_s, 60u);
  EXPECT_EQ(p.options.active_timeout_s, 600u);
  EXPECT_FALSE(p.options.promiscuous);
  EXPECT_EQ(p.options.sampling.interval, 10u);
  EXPECT_EQ(p.options.version, 9);
}

TEST(TomlConfig, ErrorsSayWhereAndWhat) {
  const std::pair<const char*, const char*> cases[] = {
      {"active-timeout = 600\n\ninactive-timout = 5\n",
       "config:3:1: unknown option 'inactive-timout' (did you mean 'inactive-timeout'?)"},
      {"frobnicate = 1\n", "config:1:1: unknown option 'frobnicate'"},
      {"mtu = \n", "config:1:7: Error while parsing key-value pair: expected value, saw '\\n'"},
      {"no-progress = 3\n", "config:1:15: 'no-progress' is a switch: expected true or false"},
      {"snaplen = true\n", "config:1:11: 'snaplen' takes a value, not true or false"},
      {"mtu = [1500, 1400]\n", "config:1:1: 'mtu' takes one value, not an array"},
      {"[probe]\nmtu = 1500\n", "config:1:2: '[probe]': tapflow's options have no sections; put them at the top level"},
      {"interface = [[\"eth0\"]]\n", "config:1:14: 'interface' is an array; expected a string, number or boolean"},
      {"read = 1979-05-27\n", "config:1:8: 'read' is a date; expected a string, number or boolean"},
      {"\n mtu = 100\n", "config:2:2: --mtu: Value 100 not in range 576 to 65535"},
      {"inactive-timeout = \"1x\"\n",
       "config:1:1: --inactive-timeout: '1x': expected seconds or a duration like 90s, 15m, 1h30m"},
  };
  for (const auto& [text, expected] : cases) {
    Probe p;
    EXPECT_EQ(p.parse(text), expected) << text;
  }
}

TEST(TomlConfig, SuggestsTheNearestName) {
  const std::vector<std::string> known{"inactive-timeout", "active-timeout", "interface", "export"};
  EXPECT_EQ(nearest_name("inactive-timout", known), "inactive-timeout");
  EXPECT_EQ(nearest_name("interfaces", known), "interface");
  EXPECT_EQ(nearest_name("exprt", known), "export");
  EXPECT_EQ(nearest_name("inact", known), "inactive-timeout");  // a prefix
  EXPECT_EQ(nearest_name("zzz", known), "");
}

}  // namespace
}  // namespace tapflow::probe
