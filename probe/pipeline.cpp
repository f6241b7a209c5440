#include "probe/pipeline.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "probe/runtime/export_thread.h"
#include "probe/runtime/request_queue.h"
#include "probe/runtime/stage.h"

namespace tapflow::probe {

using runtime::StageQuery;

class Pipeline::Impl {
 public:
  Impl(const RuntimeConfig& config, FlowPrinter* printer, ProbeStats& stats)
      : config_(config), stats_(stats), export_(config.export_config, printer) {}

  ~Impl() {
    requests_.refuse();  // no run, or it failed: nobody waits for ever
    stages_.clear();
    export_.finish();
  }

  int run(drivers::Driver& driver, const std::atomic<bool>& stop) {
    started_ = std::chrono::steady_clock::now();
    build_stages(driver);
    export_.start();
    for (std::size_t i = 0; i < stages_.size(); ++i) stages_[i]->start(static_cast<unsigned>(i));
    bool stop_sent = false;
    std::chrono::steady_clock::time_point stop_at;
    for (;;) {
      if (!stop_sent && stop.load(std::memory_order_relaxed)) {
        stop_sent = true;
        stop_at = std::chrono::steady_clock::now();
        for (auto& s : stages_) s->stop();
        export_.stopping(capacity_);
      }
      // A stage blocked in a read from a pipe with no writer (or in opening a FIFO) would never
      // see the stop: its system call is interrupted, every 200 ms until it ends.
      if (stop_sent && std::chrono::steady_clock::now() - stop_at >= std::chrono::milliseconds(200)) {
        stop_at = std::chrono::steady_clock::now();
        for (auto& s : stages_) s->interrupt();
      }
      if (std::all_of(stages_.begin(), stages_.end(), [](const auto& s) { return s->ended(); })) break;
      // Woken by a question, a stage's end, or every 50 ms for the stop flag (set by a signal
      // handler, which can only store to it).
      if (auto* r = requests_.next(std::chrono::milliseconds(50))) serve(*r);
    }
    for (auto& s : stages_) s->quit();
    export_.finish();
    std::vector<StageQuery> finals(stages_.size());
    for (std::size_t i = 0; i < stages_.size(); ++i) stages_[i]->final_counters(finals[i]);
    assemble(finals, export_.snapshot(), stats_);
    for (const auto& s : stages_) stats_.interrupted = stats_.interrupted || s->interrupted();
    requests_.close(Snapshot{stats_, {}});
    bool failed = false, interrupted = false;
    for (const auto& s : stages_) {
      failed = failed || s->failed();
      interrupted = interrupted || s->interrupted();
    }
    if (interrupted) return kExitInterrupted;
    return failed ? kExitInputFailed : kExitOk;
  }

  bool request(bool expire_all, std::size_t flow_limit, Snapshot& out) {
    return requests_.ask(expire_all, flow_limit, out);
  }

  void watch_reopen(std::atomic<bool>* flag) { export_.watch_reopen(flag); }

 private:
  void build_stages(drivers::Driver& driver) {
    if (!driver.flow_hashed() && driver.queue_count() != 1) {
      throw std::logic_error("a driver whose queues are not split by a flow hash must have one queue");
    }
    const bool dispatched = !driver.flow_hashed() && config_.threads > 1;
    shards_ = dispatched ? config_.threads - 1 : driver.queue_count();
    runtime::StageConfig stage{.table = config_.table,
                               .sampling = config_.sampling,
                               .decode = config_.decode,
                               .seed = config_.table.hash_seed,
                               .source = 0,
                               .live = driver.live(),
                               .progress = config_.progress};
    stage.table.capacity = std::max<std::size_t>(1, config_.cache_size / shards_);
    capacity_ = stage.table.capacity * shards_;
    auto on_ended = [this] { requests_.wake(); };
    if (dispatched) {
      std::vector<runtime::RecordChannel*> channels;
      for (std::size_t s = 0; s < shards_; ++s) channels.push_back(&export_.add_channel());
      stages_.push_back(std::make_unique<runtime::DispatcherStage>(driver.queue(0), stage, channels, on_ended));
      return;
    }
    for (std::size_t q = 0; q < driver.queue_count(); ++q) {
      stage.source = static_cast<std::uint32_t>(q);
      // Each queue samples on its own, as a router samples each interface.
      stage.seed = config_.table.hash_seed + q;
      stages_.push_back(
          std::make_unique<runtime::QueueStage>(driver.queue(q), stage, export_.add_channel(), on_ended));
    }
  }

  // One question: every stage answers on its own thread, then the export thread exports what
  // that produced and reports its counters.
  void serve(runtime::RequestQueue<Snapshot>::Request& r) {
    std::vector<StageQuery> queries(stages_.size());
    for (std::size_t i = 0; i < stages_.size(); ++i) {
      queries[i].expire_all = r.expire_all;
      queries[i].flow_limit = r.flow_limit;
      stages_[i]->ask(queries[i]);
    }
    for (auto& q : queries) {
      while (!q.done.load(std::memory_order_acquire)) q.done.wait(false, std::memory_order_acquire);
    }
    const runtime::ExportSnapshot exported = export_.sync();
    Snapshot& out = *r.out;
    assemble(queries, exported, out.stats);
    out.flows.clear();
    for (auto& q : queries) out.flows.insert(out.flows.end(), q.flows.begin(), q.flows.end());
    std::sort(out.flows.begin(), out.flows.end(), [](const auto& a, const auto& b) { return a.last_ns > b.last_ns; });
    if (out.flows.size() > r.flow_limit) out.flows.resize(r.flow_limit);
    requests_.answered(&r);
  }

  void assemble(const std::vector<StageQuery>& stages, const runtime::ExportSnapshot& exported, ProbeStats& s) const {
    s = {};
    runtime::DecodeCounters decode;
    for (const auto& q : stages) {
      decode.add(q.decode);
      s.files_read += q.queue.inputs_read;
      s.file_errors += q.queue.input_errors;
      s.capture.insert(s.capture.end(), q.queue.capture.begin(), q.queue.capture.end());
      for (const auto& t : q.tables) {
        s.cache.packets += t.packets;
        s.cache.octets += t.octets;
        s.cache.flows_created += t.flows_created;
        for (std::size_t e = 0; e < std::size(t.expired); ++e) s.cache.expired[e] += t.expired[e];
      }
      s.flows_active += q.active;
    }
    s.packets_read = decode.packets_read;
    s.bytes_read = decode.bytes_read;
    s.verdicts = decode.verdicts;
    s.octets_decoded = decode.octets_decoded;
    s.octets_rejected = decode.octets_rejected;
    s.packets_sampled_out = decode.packets_sampled_out;
    s.octets_sampled_out = decode.octets_sampled_out;
    s.sampling = config_.sampling;
    s.scale_sampled = config_.scale_sampled;
    s.cache_capacity = capacity_;
    s.shards = shards_;
    s.records_printed = exported.records_printed;
    s.records_not_printed = exported.records_not_printed;
    s.records_dropped = exported.records_dropped;
    s.exporters = exported.exporters;
    s.profile = decode.profile;
    s.profile.protocols = exported.flows.protocols;
    s.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  }

  const RuntimeConfig config_;
  ProbeStats& stats_;
  runtime::ExportThread export_;
  runtime::RequestQueue<Snapshot> requests_;
  std::vector<std::unique_ptr<runtime::Stage>> stages_;
  std::size_t shards_ = 1;
  std::size_t capacity_ = 0;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

Pipeline::Pipeline(const RuntimeConfig& config, FlowPrinter* printer)
    : record_fields_(config.export_config.options.template_spec()),
      impl_(std::make_unique<Impl>(config, printer, stats_)) {}

Pipeline::~Pipeline() = default;

void Pipeline::watch_reopen(std::atomic<bool>* flag) { impl_->watch_reopen(flag); }

int Pipeline::run(drivers::Driver& driver, const std::atomic<bool>& stop) { return impl_->run(driver, stop); }

bool Pipeline::request(bool expire_all, std::size_t flow_limit, Snapshot& out) {
  return impl_->request(expire_all, flow_limit, out);
}

}  // namespace tapflow::probe
