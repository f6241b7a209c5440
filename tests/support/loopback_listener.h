// Test support: a collector's listening stream socket (TCP or SCTP) on 127.0.0.1, an ephemeral
// port unless one is given, accepting one peer. Tests derive from it to read what they need.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace tapflow::test {

class LoopbackListener {
 public:
  // receive_buffer > 0 shrinks the collector's receive window (inherited by the accepted socket).
  explicit LoopbackListener(int protocol, std::uint16_t port = 0, int receive_buffer = 0) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, protocol);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (receive_buffer > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(fd_, 4), 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~LoopbackListener() {
    if (peer_ >= 0) close(peer_);
    close(fd_);
  }
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;

  std::string port() const { return std::to_string(port_); }
  std::uint16_t port_number() const { return port_; }
  // The peer's socket, or -1 when none connected within 2 s.
  int accept_peer() {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 2000) != 1) return -1;
    peer_ = accept(fd_, nullptr, nullptr);
    return peer_;
  }
  void close_peer() {
    close(peer_);
    peer_ = -1;
  }

 protected:
  int fd_ = -1;
  int peer_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace tapflow::test
