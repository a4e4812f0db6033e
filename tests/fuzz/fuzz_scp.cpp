// Fuzz target: xrdp's session manager protocol (src/scp/*): FrameReader over
// a TCP stream, then the v0 request and v1 management parsers. xrdp (or
// anything that reaches the SCP port) sends these bytes.
//
// Input: byte 0 gives the size of the pieces the stream arrives in (bits
// 0-5: 1-64 bytes); the rest is the stream. After every piece the frames that
// are complete are taken out and parsed by their version. Checked: once the
// reader reports an error it keeps it and hands out nothing; with no error,
// less than one message stays buffered; every frame's body is what its
// header announced; v0 strings hold no NUL and keep sesman's length limit; a
// request that parses encodes (encode_v0_request, encode_v1_mng_login) to
// bytes that parse back to the same fields.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "fuzz_check.hpp"
#include "scp/frame_reader.hpp"
#include "scp/scp_v0.hpp"
#include "scp/scp_v1_mng.hpp"

namespace s = rsm::scp;

namespace {

bool same(const s::V0Request& a, const s::V0Request& b) {
    const bool display = a.code != s::V0Code::gateway_auth;
    return a.code == b.code && a.user == b.user && a.password == b.password &&
           (!display || (a.width == b.width && a.height == b.height && a.bpp == b.bpp && a.domain == b.domain &&
                         a.program == b.program && a.directory == b.directory &&
                         a.connection_description == b.connection_description));
}

std::span<const std::uint8_t> body_of(const std::vector<std::uint8_t>& message) {
    FUZZ_CHECK(message.size() >= s::header_size);
    return std::span(message).subspan(s::header_size);
}

void check_frame(const s::Frame& frame) {
    if (frame.version == 0) {
        const auto parsed = s::parse_v0_request(frame.body);
        if (const auto* r = std::get_if<s::V0Request>(&parsed)) {
            // What scp_v0.hpp promises beyond sesman: no NUL inside strings
            // (sesman would cut them there), its length limit.
            for (const std::string* str : {&r->user, &r->password, &r->domain, &r->program, &r->directory,
                                           &r->connection_description}) {
                FUZZ_CHECK(str->find('\0') == std::string::npos);
                FUZZ_CHECK(str->size() <= s::v0_max_string);
            }
            (void)s::client_address_of(r->connection_description);
            const auto encoded = s::encode_v0_request(*r);
            const auto again = s::parse_v0_request(body_of(encoded));
            FUZZ_CHECK(std::holds_alternative<s::V0Request>(again));
            FUZZ_CHECK(same(*r, std::get<s::V0Request>(again)));
        }
        return;
    }
    FUZZ_CHECK(frame.version == 1);
    const auto parsed = s::parse_v1_mng(frame.body);
    if (const auto* m = std::get_if<s::V1MngMessage>(&parsed)) {
        FUZZ_CHECK(m->login.has_value() == (m->command == s::V1MngCommand::login));
        if (m->login) {
            const auto again = s::parse_v1_mng(body_of(s::encode_v1_mng_login(*m->login)));
            FUZZ_CHECK(std::holds_alternative<s::V1MngMessage>(again));
            const auto& l = std::get<s::V1MngMessage>(again).login;
            FUZZ_CHECK(l && l->user == m->login->user && l->password == m->login->password &&
                       l->address == m->login->address && l->host_name == m->login->host_name);
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return -1;
    const std::size_t piece = (data[0] & 0x3f) + 1u;
    const std::span<const std::uint8_t> stream{data + 1, size - 1};

    s::FrameReader reader;
    std::size_t taken = 0;  // bytes handed out as frames, headers included
    for (std::size_t at = 0; at < stream.size(); at += piece) {
        const auto error = reader.feed(stream.subspan(at, std::min(piece, stream.size() - at)));
        FUZZ_CHECK(error == reader.error());
        if (error) {
            FUZZ_CHECK(!reader.next());
            FUZZ_CHECK(reader.feed(stream.first(0)) == error);
            return 0;
        }
        while (auto frame = reader.next()) {
            taken += s::header_size + frame->body.size();
            check_frame(*frame);
        }
        if (reader.error()) return 0;  // the header after a frame is bad
        FUZZ_CHECK(reader.buffered() < s::max_message_size);
        FUZZ_CHECK(taken + reader.buffered() == std::min(at + piece, stream.size()));
    }
    return 0;
}
