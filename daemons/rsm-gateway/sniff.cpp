#include "sniff.hpp"

#include <array>
#include <cstring>

namespace rsm::gateway {

std::string_view to_string(FirstBytes p) noexcept {
    switch (p) {
    case FirstBytes::silent: return "rfb";
    case FirstBytes::http: return "http";
    case FirstBytes::tls: return "tls";
    case FirstBytes::xpra: return "xpra";
    case FirstBytes::unknown: return "unknown";
    }
    return "unknown";
}

FirstBytes classify_first_bytes(std::span<const std::uint8_t> b) noexcept {
    if (b.empty()) return FirstBytes::silent;
    // A TLS record of type handshake (22), version 3.x.
    if (b[0] == 0x16 && (b.size() < 2 || b[1] == 0x03)) return FirstBytes::tls;
    // xpra's packet header: 'P', protocol flags, compression level, chunk index,
    // then the payload size (xpra/net/protocol.py).
    if (b[0] == 'P' && (b.size() < 2 || (b[1] & 0xe0) == 0)) return FirstBytes::xpra;
    static constexpr std::array<std::string_view, 8> methods{"GET ",    "HEAD ", "POST ",  "PUT ",
                                                             "DELETE ", "OPTIONS ", "CONNECT ", "PATCH "};
    for (const auto m : methods) {
        const std::size_t n = std::min(m.size(), b.size());
        // A prefix of a method counts: the rest may still be in flight.
        if (std::memcmp(b.data(), m.data(), n) == 0 && (n == m.size() || n == b.size())) return FirstBytes::http;
    }
    return FirstBytes::unknown;
}

}  // namespace rsm::gateway
