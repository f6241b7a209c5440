// Questions from the control socket and the metrics endpoint to the running data path. Any
// number of threads may ask at once; each waits until its own question is answered. The
// coordinator takes them one by one between its other duties; once the run is over, every
// question (waiting or new) is answered at once with the final state.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>

namespace tapflow::probe::runtime {

template <class Answer>
class RequestQueue {
 public:
  struct Request {
    bool expire_all = false;
    std::size_t flow_limit = 0;
    Answer* out = nullptr;
    bool answered = false;
    bool ok = true;
  };

  // Any thread: blocks until answered (a question asked before the run starts waits for it).
  // False if the queue was closed without a final state (the run never happened).
  bool ask(bool expire_all, std::size_t flow_limit, Answer& out) {
    std::unique_lock lock(mutex_);
    if (closed_) {
      if (has_final_) out = final_;
      return has_final_;
    }
    Request r{expire_all, flow_limit, &out, false};
    pending_.push_back(&r);
    coordinator_.notify_one();
    answered_.wait(lock, [&r] { return r.answered; });
    return r.ok;
  }

  // Coordinator: the next question, waiting up to `timeout` for one; nullptr if none came (or
  // wake() was called).
  template <class Duration>
  Request* next(Duration timeout) {
    std::unique_lock lock(mutex_);
    if (pending_.empty() && !woken_) coordinator_.wait_for(lock, timeout);
    woken_ = false;
    if (pending_.empty()) return nullptr;
    Request* r = pending_.front();
    pending_.pop_front();
    return r;
  }

  // Coordinator: `r->out` is filled in.
  void answered(Request* r) {
    std::lock_guard lock(mutex_);
    r->answered = true;
    answered_.notify_all();
  }

  // Any thread: the coordinator stops waiting in next() now.
  void wake() {
    std::lock_guard lock(mutex_);
    woken_ = true;
    coordinator_.notify_one();
  }

  // Coordinator, at the end: every waiting and later question gets `final`.
  void close(const Answer& final) {
    std::lock_guard lock(mutex_);
    closed_ = true;
    has_final_ = true;
    final_ = final;
    for (Request* r : pending_) {
      *r->out = final_;
      r->answered = true;
    }
    pending_.clear();
    answered_.notify_all();
  }

  // When no run happened: every waiting and later question is refused.
  void refuse() {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
    for (Request* r : pending_) {
      r->ok = false;
      r->answered = true;
    }
    pending_.clear();
    answered_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable coordinator_;
  std::condition_variable answered_;
  std::deque<Request*> pending_;
  bool closed_ = false;
  bool woken_ = false;
  bool has_final_ = false;
  Answer final_{};
};

}  // namespace tapflow::probe::runtime
