// MessageDecoder: round trip with the encoder, hand-made messages using features tapflow does not
// export (enterprise and variable-length fields, reduced-size encoding, options templates,
// withdrawals), sequence gaps, bounded template memory, and untrusted input cut at every length.
#include "exporter/message_decoder.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "exporter/ie/information_elements.h"
#include "exporter/ipfix/ipfix_encoder.h"

namespace tapflow::exporter {
namespace {

cache::FlowRecord make_record(std::uint8_t ip_version, std::uint32_t n) {
  cache::FlowRecord r;
  r.key.ip_version = ip_version;
  r.key.source_address[0] = ip_version == 4 ? 10 : 0x20;
  r.key.source_address[3] = static_cast<std::uint8_t>(n);
  r.key.destination_address[0] = ip_version == 4 ? 172 : 0xfe;
  r.key.destination_address[3] = static_cast<std::uint8_t>(n >> 8);
  if (ip_version == 6) r.key.destination_address[15] = 9;
  r.key.source_port = static_cast<std::uint16_t>(1024 + n);
  r.key.destination_port = 53;
  r.key.protocol = 17;
  r.key.tos = 0xb8;
  r.key.ingress_interface = 2;
  r.packets = n + 1;
  r.octets = (n + 1) * 100;
  r.first_ns = 1'700'000'000'000'000'000 + n * 1'000'000ull;
  r.last_ns = r.first_ns + 5'000'000;
  r.min_ttl = 1;
  r.max_ttl = 255;
  r.end_reason = cache::FlowEndReason::kIdleTimeout;
  return r;
}

std::vector<std::uint8_t> encode(IpfixEncoder& encoder, bool templates,
                                 const std::vector<cache::FlowRecord>& records) {
  encoder.begin_message(templates);
  for (const auto& r : records) EXPECT_EQ(encoder.add_record(r), IpfixEncoder::AddResult::kAdded);
  const auto m = encoder.finish_message(1'700'000'100);
  return {m.begin(), m.end()};
}

// Builds messages by hand, big-endian.
struct Bytes {
  std::vector<std::uint8_t> data;
  Bytes& u8(std::uint8_t v) { data.push_back(v); return *this; }
  Bytes& u16(std::uint16_t v) { return u8(static_cast<std::uint8_t>(v >> 8)).u8(static_cast<std::uint8_t>(v)); }
  Bytes& u32(std::uint32_t v) { return u16(static_cast<std::uint16_t>(v >> 16)).u16(static_cast<std::uint16_t>(v)); }
  Bytes& header(std::uint32_t sequence, std::uint32_t domain = 1) {
    return u16(10).u16(0).u32(1'700'000'000).u32(sequence).u32(domain);
  }
  std::size_t mark() const { return data.size(); }
  // Patches the 16-bit length at `at` to cover from `at - 2` to the end (set header) or the
  // whole message (at == 2).
  Bytes& close(std::size_t length_offset, std::size_t start) {
    const auto length = static_cast<std::uint16_t>(data.size() - start);
    data[length_offset] = static_cast<std::uint8_t>(length >> 8);
    data[length_offset + 1] = static_cast<std::uint8_t>(length);
    return *this;
  }
  std::vector<std::uint8_t> message() {
    close(2, 0);
    return data;
  }
};

TEST(MessageDecoder, RoundTripsEncoderOutput) {
  IpfixEncoder encoder(42, 65535);
  std::vector<cache::FlowRecord> records;
  for (std::uint32_t i = 0; i < 20; ++i) records.push_back(make_record(i % 4 == 3 ? 6 : 4, i));
  const auto message = encode(encoder, true, records);

  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  const auto summary = decoder.decode(message, "test", out);
  ASSERT_FALSE(summary.malformed) << summary.reason;
  EXPECT_EQ(summary.templates, 2u);
  EXPECT_EQ(summary.records, 20u);
  EXPECT_EQ(summary.observation_domain_id, 42u);
  EXPECT_EQ(summary.export_time_s, 1'700'000'100u);
  ASSERT_EQ(out.size(), records.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto& got = out[i];
    auto want = records[i];
    want.first_ns = want.first_ns / 1'000'000 * 1'000'000;  // carried in milliseconds
    want.last_ns = want.last_ns / 1'000'000 * 1'000'000;
    EXPECT_EQ(got.flow.key, want.key) << i;
    EXPECT_EQ(got.flow.packets, want.packets);
    EXPECT_EQ(got.flow.octets, want.octets);
    EXPECT_EQ(got.flow.first_ns, want.first_ns);
    EXPECT_EQ(got.flow.last_ns, want.last_ns);
    EXPECT_EQ(got.flow.min_ttl, want.min_ttl);
    EXPECT_EQ(got.flow.max_ttl, want.max_ttl);
    EXPECT_EQ(got.flow.end_reason, want.end_reason);
    EXPECT_EQ(got.template_id, want.key.ip_version == 4 ? 256 : 257);
    EXPECT_EQ(got.observation_domain_id, 42u);
    EXPECT_TRUE(got.unknown_fields.empty());
    const auto fields = want.key.ip_version == 4 ? ipv4_record_fields() : ipv6_record_fields();
    for (const auto* e : fields) EXPECT_TRUE(got.has(e->id)) << e->name;
  }
}

// Every element of the table is in at least one template and decodes: the table is the only
// place an element needs adding.
TEST(MessageDecoder, EveryTableElementIsInATemplateAndDecodes) {
  for (const auto& e : information_elements()) {
    if (e.formats == 0) continue;  // json: and the table only (the tunnel endpoints): record_fields_test
    bool in_template = false;
    for (const auto format : {ExportFormat::kIpfix, ExportFormat::kV9}) {
      for (const int ip_version : {4, 6}) {
        for (unsigned features = 0; features < 16; ++features) {
          TemplateSpec spec;
          spec.features = static_cast<std::uint8_t>(features);
          spec.chosen.set();  // every optional row
          for (const auto* f : record_fields(format, ip_version, spec)) in_template |= f == &e;
        }
      }
    }
    EXPECT_TRUE(in_template) << e.name;
    std::vector<std::uint8_t> value(e.length, 0x01);
    cache::FlowRecord r;
    EXPECT_TRUE(e.read(value, ReadContext{}, r)) << e.name;
  }
}

TEST(MessageDecoder, ReportsSequenceGapsInDataRecords) {
  IpfixEncoder encoder(1, 65535);
  const auto first = encode(encoder, true, {make_record(4, 0), make_record(4, 1)});
  const auto lost = encode(encoder, false, {make_record(4, 2), make_record(4, 3), make_record(4, 4)});
  const auto third = encode(encoder, false, {make_record(4, 5)});
  const auto fourth = encode(encoder, false, {make_record(4, 6)});
  (void)lost;
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  EXPECT_FALSE(decoder.decode(first, "a", out).gap);
  const auto s = decoder.decode(third, "a", out);
  ASSERT_TRUE(s.gap);
  EXPECT_EQ(s.gap->expected, 2u);
  EXPECT_EQ(s.gap->got, 5u);
  EXPECT_EQ(s.gap->missing(), 3u);
  EXPECT_FALSE(decoder.decode(fourth, "a", out).gap);
  EXPECT_EQ(decoder.counters().sequence_gaps, 1u);
  EXPECT_EQ(decoder.counters().missing_records, 3u);
  EXPECT_EQ(out.size(), 4u);
}

TEST(MessageDecoder, ScopesTemplatesAndSequencesBySourceAndDomain) {
  IpfixEncoder a(1, 65535);
  IpfixEncoder b(2, 65535);
  const auto a1 = encode(a, true, {make_record(4, 0)});
  const auto b1 = encode(b, false, {make_record(4, 0)});  // domain 2 never sent templates
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  EXPECT_EQ(decoder.decode(a1, "x", out).records, 1u);
  const auto s = decoder.decode(b1, "x", out);
  EXPECT_EQ(s.records, 0u);
  EXPECT_EQ(s.sets_without_template, 1u);
  // The same message from another source knows no templates either.
  EXPECT_EQ(decoder.decode(encode(a, false, {make_record(4, 1)}), "y", out).sets_without_template,
            1u);
  EXPECT_EQ(decoder.template_count("x"), 2u);
  EXPECT_EQ(decoder.template_count("y"), 0u);
}

TEST(MessageDecoder, DataBeforeTemplatesIsSkippedThenDecoded) {
  IpfixEncoder encoder(1, 65535);
  const auto with_templates = encode(encoder, true, {make_record(4, 0)});
  const auto without = encode(encoder, false, {make_record(6, 1)});
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  const auto s1 = decoder.decode(without, "late", out);
  EXPECT_FALSE(s1.malformed);
  EXPECT_EQ(s1.sets_without_template, 1u);
  EXPECT_TRUE(out.empty());
  const auto s2 = decoder.decode(with_templates, "late", out);
  EXPECT_FALSE(s2.gap);  // sequence tracking restarted, no false gap
  EXPECT_EQ(out.size(), 1u);
}

// A template with an enterprise-specific field, a variable-length field, and octetDeltaCount
// in 4 octets (reduced-size encoding, RFC 7011 §6.2).
TEST(MessageDecoder, SkipsUnknownFieldsAndReadsReducedSizeIntegers) {
  Bytes b;
  b.header(0);
  std::size_t set = b.mark();
  b.u16(2).u16(0);
  b.u16(300).u16(5);               // template 300, 5 fields
  b.u16(8).u16(4);                 // sourceIPv4Address
  b.u16(1).u16(4);                 // octetDeltaCount, 4 octets
  b.u16(0x8000 | 1).u16(2).u32(9);  // an enterprise field tapflow does not know (Cisco's 1), 2 octets
  b.u16(82).u16(65535);            // interfaceName, variable length
  b.u16(4).u16(1);                 // protocolIdentifier
  b.close(set + 2, set);
  set = b.mark();
  b.u16(300).u16(0);
  b.u8(192).u8(0).u8(2).u8(1).u32(123456).u16(0xabcd).u8(3).u8('e').u8('t').u8('h').u8(6);
  // Second record: the variable-length field uses the 3-octet form (255, then a 16-bit length).
  b.u8(192).u8(0).u8(2).u8(2).u32(7).u16(1).u8(255).u16(2).u8('l').u8('o').u8(17);
  b.u8(0);  // one octet of padding, shorter than any record
  b.close(set + 2, set);
  const auto message = b.message();

  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  const auto s = decoder.decode(message, "hand", out);
  ASSERT_FALSE(s.malformed) << s.reason;
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].flow.octets, 123456u);
  EXPECT_EQ(out[0].flow.key.protocol, 6);
  EXPECT_EQ(out[0].flow.key.ip_version, 4);
  EXPECT_EQ(out[0].flow.key.source_address[3], 1);
  EXPECT_TRUE(out[0].has(ie::kOctetDeltaCount));
  EXPECT_FALSE(out[0].has(ie::kPacketDeltaCount));
  ASSERT_EQ(out[0].unknown_fields.size(), 2u);
  EXPECT_EQ(out[0].unknown_fields[0].enterprise_number, 9u);
  EXPECT_EQ(out[0].unknown_fields[0].id, 1);
  EXPECT_EQ(out[0].unknown_fields[1].id, 82);
  EXPECT_EQ(out[0].unknown_fields[1].value, (std::vector<std::uint8_t>{'e', 't', 'h'}));
  EXPECT_EQ(out[1].unknown_fields[1].value, (std::vector<std::uint8_t>{'l', 'o'}));
  EXPECT_EQ(out[1].flow.key.protocol, 17);
}

TEST(MessageDecoder, OptionsRecordsAreSkippedButCountedForSequence) {
  Bytes b;
  b.header(10);
  std::size_t set = b.mark();
  b.u16(3).u16(0).u16(400).u16(2).u16(1);  // options template 400: 2 fields, 1 scope
  b.u16(149).u16(4).u16(41).u16(8);        // observationDomainId scope, exportedMessageTotalCount
  b.close(set + 2, set);
  set = b.mark();
  b.u16(400).u16(0).u32(1).u32(0).u32(99).u32(1).u32(0).u32(100);  // two options records
  b.close(set + 2, set);
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  const auto s = decoder.decode(b.message(), "o", out);
  ASSERT_FALSE(s.malformed) << s.reason;
  EXPECT_EQ(s.options_records, 2u);
  EXPECT_TRUE(out.empty());
  Bytes next;
  next.header(12);
  EXPECT_FALSE(decoder.decode(next.message(), "o", out).gap);
}

TEST(MessageDecoder, AppliesTemplateWithdrawals) {
  IpfixEncoder encoder(1, 65535);
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  decoder.decode(encode(encoder, true, {make_record(4, 0)}), "w", out);
  EXPECT_EQ(decoder.template_count("w"), 2u);
  Bytes b;
  b.header(1);
  const std::size_t set = b.mark();
  b.u16(2).u16(0).u16(256).u16(0);  // withdraw template 256
  b.close(set + 2, set);
  const auto s = decoder.decode(b.message(), "w", out);
  EXPECT_FALSE(s.malformed) << s.reason;
  EXPECT_EQ(s.withdrawals, 1u);
  EXPECT_EQ(decoder.template_count("w"), 1u);
}

TEST(MessageDecoder, BoundsTemplatesPerSource) {
  MessageDecoder decoder(8, 1024);
  std::vector<DecodedRecord> out;
  Bytes b;
  b.header(0);
  const std::size_t set = b.mark();
  b.u16(2).u16(0);
  for (std::uint16_t id = 256; id < 256 + 9; ++id) b.u16(id).u16(1).u16(4).u16(1);
  b.close(set + 2, set);
  const auto s = decoder.decode(b.message(), "greedy", out);
  EXPECT_TRUE(s.malformed);
  EXPECT_NE(s.reason.find("more than 8 templates"), std::string::npos) << s.reason;
  EXPECT_EQ(decoder.template_count("greedy"), 8u);
  EXPECT_EQ(decoder.template_count("other"), 0u);
}

TEST(MessageDecoder, ReportsMalformedStructureWithAReason) {
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  struct Case {
    std::vector<std::uint8_t> bytes;
    const char* expected;
  };
  std::vector<Case> cases;
  cases.push_back({{0x00}, "too short"});
  cases.push_back({{0x00, 0x07, 0x00, 0x10}, "unsupported version 7"});
  cases.push_back({{0x00, 0x0a, 0x00, 0x10, 0, 0}, "shorter than the 16-octet"});
  {
    Bytes b;
    b.header(0).u16(2).u16(0).u16(0);
    auto m = b.message();
    m[3] = static_cast<std::uint8_t>(m.size() + 1);
    cases.push_back({m, "header length"});
  }
  {
    Bytes b;
    b.header(0).u16(256).u16(100).u32(0);
    cases.push_back({b.message(), "has length 100"});
  }
  {
    Bytes b;
    b.header(0).u16(256).u16(2);
    cases.push_back({b.message(), "has length 2"});
  }
  {
    Bytes b;
    b.header(0).u16(7).u16(4);
    cases.push_back({b.message(), "reserved set id 7"});
  }
  {
    Bytes b;
    b.header(0).u16(2).u16(12).u16(12).u16(1).u16(4).u16(1);
    cases.push_back({b.message(), "below 256"});
  }
  {
    Bytes b;
    b.header(0).u16(2).u16(12).u16(300).u16(2).u16(4).u16(1);
    cases.push_back({b.message(), "runs past the end of the set"});
  }
  {
    Bytes b;
    b.header(0).u16(2).u16(12).u16(300).u16(1).u16(4).u16(0);
    cases.push_back({b.message(), "zero octets"});
  }
  for (const auto& c : cases) {
    const auto s = decoder.decode(c.bytes, "bad", out);
    EXPECT_TRUE(s.malformed) << c.expected;
    EXPECT_NE(s.reason.find(c.expected), std::string::npos) << s.reason;
  }
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(decoder.counters().malformed, cases.size());
}

TEST(MessageDecoder, VariableLengthFieldRunningPastTheSetIsMalformed) {
  Bytes b;
  b.header(0);
  std::size_t set = b.mark();
  b.u16(2).u16(0).u16(300).u16(1).u16(82).u16(65535);
  b.close(set + 2, set);
  set = b.mark();
  b.u16(300).u16(0).u8(200).u8('x');  // claims 200 octets, has 1
  b.close(set + 2, set);
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  const auto s = decoder.decode(b.message(), "v", out);
  EXPECT_TRUE(s.malformed);
  EXPECT_NE(s.reason.find("runs past the end of the set"), std::string::npos) << s.reason;
}

// Issue 13 item 6: a source whose connection ended is forgotten with its templates and sequence
// number, so a new exporter on the same port starts a new session (no false gap of ~2^32).
TEST(MessageDecoder, AForgottenSourceStartsAFreshSession) {
  IpfixEncoder old_exporter(1, 65535);
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  for (std::uint32_t i = 0; i < 3; ++i) decoder.decode(encode(old_exporter, i == 0, {make_record(4, i)}), "tcp:p", out);
  EXPECT_TRUE(decoder.forget_source("tcp:p"));
  EXPECT_FALSE(decoder.forget_source("tcp:p"));
  EXPECT_EQ(decoder.template_count("tcp:p"), 0u);
  EXPECT_EQ(decoder.template_bytes(), 0u);
  EXPECT_EQ(decoder.session_count(), 0u);
  IpfixEncoder new_exporter(1, 65535);  // sequence numbers from 0 again
  const auto s = decoder.decode(encode(new_exporter, true, {make_record(4, 9)}), "tcp:p", out);
  EXPECT_FALSE(s.gap) << s.gap->expected << " " << s.gap->got;
  EXPECT_EQ(decoder.counters().sequence_gaps, 0u);
  EXPECT_EQ(decoder.counters().sources_forgotten, 1u);
}

TEST(MessageDecoder, ForgetsSourcesSilentForTheIdleTime) {
  IpfixEncoder encoder(1, 65535);
  const auto message = encode(encoder, true, {make_record(4, 0)});
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  decoder.set_time(1000);
  decoder.decode(message, "quiet", out);
  decoder.set_time(5000);
  decoder.decode(message, "busy", out);
  EXPECT_EQ(decoder.forget_idle_sources(4001), 0u);
  decoder.set_time(5001);
  EXPECT_EQ(decoder.forget_idle_sources(4000), 1u);
  EXPECT_EQ(decoder.template_count("quiet"), 0u);
  EXPECT_EQ(decoder.template_count("busy"), 2u);
  EXPECT_EQ(decoder.source_count(), 1u);
}

// Bare 16-octet headers from many ports must not shut out a real exporter: a newcomer takes the
// place of the longest silent source that never sent a template or a record; only when every
// source is a real exporter is it refused, and that is counted.
TEST(MessageDecoder, ANewSourceReplacesOneThatSentNothing) {
  DecoderLimits limits;
  limits.max_sources = 4;
  MessageDecoder decoder(limits);
  std::vector<DecodedRecord> out;
  IpfixEncoder real(1, 65535);
  EXPECT_EQ(decoder.decode(encode(real, true, {make_record(4, 0)}), "real", out).records, 1u);
  for (int port = 0; port < 1800; ++port) {
    const auto s = decoder.decode(Bytes().header(0).message(), "bare:" + std::to_string(port), out);
    EXPECT_FALSE(s.malformed) << s.reason;
  }
  EXPECT_EQ(decoder.source_count(), 4u);
  EXPECT_EQ(decoder.decode(encode(real, false, {make_record(4, 1)}), "real", out).records, 1u);
  EXPECT_EQ(decoder.counters().messages_refused, 0u);
  for (int i = 0; i < 3; ++i) {
    IpfixEncoder other(1, 65535);
    EXPECT_EQ(decoder.decode(encode(other, true, {make_record(4, 0)}), "other" + std::to_string(i), out).records, 1u);
  }
  const auto refused = decoder.decode(Bytes().header(0).message(), "late", out);
  EXPECT_TRUE(refused.malformed);
  EXPECT_NE(refused.reason.find("too many exporters"), std::string::npos) << refused.reason;
  EXPECT_EQ(decoder.counters().messages_refused, 1u);
  EXPECT_EQ(decoder.template_count("real"), 2u);
}

// Issue 13 item 8: one session per observation domain without limit (1 M datagrams with distinct
// domains: 146 MiB). Domains per source are bounded the same way as sources.
TEST(MessageDecoder, BoundsObservationDomainsPerSource) {
  DecoderLimits limits;
  limits.max_sessions_per_source = 8;
  MessageDecoder decoder(limits);
  std::vector<DecodedRecord> out;
  for (std::uint32_t domain = 0; domain < 100000; ++domain) {
    decoder.decode(Bytes().header(0, domain).message(), "spray", out);
  }
  EXPECT_EQ(decoder.session_count(), 8u);
  EXPECT_EQ(decoder.counters().messages_refused, 0u);
  for (std::uint32_t domain = 0; domain < 8; ++domain) {
    IpfixEncoder e(domain, 65535);
    EXPECT_EQ(decoder.decode(encode(e, true, {make_record(4, 0)}), "spray", out).records, 1u);
  }
  const auto s = decoder.decode(Bytes().header(0, 1234).message(), "spray", out);
  EXPECT_TRUE(s.malformed);
  EXPECT_NE(s.reason.find("too many observation domains"), std::string::npos) << s.reason;
  EXPECT_EQ(decoder.counters().messages_refused, 1u);
}

// Templates of 16,000 fields cost about 192 KiB each; memory is bounded per source and in total,
// and each refusal is counted.
TEST(MessageDecoder, BoundsTemplateMemoryPerSourceAndInTotal) {
  DecoderLimits limits;
  limits.max_template_bytes_per_source = std::size_t{1} << 20;
  limits.max_template_bytes = std::size_t{2} << 20;
  MessageDecoder decoder(limits);
  std::vector<DecodedRecord> out;
  auto huge_template = [](std::uint16_t id) {
    Bytes b;
    b.header(0);
    const std::size_t set = b.mark();
    b.u16(2).u16(0).u16(id).u16(16000);
    for (int i = 0; i < 16000; ++i) b.u16(1).u16(8);
    b.close(set + 2, set);
    return b.message();
  };
  for (const char* source : {"a", "b", "c"}) {
    for (std::uint16_t id = 256; id < 256 + 64; ++id) decoder.decode(huge_template(id), source, out);
    EXPECT_LE(decoder.template_bytes(source), limits.max_template_bytes_per_source) << source;
  }
  EXPECT_LE(decoder.template_bytes(), limits.max_template_bytes);
  EXPECT_GT(decoder.template_count("a"), 3u);
  EXPECT_EQ(decoder.template_count("c"), 0u);  // a and b took the total
  EXPECT_EQ(decoder.counters().templates_refused, 3u * 64 - decoder.template_count("a") - decoder.template_count("b"));
  // Redefining a template under its id replaces it within the bound; withdrawing frees it.
  EXPECT_FALSE(decoder.decode(huge_template(256), "a", out).malformed);
  Bytes withdraw;
  withdraw.header(0);
  const std::size_t set = withdraw.mark();
  withdraw.u16(2).u16(0).u16(2).u16(0);
  withdraw.close(set + 2, set);
  EXPECT_FALSE(decoder.decode(withdraw.message(), "a", out).malformed);
  EXPECT_EQ(decoder.template_bytes("a"), 0u);
  EXPECT_EQ(decoder.template_bytes(), decoder.template_bytes("b"));
  EXPECT_FALSE(decoder.decode(huge_template(256), "c", out).malformed);
}

// Issue 13 item 9: a template of one variable-length field and data sets of zeros made every
// octet a record (200 datagrams: 13 M records). A record with no value octet is padding when
// only zeros follow, else malformed.
TEST(MessageDecoder, AnEmptyVariableLengthRecordIsNotARecord) {
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  auto message = [](std::vector<std::uint8_t> data) {
    Bytes b;
    b.header(0);
    std::size_t set = b.mark();
    b.u16(2).u16(0).u16(300).u16(1).u16(82).u16(65535);  // interfaceName, variable length
    b.close(set + 2, set);
    set = b.mark();
    b.u16(300).u16(0);
    for (auto byte : data) b.u8(byte);
    b.close(set + 2, set);
    return b.message();
  };
  auto s = decoder.decode(message(std::vector<std::uint8_t>(60000, 0)), "z", out);
  EXPECT_FALSE(s.malformed) << s.reason;
  EXPECT_EQ(s.records, 0u);
  s = decoder.decode(message({3, 'e', 't', 'h', 0, 0, 0}), "z", out);
  EXPECT_FALSE(s.malformed) << s.reason;
  EXPECT_EQ(s.records, 1u);
  s = decoder.decode(message({0, 0, 3, 'e', 't', 'h'}), "z", out);
  EXPECT_TRUE(s.malformed);
  EXPECT_NE(s.reason.find("no value octet"), std::string::npos) << s.reason;
  EXPECT_EQ(decoder.counters().empty_records, 1u);
  EXPECT_EQ(out.size(), 1u);
}

// Untrusted input: a valid message cut short at every length, and the same with the header
// length patched to match (so only the sets are cut), never crashes and is reported.
TEST(MessageDecoder, SurvivesEveryTruncation) {
  IpfixEncoder encoder(3, 65535);
  const auto message = encode(encoder, true, {make_record(4, 1), make_record(6, 2), make_record(4, 3)});
  for (std::size_t length = 0; length < message.size(); ++length) {
    MessageDecoder decoder;
    std::vector<DecodedRecord> out;
    std::vector<std::uint8_t> cut(message.begin(), message.begin() + static_cast<long>(length));
    EXPECT_TRUE(decoder.decode(cut, "t", out).malformed) << length;
    if (length >= 4) {
      cut[2] = static_cast<std::uint8_t>(length >> 8);
      cut[3] = static_cast<std::uint8_t>(length);
      const auto s = decoder.decode(cut, "t", out);
      EXPECT_TRUE(s.malformed || s.records < 3) << length;
      EXPECT_LE(out.size(), 3u);
    }
  }
}

TEST(MessageDecoder, SurvivesRandomGarbage) {
  IpfixEncoder encoder(3, 65535);
  const auto valid = encode(encoder, true, {make_record(4, 1), make_record(6, 2)});
  std::mt19937 random(12345);
  MessageDecoder decoder(64, 16);
  std::vector<DecodedRecord> out;
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> m = valid;
    if (i % 2 == 0) {
      // Flip a few bytes of a valid message.
      for (int k = 0; k < 4; ++k) m[random() % m.size()] = static_cast<std::uint8_t>(random());
    } else {
      m.resize(16 + random() % 200);
      for (auto& byte : m) byte = static_cast<std::uint8_t>(random());
      m[0] = 0;
      m[1] = 10;
    }
    if (i % 3 == 0) {  // keep the header length consistent so the sets get parsed
      m[2] = static_cast<std::uint8_t>(m.size() >> 8);
      m[3] = static_cast<std::uint8_t>(m.size());
    }
    out.clear();
    const auto s = decoder.decode(m, std::to_string(i % 20), out);
    if (s.malformed) {
      EXPECT_FALSE(s.reason.empty());
    }
  }
  EXPECT_EQ(decoder.counters().messages, 20000u);
}

TEST(FormatRecord, OneLineWithTheFieldsTheRecordCarried) {
  IpfixEncoder encoder(1, 65535);
  cache::FlowRecord r = make_record(4, 1);
  r.key.protocol = 6;
  r.tcp_flags = 0x12;
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  decoder.decode(encode(encoder, true, {r, make_record(6, 2)}), "f", out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(format_record(out[0]),
            "2023-11-14T22:13:20.001Z 2023-11-14T22:13:20.006Z TCP    10.0.0.1:1025 -> "
            "172.0.0.0:53 packets 2 bytes 200 flags ...A..S. tos 184 ttl 1-255 in-if 2 end idle "
            "timeout");
  EXPECT_EQ(format_record(out[1]),
            "2023-11-14T22:13:20.002Z 2023-11-14T22:13:20.007Z UDP    [2000:2::]:1026 -> "
            "[fe00::9]:53 packets 3 bytes 300 flags ........ tos 184 ttl 1-255 in-if 2 end idle "
            "timeout");
  DecodedRecord icmp;
  icmp.flow.key.ip_version = 4;
  icmp.flow.key.protocol = 1;
  icmp.flow.key.destination_port = 8 * 256;
  EXPECT_EQ(format_record(icmp),
            "1970-01-01T00:00:00.000Z 1970-01-01T00:00:00.000Z ICMP   0.0.0.0 -> 0.0.0.0 type 8 "
            "code 0 packets 0 bytes 0");
}

}  // namespace
}  // namespace tapflow::exporter
