#include "exporter/transport/sctp_transport.h"

#include "exporter/transport/stream_socket.h"

#include <netinet/in.h>
#include <netinet/sctp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace tapflow::exporter {

namespace {
constexpr int kSendBufferBytes = 4 * 1024 * 1024;
// IPv4 (20) or IPv6 (40) header, the SCTP common header (12) and one DATA chunk header (16):
// a message of this size or less goes in one packet, unfragmented (RFC 7011 §10.2 leaves
// fragmentation to SCTP, but whole packets lose less when a path drops).
constexpr std::size_t kIpv4SctpOverhead = 48;
constexpr std::size_t kIpv6SctpOverhead = 68;
constexpr std::size_t kIpfixMessageHeader = 16;
constexpr std::size_t kSetHeader = 4;
constexpr std::uint16_t kTemplateSetId = 2;
constexpr std::uint16_t kOptionsTemplateSetId = 3;

std::uint16_t read_u16(std::span<const std::uint8_t> bytes, std::size_t offset) {
  return static_cast<std::uint16_t>(bytes[offset] << 8 | bytes[offset + 1]);
}

// Options set before the association starts: one outbound stream is all we use; notifications
// of association changes, peer shutdown and failed (abandoned) sends are read before each send;
// PR-SCTP asked for (the kernel's default follows net.sctp.prsctp_enable).
void configure_socket(int fd) {
  sctp_initmsg init{};
  init.sinit_num_ostreams = 1;
  init.sinit_max_instreams = 1;
  setsockopt(fd, IPPROTO_SCTP, SCTP_INITMSG, &init, sizeof init);
  sctp_event_subscribe events{};
  events.sctp_association_event = 1;
  events.sctp_shutdown_event = 1;
  events.sctp_send_failure_event = 1;
  setsockopt(fd, IPPROTO_SCTP, SCTP_EVENTS, &events, sizeof events);
  sctp_assoc_value pr{};
  pr.assoc_id = SCTP_FUTURE_ASSOC;
  pr.assoc_value = 1;
  setsockopt(fd, IPPROTO_SCTP, SCTP_PR_SUPPORTED, &pr,
             sizeof pr);  // best effort: older kernels lack it
  int size = kSendBufferBytes;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);  // best effort
}
}  // namespace

bool kernel_supports_sctp(int family, int* error) {
  const int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_SCTP);
  if (fd < 0) {
    if (error != nullptr) *error = errno;
    return false;
  }
  close(fd);
  return true;
}

std::string sctp_unavailable_message(int error) {
  return std::string("SCTP is not available in this kernel (modprobe sctp): ") +
         std::strerror(error);
}

bool SctpTransport::carries_templates(std::span<const std::uint8_t> message) {
  if (message.size() < kIpfixMessageHeader) return true;
  std::size_t offset = kIpfixMessageHeader;
  while (offset + kSetHeader <= message.size()) {
    const std::uint16_t set_id = read_u16(message, offset);
    const std::uint16_t length = read_u16(message, offset + 2);
    if (set_id == kTemplateSetId || set_id == kOptionsTemplateSetId) return true;
    if (length < kSetHeader) return true;  // cannot walk further: be safe
    offset += length;
  }
  return false;
}

SctpTransport::SctpTransport(const std::string& host, const std::string& port,
                             std::chrono::milliseconds io_timeout,
                             std::chrono::milliseconds retry_interval,
                             std::chrono::milliseconds data_lifetime)
    : data_lifetime_(data_lifetime),
      description_("sctp://" + bracketed_host(host) + ":" + port),
      session_(events_, host, port, IPPROTO_SCTP, resolves_to_ipv6("SCTP", description_, host, port), description_,
               {"associate with", "associated with", "association with", "reassociating"}, io_timeout,
               retry_interval, configure_socket) {
  // Asked for by name, so a kernel without SCTP is the operator's to fix now, not a stream of
  // send errors later.
  if (int error = 0; !kernel_supports_sctp(session_.ipv6() ? AF_INET6 : AF_INET, &error)) {
    throw std::runtime_error("cannot export to " + description_ + ": " + sctp_unavailable_message(error));
  }
  if (session_.connect_now()) associated();
}

// A graceful SHUTDOWN when the session closes: the kernel still delivers what is queued.
SctpTransport::~SctpTransport() = default;

void SctpTransport::associated() {
  sctp_assoc_value pr{};
  socklen_t pr_length = sizeof pr;
  peer_pr_sctp_ =
      getsockopt(session_.fd(), IPPROTO_SCTP, SCTP_PR_SUPPORTED, &pr, &pr_length) == 0 && pr.assoc_value != 0;
}

void SctpTransport::disconnect(const char* why, int error) {
  session_.disconnect(why, error);
  notification_continues_ = false;
}

bool SctpTransport::association_alive() {
  // A collector never sends data; what can be read is notifications, an end of stream (peer
  // SHUTDOWN) or an error (peer ABORT).
  for (;;) {
    pollfd pfd{session_.fd(), POLLIN | POLLRDHUP, 0};
    if (poll(&pfd, 1, 0) <= 0) return true;
    if ((pfd.revents & (POLLERR | POLLHUP | POLLRDHUP)) != 0 && (pfd.revents & POLLIN) == 0)
      return false;
    std::array<std::uint8_t, 512> buffer;
    iovec iov{buffer.data(), buffer.size()};
    msghdr header{};
    header.msg_iov = &iov;
    header.msg_iovlen = 1;
    const ssize_t n = recvmsg(session_.fd(), &header, MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    if (n == 0) return false;
    // A notification longer than the buffer (a failed send carries the message) comes in
    // pieces; only the first piece starts with a notification header.
    const bool first_piece = !notification_continues_;
    notification_continues_ = (header.msg_flags & MSG_EOR) == 0;
    if (!first_piece || (header.msg_flags & MSG_NOTIFICATION) == 0 ||
        static_cast<std::size_t>(n) < sizeof(sctp_notification::sn_header)) {
      continue;  // the rest of a notification, or stray data from the collector: ignored
    }
    sctp_notification notification{};
    std::memcpy(&notification, buffer.data(),
                std::min(sizeof notification, static_cast<std::size_t>(n)));
    switch (notification.sn_header.sn_type) {
      case SCTP_ASSOC_CHANGE:
        if (notification.sn_assoc_change.sac_state == SCTP_COMM_LOST ||
            notification.sn_assoc_change.sac_state == SCTP_SHUTDOWN_COMP ||
            notification.sn_assoc_change.sac_state == SCTP_CANT_STR_ASSOC) {
          return false;
        }
        break;
      case SCTP_SHUTDOWN_EVENT:
        return false;
      case SCTP_SEND_FAILED:
      case SCTP_SEND_FAILED_EVENT:
        // A data message PR-SCTP abandoned after its lifetime (or one the association could
        // not deliver); the collector sees the records missing as a sequence gap.
        ++abandoned_;
        if (!abandon_reported_) {
          abandon_reported_ = true;
          events_.warning("{}: a data message was abandoned undelivered after its {} ms lifetime (PR-SCTP); "
                       "further ones are counted",
                       description_, data_lifetime_.count());
        }
        break;
      default:
        break;
    }
  }
}

int SctpTransport::send_message(std::span<const std::uint8_t> message, bool reliable) {
  const bool timed = !reliable && data_lifetime_.count() > 0;
  iovec iov{const_cast<std::uint8_t*>(message.data()), message.size()};
  if (prinfo_supported_ || !timed) {
    sctp_sendv_spa info{};
    info.sendv_flags = SCTP_SEND_SNDINFO_VALID;
    info.sendv_sndinfo.snd_sid = 0;  // ordered (no SCTP_UNORDERED), behind the templates
    if (timed) {
      info.sendv_flags |= SCTP_SEND_PRINFO_VALID;
      info.sendv_prinfo.pr_policy = SCTP_PR_SCTP_TTL;
      info.sendv_prinfo.pr_value = static_cast<std::uint32_t>(data_lifetime_.count());
    }
    for (;;) {
      const int n =
          sctp_sendv(session_.fd(), &iov, 1, nullptr, 0, &info, sizeof info, SCTP_SENDV_SPA, MSG_NOSIGNAL);
      if (n >= 0) return 0;
      if (errno == EINTR) continue;
      if (errno != EINVAL || !timed) return errno;
      break;  // a kernel without SCTP_PRINFO: the old way below, from now on
    }
    prinfo_supported_ = false;
  }
  // sctp_sendmsg() cannot pass MSG_NOSIGNAL, so the SCTP_SNDRCV ancillary data is built here.
  std::array<char, CMSG_SPACE(sizeof(sctp_sndrcvinfo))> control{};
  msghdr header{};
  header.msg_iov = &iov;
  header.msg_iovlen = 1;
  header.msg_control = control.data();
  header.msg_controllen = control.size();
  cmsghdr* cmsg = CMSG_FIRSTHDR(&header);
  cmsg->cmsg_level = IPPROTO_SCTP;
  cmsg->cmsg_type = SCTP_SNDRCV;
  cmsg->cmsg_len = CMSG_LEN(sizeof(sctp_sndrcvinfo));
  sctp_sndrcvinfo sndrcv{};
  sndrcv.sinfo_stream = 0;
  sndrcv.sinfo_timetolive = static_cast<std::uint32_t>(data_lifetime_.count());
  std::memcpy(CMSG_DATA(cmsg), &sndrcv, sizeof sndrcv);
  for (;;) {
    if (sendmsg(session_.fd(), &header, MSG_NOSIGNAL) >= 0) return 0;
    if (errno != EINTR) return errno;
  }
}

SendResult SctpTransport::send(std::span<const std::uint8_t> message) {
  if (!session_.connected()) {
    if (!session_.connect_if_due()) return SendResult::kFailed;
    associated();
  } else if (!association_alive()) {
    // Noticed before sending: a message handed to a dead association would fail anyway, or
    // worse, seem sent.
    disconnect("aborted or shut down by the collector", 0);
    return SendResult::kFailed;
  }
  // The first message of an association carries the templates (the exporter asked
  // needs_templates()); RFC 7011 §10.2: templates are sent reliably.
  const bool reliable = session_.fresh() || carries_templates(message);
  if (const int error = send_message(message, reliable); error != 0) {
    // SCTP messages are atomic, so nothing of this one went out; but a timeout means a stalled
    // collector and ECONNRESET/EPIPE/ENOTCONN a dead association: start over with templates.
    disconnect(error == EAGAIN || error == EWOULDBLOCK ? "collector stalled" : "send failed",
               error == EAGAIN || error == EWOULDBLOCK ? 0 : error);
    return SendResult::kFailed;
  }
  session_.mark_used();
  return SendResult::kSent;
}

std::size_t SctpTransport::max_message_size(std::size_t mtu) const {
  const std::size_t overhead = session_.ipv6() ? kIpv6SctpOverhead : kIpv4SctpOverhead;
  return mtu > overhead ? mtu - overhead : 0;
}

}  // namespace tapflow::exporter
