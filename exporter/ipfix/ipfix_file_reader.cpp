#include "exporter/ipfix/ipfix_file_reader.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "exporter/ie/byte_order.h"

namespace tapflow::exporter {

namespace {
constexpr std::size_t kIpfixHeaderSize = 16;
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
}  // namespace

FileReadSummary read_ipfix_file(const std::string& path, MessageDecoder& decoder,
                                const MessageCallback& on_message) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    throw std::runtime_error("cannot open IPFIX file '" + path + "': " + std::strerror(errno));
  }
  FileReadSummary result;
  std::vector<std::uint8_t> message(65535);
  std::vector<DecodedRecord> records;
  std::uint64_t offset = 0;
  for (;;) {
    const std::size_t got = std::fread(message.data(), 1, 4, file.get());
    if (got == 0) break;
    if (got < 4) {
      result.error = fmt::format("file ends inside a message header at offset {}", offset);
      break;
    }
    const std::uint16_t version = get_u16(message.data());
    const std::uint16_t length = get_u16(message.data() + 2);
    // RFC 5655 §8: a file is only IPFIX messages; the length is all we have to find the next
    // one, so a message we cannot frame ends the read.
    if (version != 10 || length < kIpfixHeaderSize) {
      result.error = fmt::format("message at offset {} has version {} and length {}; cannot go on",
                                 offset, version, length);
      break;
    }
    const std::size_t body = std::fread(message.data() + 4, 1, length - 4u, file.get());
    if (body != length - 4u) {
      result.error = fmt::format("file ends inside the {}-octet message at offset {}", length, offset);
      break;
    }
    records.clear();
    const auto summary =
        decoder.decode(std::span<const std::uint8_t>(message.data(), length), path, records);
    ++result.messages;
    result.records += records.size();
    if (summary.malformed) ++result.malformed;
    on_message(summary, records);
    offset += length;
  }
  if (std::ferror(file.get()) && result.error.empty()) {
    result.error = fmt::format("read error at offset {}: {}", offset, std::strerror(errno));
  }
  return result;
}

std::vector<DecodedRecord> read_ipfix_file(const std::string& path) {
  MessageDecoder decoder;
  std::vector<DecodedRecord> all;
  std::string problem;
  const auto result = read_ipfix_file(
      path, decoder, [&](const MessageSummary& summary, std::span<const DecodedRecord> records) {
        if (summary.malformed && problem.empty()) problem = summary.reason;
        all.insert(all.end(), records.begin(), records.end());
      });
  if (!result.error.empty()) throw std::runtime_error("IPFIX file '" + path + "': " + result.error);
  if (!problem.empty()) throw std::runtime_error("IPFIX file '" + path + "': " + problem);
  return all;
}

}  // namespace tapflow::exporter
