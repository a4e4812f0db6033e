// rsm-gateway's WebSocket framing (daemons/rsm-gateway/ws_frame.*). The
// masked frames and the accept key are RFC 6455's own examples (5.7, 1.3).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "ws_frame.hpp"

using namespace rsm::gateway;

namespace {
std::vector<std::uint8_t> bytes(std::initializer_list<int> l) {
    std::vector<std::uint8_t> v;
    for (int b : l) v.push_back(static_cast<std::uint8_t>(b));
    return v;
}
std::vector<std::uint8_t> masked(std::uint8_t first, std::size_t n) {
    std::vector<std::uint8_t> v{first};
    if (n < 126) v.push_back(static_cast<std::uint8_t>(0x80 | n));
    else if (n <= 0xffff) { v.push_back(0x80 | 126); v.push_back(static_cast<std::uint8_t>(n >> 8)); v.push_back(n & 0xff); }
    else { v.push_back(0x80 | 127); for (int s = 56; s >= 0; s -= 8) v.push_back((n >> s) & 0xff); }
    for (int i = 0; i < 4; ++i) v.push_back(0);  // mask 0: payload as is
    v.resize(v.size() + n, 'x');
    return v;
}
}  // namespace

TEST_CASE("ws: RFC 6455 accept key", "[ws]") {
    CHECK(ws::accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK(ws::valid_key("dGhlIHNhbXBsZSBub25jZQ=="));
    CHECK_FALSE(ws::valid_key("dGhlIHNhbXBsZSBub25jZQ="));
    CHECK_FALSE(ws::valid_key("dGhlIHNhbXBsZSBub25jZ!=="));
}

TEST_CASE("ws: a masked frame, split anywhere, decodes", "[ws]") {
    // RFC 6455 5.7: a masked "Hello" (as text there; binary here).
    const auto f = bytes({0x82, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
    for (std::size_t cut = 0; cut <= f.size(); ++cut) {
        ws::Decoder d;
        ws::Frame out;
        d.push(std::span(f).first(cut));
        if (cut < f.size()) {
            CHECK(d.next(out) == ws::Decoder::Result::need_more);
            d.push(std::span(f).subspan(cut));
        }
        REQUIRE(d.next(out) == ws::Decoder::Result::frame);
        CHECK(out.opcode == ws::Opcode::binary);
        CHECK(std::string(out.payload.begin(), out.payload.end()) == "Hello");
        CHECK(d.next(out) == ws::Decoder::Result::need_more);
    }
}

TEST_CASE("ws: 16- and 64-bit lengths and fragments", "[ws]") {
    ws::Decoder d;
    ws::Frame out;
    d.push(masked(0x02, 300));  // first fragment
    d.push(masked(0x80, 70000));  // final continuation
    REQUIRE(d.next(out) == ws::Decoder::Result::frame);
    CHECK((out.payload.size() == 300 && !out.fin));
    REQUIRE(d.next(out) == ws::Decoder::Result::frame);
    CHECK((out.payload.size() == 70000 && out.fin && out.opcode == ws::Opcode::continuation));
}

TEST_CASE("ws: hostile frames fail with a close code", "[ws]") {
    const auto fails = [](std::vector<std::uint8_t> f, std::uint16_t code) {
        ws::Decoder d;
        ws::Frame out;
        d.push(f);
        REQUIRE(d.next(out) == ws::Decoder::Result::error);
        CHECK(d.close_code() == code);
        CHECK_FALSE(d.error_text().empty());
    };
    fails(bytes({0x82, 0x05, 'H', 'e', 'l', 'l', 'o'}), ws::close_protocol_error);  // unmasked
    fails(bytes({0xc2, 0x80, 0, 0, 0, 0}), ws::close_protocol_error);             // RSV1
    fails(bytes({0x83, 0x80, 0, 0, 0, 0}), ws::close_protocol_error);             // opcode 3
    fails(bytes({0x81, 0x80, 0, 0, 0, 0}), ws::close_unsupported);                // text
    fails(bytes({0x80, 0x80, 0, 0, 0, 0}), ws::close_protocol_error);             // stray continuation
    fails(bytes({0x09, 0x80, 0, 0, 0, 0}), ws::close_protocol_error);             // fragmented ping
    fails(masked(0x89, 126), ws::close_protocol_error);                          // long ping
    fails(bytes({0x82, 0xfe, 0x00, 0x05}), ws::close_protocol_error);             // not shortest
    // Refused from the header alone: nothing of the 2 GiB is awaited.
    fails(bytes({0x82, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 0}), ws::close_too_big);
    fails(bytes({0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0}), ws::close_protocol_error);
}

TEST_CASE("ws: encoding, read back", "[ws]") {
    for (std::size_t n : {0u, 125u, 126u, 65535u, 65536u}) {
        std::string out;
        const std::vector<std::uint8_t> payload(n, 7);
        ws::encode(ws::Opcode::binary, payload, out);
        CHECK(static_cast<std::uint8_t>(out[0]) == 0x82);
        CHECK(out.size() == n + (n < 126 ? 2 : n <= 0xffff ? 4 : 10));
    }
    const std::string c = ws::close_payload(ws::close_normal, std::string(300, 'r'));
    CHECK(c.size() == ws::max_control_payload);
    CHECK((static_cast<std::uint8_t>(c[0]) == 0x03 && static_cast<std::uint8_t>(c[1]) == 0xe8));
}
