// Fuzz target: rsm-gateway's bencode decoder and encoder
// (daemons/rsm-gateway/xpra_codec.*): xpra clients may bencode their hello,
// and the gateway bencodes what it sends (challenge, disconnect).
//
// Checked: a decoded value encodes to bytes that decode to the same value
// (bencode holds only integers, strings, lists and dicts, so the round trip
// is exact; xpra's 'u' strings come back as plain ones), encoding is stable
// (encode(decode(encode(v))) == encode(v)), and a failure says where.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_check.hpp"
#include "xpra_codec.hpp"

namespace x = rsm::gateway::xpra;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const x::Decoded d = x::bencode_decode(std::span(data, size));
    FUZZ_CHECK(d.value.has_value() != !d.error.empty());
    if (!d.value) {
        FUZZ_CHECK(d.error.rfind("offset ", 0) == 0);
        return 0;
    }
    const std::string e = x::bencode_encode(*d.value);
    const x::Decoded again = x::bencode_decode(std::span(reinterpret_cast<const std::uint8_t*>(e.data()), e.size()));
    FUZZ_CHECK(again.value.has_value());
    FUZZ_CHECK(*again.value == *d.value);
    FUZZ_CHECK(x::bencode_encode(*again.value) == e);
    return 0;
}
