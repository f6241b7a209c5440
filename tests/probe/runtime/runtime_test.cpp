// The runtime with a fake driver: the same records for every --threads value and for a source
// split over several queues; conservation of packets and octets; any number of control
// questions at once, each answered, also after the end; a stop in the middle of a file; the
// stamps the export thread sums; the doorbell.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "probe/pipeline.h"
#include "probe/runtime/channels.h"
#include "probe/runtime/export_thread.h"
#include "probe/runtime/worker.h"
#include "tests/support/fake_driver.h"

namespace tapflow::probe {
namespace {

using test::FakeDriver;
using test::FakeFrame;
using test::udp_frame;

constexpr std::uint64_t kSecond = 1'000'000'000ull;
constexpr std::uint64_t kStart = 1'700'000'000ull * kSecond;

// 5000 flows of 1-9 packets over 60 s from `start`, interleaved, each flow from its own source
// address.
std::vector<FakeFrame> traffic(std::uint32_t flows = 5000, std::uint64_t start = kStart) {
  // (live tests pass now(): flows expire on the wall clock there)
  std::vector<FakeFrame> out;
  for (std::uint32_t round = 0; round < 9; ++round) {
    for (std::uint32_t f = 0; f < flows; ++f) {
      if (round >= 1 + f % 9) continue;
      out.push_back({udp_frame(f, 0, static_cast<std::uint16_t>(10 + f % 50)),
                     start + (round * flows + f) * (60 * kSecond / (9 * flows))});
    }
  }
  return out;
}

RuntimeConfig config(unsigned threads, std::size_t cache = 1 << 16) {
  ProbeOptions o;
  o.threads = threads;
  o.cache_size = cache;
  o.progress = false;
  return make_runtime_config(o);
}

struct Outcome {
  int status = -1;
  ProbeStats stats;
  std::vector<std::string> rows;  // the printed table, sorted, without its header
};

// Runs the pipeline over `driver`, printing into memory.
Outcome run(const RuntimeConfig& c, drivers::Driver& driver, const std::atomic<bool>& stop = std::atomic<bool>{false}) {
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&buffer, &size);
  Outcome r;
  try {
    FlowPrinter printer(out);
    Pipeline pipeline(c, &printer);
    r.status = pipeline.run(driver, stop);
    r.stats = pipeline.stats();
  } catch (...) {
    std::fclose(out);
    std::free(buffer);
    throw;
  }
  std::fclose(out);
  std::istringstream lines(std::string(buffer, size));
  std::free(buffer);
  std::string line;
  std::getline(lines, line);  // header
  while (std::getline(lines, line)) r.rows.push_back(line);
  std::sort(r.rows.begin(), r.rows.end());
  return r;
}

TEST(Runtime, EveryThreadCountGivesTheSameRecordsAndConservesPackets) {
  const auto frames = traffic();
  Outcome one;
  for (unsigned threads : {1u, 2u, 3u, 5u}) {
    SCOPED_TRACE(threads);
    FakeDriver driver({frames}, false, false, 100);
    Outcome r = run(config(threads), driver);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.stats.packets_read, frames.size());
    EXPECT_EQ(r.stats.packets_decoded(), frames.size());
    EXPECT_EQ(r.stats.cache.packets, frames.size());
    EXPECT_EQ(r.stats.cache.octets, r.stats.octets_decoded);
    EXPECT_EQ(r.stats.cache.expired_total(), r.stats.cache.flows_created);
    EXPECT_EQ(r.stats.records_printed, r.stats.cache.flows_created);
    EXPECT_EQ(r.stats.shards, threads == 1 ? 1u : threads - 1);
    EXPECT_EQ(r.rows.size(), r.stats.records_printed);
    if (threads == 1) {
      one = r;
    } else {
      EXPECT_EQ(r.rows, one.rows);
    }
  }
  EXPECT_EQ(one.stats.cache.flows_created, 5000u);
}

TEST(Runtime, AFullCacheEvictsTheSameFlowsInOneShardAsBefore) {
  // 5000 concurrent flows into 1024 entries: lackOfResources, and conservation still holds.
  const auto frames = traffic();
  FakeDriver driver({frames}, false, false);
  Outcome r = run(config(1, 1024), driver);
  EXPECT_GT(r.stats.cache.expired[static_cast<int>(cache::FlowEndReason::kLackOfResources)], 0u);
  EXPECT_EQ(r.stats.cache.packets, frames.size());
  EXPECT_EQ(r.stats.records_printed, r.stats.cache.flows_created);
}

TEST(Runtime, AFlowHashedSourceGetsAWorkerPerQueue) {
  // Two queues, each flow in one of them (as RSS or fanout would split them).
  const auto frames = traffic();
  std::vector<std::vector<FakeFrame>> queues(2);
  for (const auto& f : frames) queues[f.bytes[29] % 2].push_back(f);  // by the source address
  FakeDriver split(queues, true, false, 64);
  Outcome r = run(config(7), split);  // --threads does not apply: one worker per queue
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.stats.shards, 2u);
  EXPECT_EQ(r.stats.cache.packets, frames.size());
  FakeDriver whole({frames}, false, false);
  auto want = run(config(1), whole).rows;
  // Each queue keeps its own clock, so a flow idle at the very end may end idle in one run and
  // forced in the other: compare all but the end reason (after the interface column, 7).
  for (auto* rows : {&r.rows, &want}) {
    for (auto& row : *rows) row = row.substr(0, row.rfind(" 7 ") + 2);
    std::sort(rows->begin(), rows->end());
  }
  std::vector<std::string> only_split, only_whole;
  std::set_difference(r.rows.begin(), r.rows.end(), want.begin(), want.end(), std::back_inserter(only_split));
  std::set_difference(want.begin(), want.end(), r.rows.begin(), r.rows.end(), std::back_inserter(only_whole));
  EXPECT_EQ(only_split, std::vector<std::string>{});
  EXPECT_EQ(only_whole, std::vector<std::string>{});
}

TEST(Runtime, ASourceNotSplitByAFlowHashMustBeOneQueue) {
  FakeDriver driver({traffic(10), traffic(10)}, false, false);
  EXPECT_THROW(run(config(2), driver), std::logic_error);
}

TEST(Runtime, ManyQuestionsAtOnceAreEachAnsweredAndSoAreLateOnes) {
  for (unsigned threads : {1u, 2u}) {
    SCOPED_TRACE(threads);
    FakeDriver driver({traffic(200)}, false, true);  // live: idle once the frames are read
    std::atomic<bool> stop{false};
    FlowPrinter printer(std::tmpfile());
    Pipeline pipeline(config(threads), &printer);
    Pipeline::Snapshot early;
    (void)early;
    std::thread data_path([&] { EXPECT_EQ(pipeline.run(driver, stop), 0); });
    // 40 questions from 40 threads at the same moment; every one returns.
    std::vector<std::future<std::pair<bool, Pipeline::Snapshot>>> answers;
    for (int i = 0; i < 40; ++i) {
      answers.push_back(std::async(std::launch::async, [&pipeline, i] {
        Pipeline::Snapshot s;
        const bool ok = pipeline.request(i % 7 == 0, 5, s);
        return std::pair{ok, s};
      }));
    }
    for (auto& a : answers) {
      ASSERT_EQ(a.wait_for(std::chrono::seconds(20)), std::future_status::ready);
      auto [ok, s] = a.get();
      EXPECT_TRUE(ok);
      EXPECT_LE(s.flows.size(), 5u);
    }
    stop = true;
    data_path.join();
    Pipeline::Snapshot late;
    EXPECT_TRUE(pipeline.request(false, 10, late));  // the final statistics
    EXPECT_EQ(late.stats.packets_read, pipeline.stats().packets_read);
    EXPECT_EQ(pipeline.stats().cache.expired_total(), pipeline.stats().cache.flows_created);
  }
}

std::uint64_t now() { return exporter::system_clock_ns(); }

TEST(Runtime, AQuestionSeesTheActiveFlowsAndExpireAllExportsThem) {
  // Live, packets of the last second: nothing is idle yet by the wall clock.
  auto frames = traffic(300, now() - kSecond);
  for (auto& f : frames) f.timestamp_ns = now() - kSecond;
  FakeDriver driver({frames}, false, true);
  std::atomic<bool> stop{false};
  FlowPrinter printer(std::tmpfile());
  Pipeline pipeline(config(2), &printer);
  std::thread data_path([&] { pipeline.run(driver, stop); });
  Pipeline::Snapshot s;
  // Wait until every frame is read.
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(pipeline.request(false, 1000, s));
    if (s.stats.packets_read == frames.size()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(s.stats.flows_active, 300u);
  EXPECT_EQ(s.flows.size(), 300u);
  ASSERT_TRUE(pipeline.request(true, 0, s));
  EXPECT_EQ(s.stats.flows_active, 0u);
  EXPECT_EQ(s.stats.records_printed, 300u);  // exported before the answer came
  stop = true;
  data_path.join();
}

TEST(Runtime, AStopInTheMiddleOfAFileExportsWhatWasReadAndSaysSo) {
  // A file source that never ends on its own would be a live one; here the stop comes at once,
  // so whatever was read (perhaps nothing) is exported, and the status says the input was cut.
  FakeDriver driver({traffic()}, false, false, 1);
  std::atomic<bool> stop{true};
  Outcome r = run(config(2), driver, stop);
  EXPECT_EQ(r.status, Pipeline::kExitInterrupted);
  EXPECT_TRUE(r.stats.interrupted);
  EXPECT_LT(r.stats.packets_read, traffic().size());
  EXPECT_EQ(r.stats.cache.packets, r.stats.packets_read);
  EXPECT_EQ(r.stats.records_printed, r.stats.cache.flows_created);
}

TEST(Runtime, LiveStopDrainsWhatTheQueueStillHolds) {
  FakeDriver driver({{}}, false, true, 16);
  std::atomic<bool> stop{false};
  FlowPrinter printer(std::tmpfile());
  Pipeline pipeline(config(1), &printer);
  std::thread data_path([&] { EXPECT_EQ(pipeline.run(driver, stop), 0); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  // Stamped a second ago and put in the ring at once: a slow run (sanitizers) must not see the wall
  // clock expire half-read flows, which would split them into more records.
  auto frames = traffic(100);
  for (auto& f : frames) f.timestamp_ns = now() - kSecond;
  driver.fake(0).add(frames);
  stop = true;  // the frames are "in the ring": still read, counted and exported
  data_path.join();
  EXPECT_EQ(pipeline.stats().packets_read, frames.size());
  EXPECT_EQ(pipeline.stats().records_printed, 100u);
}

// Records from several workers' channels, stamped by two sources; sync() sees what came before
// it; finish() waits for every channel's last batch.
TEST(ExportThread, RecordsFromEveryChannelAreExportedAndSyncSeesThem) {
  runtime::ExportConfig c;
  c.urls = {"file:/dev/null"};
  runtime::ExportThread exporter(c, nullptr);
  auto& a = exporter.add_channel();
  auto& b = exporter.add_channel();
  exporter.start();
  auto send = [](runtime::RecordChannel& ch, runtime::BatchStamp stamp, bool last) {
    runtime::RecordBatch* batch = nullptr;
    while ((batch = ch.acquire()) == nullptr) std::this_thread::yield();
    batch->count = 1;
    batch->records[0] = {};
    batch->records[0].key.ip_version = 4;
    batch->records[0].key.protocol = 17;
    batch->records[0].first_ns = batch->records[0].last_ns = stamp.clock_ns;
    batch->records[0].packets = 1;
    batch->stamp = stamp;
    batch->last = last;
    ch.submit(batch);
  };
  send(a, {.clock_ns = kStart, .first_packet_ns = kStart, .ignored_packets = 3, .ignored_octets = 30, .source = 0}, false);
  send(b, {.clock_ns = kStart + kSecond, .first_packet_ns = kStart, .ignored_packets = 5, .ignored_octets = 50, .source = 1}, true);
  auto s = exporter.sync();
  ASSERT_EQ(s.exporters.size(), 1u);
  EXPECT_EQ(s.exporters[0].counters.records, 2u);
  send(a, {.clock_ns = kStart + 2 * kSecond, .first_packet_ns = kStart, .ignored_packets = 4, .ignored_octets = 40, .source = 0}, true);
  exporter.finish();
  s = exporter.snapshot();
  EXPECT_EQ(s.exporters[0].counters.records, 3u);
  EXPECT_GE(s.exporters[0].counters.options_records, 1u);  // the final reliability statistics
}

// A live worker never waits for the export thread: once every record batch is in flight, what
// expires is dropped and counted; at the end of input it waits, so nothing more is dropped.
TEST(Worker, LiveDropsAndCountsWhatAFullRecordQueueCannotHoldButFinishWaits) {
  runtime::Doorbell bell;
  runtime::RecordChannel channel(&bell);
  cache::FlowTableConfig table{.capacity = 1 << 20, .inactive_timeout_ns = kSecond, .active_timeout_ns = 1800 * kSecond};
  runtime::Worker worker(table, channel, /*live=*/true);
  constexpr std::size_t kRecords = 64 * runtime::kRecordBatchSize + 1000;  // more than the queue holds
  std::vector<cache::PacketSummary> packets(runtime::kPacketBatchSize);
  std::size_t made = 0;
  while (made < kRecords) {
    const std::size_t n = std::min(packets.size(), kRecords - made);
    for (std::size_t i = 0; i < n; ++i) {
      auto& p = packets[i];
      p = {};
      p.key.ip_version = 4;
      p.key.protocol = 17;
      p.key.source_address = {10, static_cast<std::uint8_t>((made + i) >> 16), static_cast<std::uint8_t>((made + i) >> 8),
                              static_cast<std::uint8_t>(made + i)};
      p.octets = 100;
      p.timestamp_ns = kStart;
    }
    worker.account(std::span(packets).first(n), {.clock_ns = kStart});
    made += n;
  }
  // Every flow idle past its timeout: they all expire at once, and nobody drains the queue.
  worker.account({}, {.clock_ns = kStart + 10 * kSecond});
  worker.hand_over(true);
  EXPECT_EQ(channel.dropped(), kRecords - 64 * runtime::kRecordBatchSize);
  std::size_t delivered = 0;
  std::thread drain([&] {
    for (;;) {
      runtime::RecordBatch* b = channel.take();
      if (b == nullptr) {
        std::this_thread::yield();
        continue;
      }
      delivered += b->count;
      const bool last = b->last;
      channel.release(b);
      if (last) return;
    }
  });
  worker.finish({.clock_ns = kStart + 11 * kSecond});
  drain.join();
  EXPECT_EQ(delivered + channel.dropped(), kRecords);
}

// A channel holds the batches it was given (a file's record channel fewer than a live one's), and
// a packet batch has an extras array only in a run that decodes extras.
TEST(Channel, HoldsItsDepthOfBatchesAndPacketBatchesTheirExtrasOnlyWhenAsked) {
  runtime::Doorbell bell;
  runtime::RecordChannel records(&bell, runtime::kFileChannelDepth);
  EXPECT_EQ(records.depth(), runtime::kFileChannelDepth);
  std::vector<runtime::RecordBatch*> taken;
  while (runtime::RecordBatch* b = records.acquire()) taken.push_back(b);
  EXPECT_EQ(taken.size(), runtime::kFileChannelDepth);
  for (auto* b : taken) records.submit(b);
  std::size_t waiting = 0;
  while (runtime::RecordBatch* b = records.take()) {
    records.release(b);
    ++waiting;
  }
  EXPECT_EQ(waiting, runtime::kFileChannelDepth);
  EXPECT_EQ(runtime::RecordChannel(&bell).depth(), runtime::kRecordChannelDepth);

  runtime::PacketChannel plain(&bell, runtime::kPacketChannelDepth, false);
  runtime::PacketBatch* p = plain.acquire();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->extras, nullptr);
  EXPECT_TRUE(p->extras_span().empty());
  runtime::PacketChannel with(&bell, 2, true);
  EXPECT_EQ(with.depth(), 2u);
  runtime::PacketBatch* x = with.acquire();
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->extras_span(3).size(), 3u);
}

TEST(Doorbell, ARingWakesASleeperAndATimeoutEndsTheWait) {
  runtime::Doorbell bell;
  const auto before = std::chrono::steady_clock::now();
  bell.wait(bell.seen(), 30);
  EXPECT_GE(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(25));
  const std::uint32_t seen = bell.seen();
  std::thread ringer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    bell.ring();
  });
  bell.wait(seen, -1);  // would hang without the ring
  EXPECT_NE(bell.seen(), seen);
  ringer.join();
  bell.wait(seen, -1);  // already rung since `seen`: returns at once
}

}  // namespace
}  // namespace tapflow::probe
