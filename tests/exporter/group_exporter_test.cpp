// Export groups: failover moves to the next collector when a send fails, templates first, and
// counts what the failed one lost; balance shares the records in turn, each member with its own
// sequence numbers and templates, their counters adding up.
#include "exporter/group_exporter.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "exporter/decoded_record.h"
#include "exporter/message_decoder.h"
#include "exporter/message_exporter.h"

namespace tapflow::exporter {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000;

cache::FlowRecord record(std::uint32_t n) {
  cache::FlowRecord r;
  r.key.ip_version = 4;
  r.key.source_address = {10, 0, static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
  r.key.destination_address = {192, 0, 2, 1};
  r.key.protocol = 17;
  r.packets = 1;
  r.octets = 100;
  r.first_ns = r.last_ns = 1'700'000'000 * kSecond;
  return r;
}

class Collector final : public Transport {
 public:
  struct State {
    std::vector<std::vector<std::uint8_t>> messages;  // delivered
    bool down = false;
  };
  explicit Collector(State& s) : s_(s) {}
  SendResult send(std::span<const std::uint8_t> m) override {
    if (s_.down) return SendResult::kFailed;
    s_.messages.emplace_back(m.begin(), m.end());
    return SendResult::kSent;
  }
  void flush() override {}
  std::size_t max_message_size(std::size_t mtu) const override { return mtu - 28; }
  bool periodic_templates() const override { return true; }
  const std::string& description() const override { return name_; }

 private:
  State& s_;
  std::string name_ = "c";
};

struct Group {
  std::vector<Collector::State> collectors;
  std::unique_ptr<GroupExporter> group;
  Group(GroupExporter::Mode mode, std::size_t n) : collectors(n) {
    std::vector<std::unique_ptr<FlowExporter>> members;
    ExportOptions options;
    options.template_refresh_packets = 0;  // templates only when due by time or forced
    for (std::size_t i = 0; i < n; ++i) {
      members.push_back(std::make_unique<IpfixExporter>(std::make_unique<Collector>(collectors[i]), options,
                                                        [] { return 1'700'000'000 * kSecond; },
                                                        "udp://c" + std::to_string(i)));
    }
    group = std::make_unique<GroupExporter>(mode, std::move(members), "group");
  }
  // Records each collector stored, decoded; every message must be understood (templates first).
  std::vector<std::size_t> stored() {
    std::vector<std::size_t> out;
    for (auto& c : collectors) {
      MessageDecoder decoder;
      std::vector<DecodedRecord> records;
      for (const auto& m : c.messages) {
        const auto s = decoder.decode(m, "c", records);
        EXPECT_FALSE(s.malformed) << s.reason;
        EXPECT_EQ(s.sets_without_template, 0u);
      }
      out.push_back(records.size());
    }
    return out;
  }
};

std::vector<cache::FlowRecord> records(std::uint32_t from, std::uint32_t count) {
  std::vector<cache::FlowRecord> out;
  for (std::uint32_t i = 0; i < count; ++i) out.push_back(record(from + i));
  return out;
}

TEST(GroupExporter, FailoverMovesOnWithTemplatesFirstAndCountsWhatWasLost) {
  Group g(GroupExporter::Mode::kFailover, 2);
  g.group->export_records(records(0, 100));
  g.group->flush();
  EXPECT_EQ(g.stored(), (std::vector<std::size_t>{100, 0}));
  g.collectors[0].down = true;  // the first collector goes away
  g.group->export_records(records(100, 1000));
  g.group->flush();
  EXPECT_EQ(g.group->active(), 1u);
  g.collectors[0].down = false;
  g.collectors[1].down = true;  // then the second: back to the first, templates first again
  g.group->export_records(records(1100, 1000));
  g.group->flush();
  EXPECT_EQ(g.group->active(), 0u);
  g.group->close();
  const auto stored = g.stored();
  const auto& c = g.group->counters();
  EXPECT_EQ(c.records, 2100u);
  EXPECT_GT(c.records_unsent, 0u);
  // Nothing lost beyond what is counted.
  EXPECT_EQ(stored[0] + stored[1] + c.records_unsent, 2100u);
  std::vector<TransportEvent> events;
  g.group->take_events(events);
  ASSERT_GE(events.size(), 2u);
  EXPECT_NE(events[0].message.find("udp://c0 failed, udp://c1 takes over"), std::string::npos) << events[0].message;
}

TEST(GroupExporter, BalanceSharesTheRecordsInTurnAndTheCountersAddUp) {
  Group g(GroupExporter::Mode::kBalance, 3);
  g.group->export_records(records(0, 3000));
  g.group->close();
  EXPECT_EQ(g.stored(), (std::vector<std::size_t>{1000, 1000, 1000}));
  EXPECT_EQ(g.group->counters().records, 3000u);
  EXPECT_EQ(g.group->counters().records_unsent, 0u);
}

TEST(GroupExporter, AGroupIsMadeOfCollectors) {
  ExportOptions options;
  EXPECT_THROW(make_exporter("failover:udp://127.0.0.1:2055", options), std::runtime_error);
  EXPECT_THROW(make_exporter("balance:udp://127.0.0.1:2055,file:/tmp/x", options), std::runtime_error);
  EXPECT_THROW(make_exporter("balance:failover:udp://127.0.0.1:1,udp://127.0.0.1:2", options), std::runtime_error);
  EXPECT_NO_THROW(make_exporter("failover:udp://127.0.0.1:2055,udp://127.0.0.1:2056", options));
}

}  // namespace
}  // namespace tapflow::exporter
