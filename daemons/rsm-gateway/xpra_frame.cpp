#include "xpra_frame.hpp"

#include <memory>
#include <zlib.h>

namespace rsm::gateway::xpra {

namespace {

constexpr std::uint8_t flag_rencode = 0x1, flag_cipher = 0x2, flag_yaml = 0x4;
constexpr std::uint8_t lz4_flag = 0x10, lzo_flag = 0x20, brotli_flag = 0x40;

struct InflateEnd {
    void operator()(z_stream* z) const noexcept { inflateEnd(z); }
};

}  // namespace

std::optional<FrameHeader> parse_header(std::span<const std::uint8_t, header_size> b, std::string& error) {
    if (b[0] != 'P') {
        error = "not an xpra packet header";
        return std::nullopt;
    }
    FrameHeader h;
    h.flags = b[1];
    h.level = b[2];
    h.index = b[3];
    h.length = (std::uint32_t{b[4]} << 24) | (std::uint32_t{b[5]} << 16) | (std::uint32_t{b[6]} << 8) | b[7];
    if (h.index != 0) {
        error = "a chunked packet (index " + std::to_string(h.index) + ") before the login";
        return std::nullopt;
    }
    if (h.length > max_payload) {
        error = "a packet of " + std::to_string(h.length) + " bytes before the login (at most " +
                std::to_string(max_payload) + ")";
        return std::nullopt;
    }
    return h;
}

std::optional<std::string> inflate_zlib(std::span<const std::uint8_t> data, std::size_t limit) {
    z_stream z{};
    if (inflateInit(&z) != Z_OK) return std::nullopt;
    std::unique_ptr<z_stream, InflateEnd> guard{&z};
    z.next_in = const_cast<Bytef*>(data.data());  // zlib's API is not const-correct
    z.avail_in = static_cast<uInt>(data.size());
    std::string out;
    char buf[16384];
    for (;;) {
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        const int r = inflate(&z, Z_NO_FLUSH);
        if (r != Z_OK && r != Z_STREAM_END) return std::nullopt;
        out.append(buf, sizeof buf - z.avail_out);
        if (out.size() > limit) return std::nullopt;
        if (r == Z_STREAM_END) return z.avail_in == 0 ? std::optional(std::move(out)) : std::nullopt;
        // Z_OK with no progress possible: the input ended early.
        if (z.avail_in == 0 && z.avail_out != 0) return std::nullopt;
    }
}

Decoded decode_packet(const FrameHeader& h, std::span<const std::uint8_t> payload) {
    Decoded out;
    if (h.flags & flag_cipher) {
        out.error = "an encrypted packet (xpra's --encryption is not supported by rsm-gateway)";
        return out;
    }
    if (h.flags & flag_yaml) {
        out.error = "a yaml packet (use rencode or bencode)";
        return out;
    }
    if (h.flags & ~(flag_rencode)) {
        out.error = "unknown packet flags " + std::to_string(h.flags);
        return out;
    }
    std::string inflated;
    std::span<const std::uint8_t> body = payload;
    if (h.level & (lz4_flag | lzo_flag | brotli_flag)) {
        out.error = "lz4, lzo or brotli compression before the login (zlib only)";
        return out;
    }
    if (h.level != 0) {
        if (h.level > 9) {
            out.error = "unknown compression level " + std::to_string(h.level);
            return out;
        }
        auto z = inflate_zlib(payload, max_decompressed);
        if (!z) {
            out.error = "corrupt or oversized zlib data";
            return out;
        }
        inflated = std::move(*z);
        body = std::span(reinterpret_cast<const std::uint8_t*>(inflated.data()), inflated.size());
    }
    out = (h.flags & flag_rencode) ? rencode_decode(body) : bencode_decode(body);
    if (out.value && !out.value->list()) {
        out.value.reset();
        out.error = "a packet that is not a list";
    } else if (out.value && (out.value->list()->empty() || !out.value->list()->front().string())) {
        out.value.reset();
        out.error = "a packet without a type";
    }
    return out;
}

std::string encode_frame(const Value& packet) {
    const std::string body = bencode_encode(packet);
    const auto n = static_cast<std::uint32_t>(body.size());
    std::string out{'P', '\0', '\0', '\0', static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                    static_cast<char>(n >> 8), static_cast<char>(n)};
    return out + body;
}

}  // namespace rsm::gateway::xpra
