// A packet sender for the live benchmarks, faster than tcpreplay: the capture's frames are loaded
// into memory once, then sent with sendmmsg() in batches on an AF_PACKET socket that bypasses the
// qdisc, optionally paced per batch. Prints the same two lines bench/live_rate.py reads from
// tcpreplay ("Successful packets:", "Rated: ... pps").
//
//   build/bench/blast -i IFACE [--pps N] [--loop N] [--batch N] FILE
#include <CLI/CLI.hpp>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app("send a capture's frames on an interface as fast as possible (or at --pps)");
  std::string iface, file;
  double pps = 0;
  unsigned loops = 1, batch = 256;
  app.add_option("-i", iface, "Interface")->required();
  app.add_option("--pps", pps, "Packets per second (0 = as fast as possible)");
  app.add_option("--loop", loops, "Send the capture this many times");
  app.add_option("--batch", batch, "Frames per sendmmsg")->check(CLI::Range(1u, 1024u));
  app.add_option("file", file, "pcap file")->required();
  CLI11_PARSE(app, argc, argv);

  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline(file.c_str(), errbuf);
  if (p == nullptr) {
    std::fprintf(stderr, "blast: %s\n", errbuf);
    return 1;
  }
  std::vector<std::vector<unsigned char>> frames;
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  while (pcap_next_ex(p, &h, &data) == 1) frames.emplace_back(data, data + h->caplen);
  pcap_close(p);
  if (frames.empty()) return 1;

  const int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) {
    std::perror("blast: socket");
    return 1;
  }
  const int one = 1;
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_ifindex = static_cast<int>(if_nametoindex(iface.c_str()));
  addr.sll_halen = ETH_ALEN;
  if (addr.sll_ifindex == 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror("blast: bind");
    return 1;
  }
  std::vector<iovec> iov(batch);
  std::vector<mmsghdr> msgs(batch);
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t sent = 0, failed = 0;
  const std::uint64_t total = std::uint64_t{frames.size()} * loops;
  std::size_t next = 0;
  while (sent + failed < total) {
    const auto n = static_cast<unsigned>(std::min<std::uint64_t>(batch, total - sent - failed));
    for (unsigned i = 0; i < n; ++i) {
      iov[i] = {frames[next].data(), frames[next].size()};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      if (++next == frames.size()) next = 0;
    }
    unsigned done = 0;
    while (done < n) {
      const int rc = sendmmsg(fd, msgs.data() + done, n - done, 0);
      if (rc < 0) {
        if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) continue;
        ++failed;  // this frame could not be sent (too long for the MTU...): skip it
        ++done;
        continue;
      }
      done += static_cast<unsigned>(rc);
      sent += static_cast<unsigned>(rc);
    }
    if (pps > 0) {
      const auto due = start + std::chrono::duration<double>(static_cast<double>(sent + failed) / pps);
      std::this_thread::sleep_until(std::chrono::time_point_cast<std::chrono::steady_clock::duration>(due));
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("Actual: %llu packets in %.3f seconds\nRated: 0 Bps, 0 Mbps, %.2f pps\n"
              "Successful packets: %llu\nFailed packets: %llu\n",
              static_cast<unsigned long long>(sent), s, static_cast<double>(sent) / s,
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(failed));
  return failed != 0 ? 2 : 0;
}
