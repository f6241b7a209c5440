#include "probe/runtime/decode_stage.h"

namespace tapflow::probe::runtime {

void DecodeCounters::add(const DecodeCounters& o) {
  packets_read += o.packets_read;
  bytes_read += o.bytes_read;
  for (std::size_t v = 0; v < verdicts.size(); ++v) verdicts[v] += o.verdicts[v];
  octets_decoded += o.octets_decoded;
  octets_rejected += o.octets_rejected;
  packets_sampled_out += o.packets_sampled_out;
  octets_sampled_out += o.octets_sampled_out;
  if (o.first_packet_ns != 0 && (first_packet_ns == 0 || o.first_packet_ns < first_packet_ns)) {
    first_packet_ns = o.first_packet_ns;
  }
  profile.add_packets(o.profile);
}

}  // namespace tapflow::probe::runtime
