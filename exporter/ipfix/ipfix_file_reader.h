// Reads an RFC 5655 IPFIX file (messages back to back) through a MessageDecoder, message by
// message, so files larger than memory are fine. The file is untrusted like any export input.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "exporter/message_decoder.h"

namespace tapflow::exporter {

struct FileReadSummary {
  std::uint64_t messages = 0;
  std::uint64_t records = 0;
  std::uint64_t malformed = 0;  // malformed messages (decoding went on with the next one)
  // Set when reading had to stop early: a truncated message, or a header whose length cannot be
  // trusted to find the next message.
  std::string error;
};

using MessageCallback =
    std::function<void(const MessageSummary& summary, std::span<const DecodedRecord> records)>;

// Calls on_message for every message in the file with the records decoded from it. Throws
// std::runtime_error (path and strerror) when the file cannot be opened.
FileReadSummary read_ipfix_file(const std::string& path, MessageDecoder& decoder,
                                const MessageCallback& on_message);

// Every record of the file. Throws std::runtime_error when the file cannot be opened or holds a
// malformed or truncated message.
std::vector<DecodedRecord> read_ipfix_file(const std::string& path);

}  // namespace tapflow::exporter
