// SCP framing: every message starts with a big-endian u32 version (0 or 1)
// and a u32 size that counts the whole message, these 8 bytes included.
// FrameReader takes bytes as they arrive on a stream and hands out complete
// messages; a header that cannot be right (unknown version, a size below the
// smallest or above the largest message sesman accepts) is an error, after
// which the connection must be closed: SCP has no way to resynchronise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace rsm::scp {

// sesman's own bound (SCP_MAX_MESSAGE_SIZE in xrdp 0.9.21).
inline constexpr std::size_t max_message_size = 8192;
inline constexpr std::size_t header_size = 8;

struct Frame {
    std::uint32_t version = 0;
    std::vector<std::uint8_t> body;  // after the 8-byte header
};

class FrameReader {
public:
    // Appends bytes. Returns an error text (and keeps it) once the stream
    // is known to be malformed; later calls return the same error.
    std::optional<std::string> feed(std::span<const std::uint8_t> bytes);
    // The next complete message, if one has arrived.
    std::optional<Frame> next();
    // Bytes received that do not yet form a message.
    std::size_t buffered() const noexcept { return buffer_.size(); }
    const std::optional<std::string>& error() const noexcept { return error_; }

private:
    std::optional<std::string> check_header();

    std::vector<std::uint8_t> buffer_;
    std::optional<std::string> error_;
};

}  // namespace rsm::scp
