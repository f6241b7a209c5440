// The counter registry: JSON and Prometheus come from the same rows, so every counter is in both
// (bar the few JSON-only sums, flags and words), each metric has one HELP and TYPE, and the names
// scrapers already use stay.
#include "probe/counters.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace tapflow::probe {
namespace {

ProbeStats sample_stats() {
  ProbeStats s;
  s.packets_read = 10;
  s.verdicts[0] = 7;
  s.verdicts[static_cast<std::size_t>(DecodeVerdict::kNotIp)] = 3;
  s.cache.expired[static_cast<int>(cache::FlowEndReason::kIdleTimeout)] = 4;
  s.exporters.push_back({"udp://\"odd\"\\name:1", {}});
  s.exporters[0].counters.records_unsent = 5;
  s.capture.push_back({.name = "eth1", .received = 100, .dropped_kernel = 2, .dropped_interface = 1, .state = "down"});
  return s;
}

TEST(Counters, EveryMetricHasOneHelpAndTypeAndTheKnownNamesStay) {
  const std::string text = format_prometheus(sample_stats());
  std::set<std::string> metrics;
  visit_counters(sample_stats(), [&](const CounterSample& s) {
    if (!s.metric.empty()) metrics.insert(std::string(s.metric));
  });
  for (const auto& m : metrics) {
    const std::string help = "# HELP tapflow_" + m + " ";
    EXPECT_NE(text.find(help), std::string::npos) << m;
    EXPECT_EQ(text.find(help), text.rfind(help)) << m << " described twice";
  }
  for (const char* line : {"tapflow_packets_read_total 10\n", "tapflow_packets_decoded_total 7\n",
                           "tapflow_packets_rejected_total{reason=\"not_ip\"} 3\n",
                           "tapflow_flows_expired_total{reason=\"idle_timeout\"} 4\n",
                           "tapflow_capture_dropped_total{interface=\"eth1\",where=\"kernel\"} 2\n",
                           "tapflow_capture_interface_up{interface=\"eth1\"} 0\n",
                           // was in --stats-json only: a loss a scraper could not see
                           "tapflow_export_records_unsent_total{destination=\"udp://\\\"odd\\\"\\\\name:1\"} 5\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << " in\n" << text;
  }
}

TEST(Counters, EveryNumberInTheJsonHasAMetricBarTheSums) {
  // JSON-only rows are sums of labelled metrics (packets.rejected, flows.expired) or not numbers.
  const std::set<std::string> json_only = {"packets.rejected", "flows.expired", "sampling.mode", "sampling.scaled",
                                           "interrupted", "state"};
  visit_counters(sample_stats(), [&](const CounterSample& s) {
    if (s.metric.empty()) {
      EXPECT_TRUE(json_only.count(std::string(s.json))) << s.json << " has no metric";
    }
  });
  const auto j = to_json(sample_stats());
  EXPECT_EQ(j["packets"]["rejected_by_reason"]["not_ip"], 3);
  EXPECT_EQ(j["exporters"][0]["records_unsent"], 5);
  EXPECT_EQ(j["capture"][0]["state"], "down");
  EXPECT_EQ(j["flows"]["expired"], 4);
}

}  // namespace
}  // namespace tapflow::probe
