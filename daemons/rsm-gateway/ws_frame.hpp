// WebSocket framing (RFC 6455, section 5) for the browser's side of the
// gateway: noVNC carries RFB in binary messages. The server side only:
// frames from the client must be masked, frames to it are not. No I/O, so
// it can be fuzzed (tests/fuzz/fuzz_ws_frame.cpp) and unit-tested.
//
// Every byte is hostile: a frame's length is checked against
// max_frame_payload before anything of it is buffered beyond the header,
// and reserved bits, unknown opcodes, unmasked frames, oversized or
// fragmented control frames and text messages (RFB is binary) end in
// Result::error with the close code to send.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rsm::gateway::ws {

enum class Opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

// noVNC's messages to the server are small (input events, a few hundred
// bytes at most); 1 MiB leaves room for a clipboard.
inline constexpr std::size_t max_frame_payload = 1 << 20;
inline constexpr std::size_t max_control_payload = 125;
inline constexpr std::uint16_t close_normal = 1000;
inline constexpr std::uint16_t close_protocol_error = 1002;
inline constexpr std::uint16_t close_unsupported = 1003;
inline constexpr std::uint16_t close_too_big = 1009;

struct Frame {
    Opcode opcode = Opcode::binary;
    bool fin = true;
    std::vector<std::uint8_t> payload;  // unmasked
};

class Decoder {
public:
    enum class Result { frame, need_more, error };
    void push(std::span<const std::uint8_t> bytes);
    // The next complete frame, need_more, or error (then error_text() and
    // close_code() say why; the decoder stays failed).
    Result next(Frame& out);
    std::size_t buffered() const noexcept { return input_.size() - head_; }
    const std::string& error_text() const noexcept { return error_; }
    std::uint16_t close_code() const noexcept { return close_code_; }

private:
    Result fail(std::uint16_t code, std::string why);
    std::vector<std::uint8_t> input_;
    std::size_t head_ = 0;
    bool in_message_ = false;  // a binary message's continuation frames may follow
    bool failed_ = false;
    std::string error_;
    std::uint16_t close_code_ = 0;
};

// One unmasked, final frame (server to client). Appends to `out`.
void encode(Opcode opcode, std::span<const std::uint8_t> payload, std::string& out);
// A close frame's payload: the code, big-endian, and a reason (truncated to fit).
std::string close_payload(std::uint16_t code, std::string_view reason);

// Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455, 4.2.2).
std::string accept_key(std::string_view key);
// Whether `key` is the base64 of 16 bytes (24 characters ending in "==").
bool valid_key(std::string_view key) noexcept;

}  // namespace rsm::gateway::ws
