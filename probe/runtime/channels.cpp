#include "probe/runtime/channels.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace tapflow::probe::runtime {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t), "the futex word is the atomic itself");

void Doorbell::ring() {
  rings_.fetch_add(1, std::memory_order_seq_cst);
  // seq_cst on both sides (here and in wait) orders the add before this load, and a sleeper's
  // registration before its futex check: either the sleeper sees the new count or we see it.
  if (sleepers_.load(std::memory_order_seq_cst) != 0) {
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&rings_), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
  }
}

void Doorbell::wait(std::uint32_t seen, int timeout_ms) {
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  if (rings_.load(std::memory_order_seq_cst) == seen) {
    timespec timeout{timeout_ms / 1000, static_cast<long>(timeout_ms % 1000) * 1'000'000L};
    // std::atomic::wait has no timeout; the futex is what it uses underneath.
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&rings_), FUTEX_WAIT_PRIVATE, seen,
            timeout_ms < 0 ? nullptr : &timeout, nullptr, 0);
  }
  sleepers_.fetch_sub(1, std::memory_order_seq_cst);
}

void Backoff::wait() {
  if (spins_ < 64) {
    ++spins_;
    std::this_thread::yield();
    return;
  }
  std::this_thread::sleep_for(std::chrono::microseconds(spins_ < 200 ? 50 : 1000));
  ++spins_;
}

}  // namespace tapflow::probe::runtime
