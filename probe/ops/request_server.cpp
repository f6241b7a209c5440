#include "probe/ops/request_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <vector>

namespace tapflow::probe {

namespace {

using Clock = std::chrono::steady_clock;

// After the answer, the server shuts its side and reads what the client still sends, at most this
// long, before closing: closing with unread input resets a TCP connection, and the reset can
// discard the answer before the client has read it (the "lingering close" of HTTP servers).
constexpr std::chrono::milliseconds kLingerTime{1000};
// A client still sending its request may be replaced by a newcomer only after this long: clients
// that connect together (concurrent scrapes) are each read before any is replaced.
constexpr std::chrono::milliseconds kReplaceAfter{250};

struct Client {
  enum class Phase { kReading, kWriting, kLingering };
  int fd;
  Phase phase = Phase::kReading;
  std::string received;
  std::string answer;
  std::size_t sent = 0;
  Clock::time_point deadline;
  Clock::time_point accepted;
};

}  // namespace

RequestServer::RequestServer(int listen_fd, RequestProtocol protocol, RequestLimits limits)
    : listen_fd_(listen_fd), protocol_(std::move(protocol)), limits_(limits) {
  fcntl(listen_fd_, F_SETFL, fcntl(listen_fd_, F_GETFL) | O_NONBLOCK);
  if (pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
    close(listen_fd_);
    throw std::runtime_error("request server: pipe failed");
  }
  thread_ = std::thread([this] { run(); });
}

RequestServer::~RequestServer() {
  const char c = 'x';
  [[maybe_unused]] const auto n = write(wake_pipe_[1], &c, 1);
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  for (int fd : wake_pipe_) close(fd);
}

RequestCounters RequestServer::counters() const {
  return {answered_.load(), timed_out_.load(), too_large_.load(), replaced_.load()};
}

void RequestServer::run() {
  std::vector<Client> clients;
  std::vector<pollfd> fds;
  std::vector<char> chunk(4096);
  auto start_answer = [&](Client& c, std::string answer) {
    c.answer = std::move(answer);
    c.sent = 0;
    c.phase = Client::Phase::kWriting;
    c.deadline = Clock::now() + limits_.write_timeout;
  };
  auto linger = [&](Client& c) {
    shutdown(c.fd, SHUT_WR);
    c.answer.clear();
    c.answer.shrink_to_fit();
    c.received.clear();
    c.received.shrink_to_fit();
    c.phase = Client::Phase::kLingering;
    c.deadline = std::min(c.deadline, Clock::now() + kLingerTime);
  };
  // A newcomer when every slot is taken replaces a client whose answer is sent (lingering), else
  // the one that has been sending its request the longest (slow or silent), once past
  // kReplaceAfter; clients being answered keep their slot until their write deadline.
  auto replaceable = [&](Clock::time_point now) {
    auto chosen = clients.end();
    for (auto it = clients.begin(); it != clients.end(); ++it) {
      if (it->phase == Client::Phase::kWriting) continue;
      if (it->phase == Client::Phase::kReading && now - it->accepted < kReplaceAfter) continue;
      if (chosen == clients.end() ||
          (it->phase == Client::Phase::kLingering) > (chosen->phase == Client::Phase::kLingering) ||
          ((it->phase == Client::Phase::kLingering) ==
               (chosen->phase == Client::Phase::kLingering) &&
           it->accepted < chosen->accepted)) {
        chosen = it;
      }
    }
    return chosen;
  };
  for (;;) {
    const bool full = clients.size() >= limits_.max_clients;
    const bool can_accept = !full || replaceable(Clock::now()) != clients.end();
    fds.clear();
    fds.push_back({wake_pipe_[0], POLLIN, 0});
    fds.push_back({can_accept ? listen_fd_ : -1, POLLIN, 0});
    auto next_deadline = Clock::time_point::max();
    for (const auto& c : clients) {
      fds.push_back(
          {c.fd, static_cast<short>(c.phase == Client::Phase::kWriting ? POLLOUT : POLLIN), 0});
      next_deadline = std::min(next_deadline, c.deadline);
      // Full: wake up when a client that is still sending becomes replaceable.
      if (full && c.phase == Client::Phase::kReading)
        next_deadline = std::min(next_deadline, c.accepted + kReplaceAfter);
    }
    int timeout_ms = -1;
    if (next_deadline != Clock::time_point::max()) {
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next_deadline - Clock::now());
      timeout_ms =
          static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(wait.count(), 0, 60'000));
    }
    if (poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) return;
    if (fds[0].revents != 0) break;
    const auto now = Clock::now();

    for (std::size_t i = 0; i < clients.size(); ++i) {
      Client& c = clients[i];
      const short revents = fds[i + 2].revents;
      if (revents == 0) continue;
      if (c.phase == Client::Phase::kWriting) {
        const ssize_t n = send(c.fd, c.answer.data() + c.sent, c.answer.size() - c.sent,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) c.sent += static_cast<std::size_t>(n);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          c.deadline = now;  // the client went away: close below
          c.phase = Client::Phase::kLingering;
        } else if (c.sent == c.answer.size()) {
          ++answered_;
          linger(c);
        }
        continue;
      }
      // Reading (a request, or what a client sends after its answer while lingering).
      const ssize_t n = recv(c.fd, chunk.data(), chunk.size(), MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
      if (c.phase == Client::Phase::kLingering) {
        if (n <= 0) c.deadline = now;
        continue;
      }
      if (n <= 0) {
        if (n == 0 && protocol_.answer_at_end && !c.received.empty()) {
          start_answer(c, protocol_.answer(c.received, c.fd));
        } else {
          c.deadline = now;
          c.phase = Client::Phase::kLingering;
        }
        continue;
      }
      c.received.append(chunk.data(), static_cast<std::size_t>(n));
      const std::size_t length = protocol_.request_length(c.received);
      if (length != 0 && length <= limits_.max_request_bytes) {
        start_answer(c, protocol_.answer(std::string_view(c.received).substr(0, length), c.fd));
      } else if (c.received.size() > limits_.max_request_bytes ||
                 length > limits_.max_request_bytes) {
        ++too_large_;
        start_answer(c, protocol_.too_large);
      }
    }

    // Deadlines: a request not received in time is answered with timed_out; an answer not taken
    // in time, or a lingering close that is over, ends the connection.
    for (auto& c : clients) {
      if (now < c.deadline) continue;
      if (c.phase == Client::Phase::kReading) {
        ++timed_out_;
        start_answer(c, protocol_.timed_out);
        c.deadline = now + std::min<std::chrono::milliseconds>(limits_.write_timeout, kLingerTime);
      } else if (c.phase == Client::Phase::kWriting) {
        ++timed_out_;
        c.phase = Client::Phase::kLingering;  // closed just below
      }
    }
    std::erase_if(clients, [now](const Client& c) {
      if (c.phase != Client::Phase::kLingering || now < c.deadline) return false;
      close(c.fd);
      return true;
    });

    if (fds[1].revents & POLLIN) {
      for (;;) {
        // Only as many as there are slots, or clients to replace; the rest wait in the backlog.
        auto victim = clients.end();
        if (clients.size() >= limits_.max_clients) {
          victim = replaceable(Clock::now());
          if (victim == clients.end()) break;
        }
        const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) break;
        if (victim != clients.end()) {
          if (victim->phase == Client::Phase::kReading) ++replaced_;
          close(victim->fd);
          clients.erase(victim);
        }
        Client c;
        c.fd = fd;
        c.accepted = Clock::now();
        c.deadline = c.accepted + limits_.read_timeout;
        clients.push_back(std::move(c));
      }
    }
  }
  for (const auto& c : clients) close(c.fd);
}

}  // namespace tapflow::probe
