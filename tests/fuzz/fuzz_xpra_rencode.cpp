// Fuzz target: rsm-gateway's rencode decoder (daemons/rsm-gateway/xpra_codec.*),
// which reads the first packets of any xpra client of the public port before
// it has authenticated, and the framing around it (xpra_frame.*).
//
// Input: byte 0 is the frame's compression level (0 none, else zlib: the
// inflate path with its size bound), the rest the payload of a rencoded
// main packet. Checked: a decoded value re-encodes as bencode that decodes
// again (the gateway's own packets), and a failure always says where; the
// whole input as bare rencode behaves the same. A decoded dict also goes
// through the hello's session choice (xpra_target.hpp): a target or a
// reason for the client, never neither.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_check.hpp"
#include "xpra_codec.hpp"
#include "xpra_frame.hpp"
#include "xpra_target.hpp"

namespace x = rsm::gateway::xpra;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> all(data, size);
    const x::Decoded bare = x::rencode_decode(all);
    FUZZ_CHECK(bare.value.has_value() != !bare.error.empty());
    if (bare.value) {
        const std::string b = x::bencode_encode(*bare.value);
        const x::Decoded again =
            x::bencode_decode(std::span(reinterpret_cast<const std::uint8_t*>(b.data()), b.size()));
        FUZZ_CHECK(again.value.has_value());
        if (bare.value->dict()) {
            const x::TargetResult t = x::target_of_hello(*bare.value);
            FUZZ_CHECK(t.target.has_value() != !t.client_error.empty());
        }
    } else {
        FUZZ_CHECK(bare.error.rfind("offset ", 0) == 0);
    }
    if (size < 1) return 0;
    const x::FrameHeader h{1, static_cast<std::uint8_t>(data[0] % 10), 0, static_cast<std::uint32_t>(size - 1)};
    const x::Decoded framed = x::decode_packet(h, all.subspan(1));
    FUZZ_CHECK(framed.value.has_value() != !framed.error.empty());
    if (framed.value) {
        FUZZ_CHECK(framed.value->list() && !framed.value->list()->empty());
        FUZZ_CHECK(framed.value->list()->front().string() != nullptr);
    }
    return 0;
}
