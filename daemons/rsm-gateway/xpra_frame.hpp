// xpra 3.1's wire framing (xpra/net/protocol.py, header.py): every chunk
// starts with an 8-byte header "!cBBBL":
//   'P', flags (0 bencode, 1 rencode, 2 cipher, 4 yaml), compression level
//   (0 none, 1..9 zlib; 0x10 lz4, 0x20 lzo, 0x40 brotli), chunk index
//   (0 = the main packet; others carry one large item of the next main
//   packet), payload length (u32, big-endian).
// A packet is a list whose first item is its type ("hello", "challenge",
// "disconnect", ...). Before the login the gateway reads only main packets
// of the client, zlib or uncompressed, bencode or rencode, no cipher; it
// writes bencoded, uncompressed ones.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "xpra_codec.hpp"

namespace rsm::gateway::xpra {

inline constexpr std::size_t header_size = 8;
// A hello is a few kB; xpra's own limit for any packet before the login is
// far larger than anything a client sends then.
inline constexpr std::uint32_t max_payload = 1024 * 1024;
inline constexpr std::size_t max_decompressed = 4 * 1024 * 1024;

struct FrameHeader {
    std::uint8_t flags = 0;
    std::uint8_t level = 0;
    std::uint8_t index = 0;
    std::uint32_t length = 0;
};

// The header, or nullopt with `error` saying what is wrong with it (not
// 'P', a chunk index other than 0, a length over max_payload).
std::optional<FrameHeader> parse_header(std::span<const std::uint8_t, header_size> bytes, std::string& error);

// The packet in `payload` (exactly header.length bytes). Cipher, yaml,
// lz4, lzo and brotli are refused with a reason.
Decoded decode_packet(const FrameHeader& header, std::span<const std::uint8_t> payload);

// One bencoded, uncompressed main packet, header included.
std::string encode_frame(const Value& packet);

// Inflates zlib data (xpra's levels 1..9) up to `limit` bytes; nullopt if
// it is corrupt or larger.
std::optional<std::string> inflate_zlib(std::span<const std::uint8_t> data, std::size_t limit);

}  // namespace rsm::gateway::xpra
