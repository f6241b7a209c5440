// `tapflow collect`: a small NetFlow v5/v9 and IPFIX collector for checking what an exporter
// sends. Listens on UDP (or reads an RFC 5655 IPFIX file), prints one line per flow record on
// `out`; options records ("collect: SOURCE v9 domain 5: options: sampling interval 100 algorithm
// deterministic"), sequence gaps and malformed messages on `err`, and a summary at the end. Never trusts its input (see
// message_decoder.h); stops on a signal, a caller's flag, a record count or an idle timeout.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "exporter/message_decoder.h"

namespace tapflow::probe {

struct CollectorOptions {
  // udp://ADDR:PORT, udp://[V6]:PORT, ADDR:PORT, udp://:PORT (any address), tcp://ADDR:PORT or
  // sctp://ADDR:PORT (IPFIX, one template session per connection or association), or file:PATH.
  std::string listen;
  std::uint64_t max_records = 0;      // stop after printing this many records; 0 = no limit
  bool json = false;                  // records as JSON lines (the fields of -n json:), not text
  std::uint32_t idle_timeout_ms = 0;  // UDP: stop after this long without a datagram; 0 = never
  const std::atomic<bool>* stop = nullptr;  // the caller sets it to stop (checked every 100 ms)
  bool handle_signals = true;  // SIGINT and SIGTERM stop the collector (handlers restored after)
  std::FILE* out = stdout;     // records
  std::FILE* err = stderr;     // gaps, malformed messages, summary, errors
  // UDP: called once the socket is bound, with the bound port (useful with port 0).
  std::function<void(std::uint16_t port)> on_listening;

  // Bounds, so that no exporter or local user can shut the others out or exhaust memory (issue
  // 13); what they refuse is counted in the summary. Fixed in `tapflow collect`; tests shorten them.
  exporter::DecoderLimits limits;  // sources, observation domains per source, template count and memory
  // UDP has no end of session: a source silent this long is forgotten with its templates and
  // sequence numbers (RFC 7011 §8.4: three template refreshes at tapflow's default of 600 s).
  std::uint32_t udp_source_timeout_ms = 1'800'000;
  // TCP/SCTP: at most this many connections, this many from one peer address; a connection silent
  // this long is closed, and so is one that has not completed a message this long after its first
  // octet (or after it was accepted). A newcomer past a bound takes the place of the longest
  // silent connection that never delivered a template or record.
  std::size_t max_connections = 64;
  std::size_t max_connections_per_peer = 16;
  std::uint32_t stream_idle_timeout_ms = 600'000;
  std::uint32_t stream_message_timeout_ms = 10'000;
};

// Returns 0 when it stopped normally; 1 when a file could not be read completely or held
// malformed messages; 2 when the listen URL is bad or the socket or file cannot be opened.
int run_collector(const CollectorOptions& options);

}  // namespace tapflow::probe
