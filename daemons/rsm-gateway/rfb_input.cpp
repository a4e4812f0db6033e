#include "rfb_input.hpp"

#include <algorithm>

namespace rsm::gateway {

namespace {

constexpr std::size_t unknown = 0;

std::uint32_t be16(const std::vector<std::uint8_t>& b, std::size_t at) {
    return static_cast<std::uint32_t>(b[at]) << 8 | b[at + 1];
}

// The fixed part's length, given what of it has come (at least the type);
// 0 for a type that cannot be framed. QEMU's messages (255) need their
// sub-type, and its audio messages their operation, before the length is known.
std::size_t fixed_length(const std::vector<std::uint8_t>& h) {
    switch (h[0]) {
    case 0: return 20;    // SetPixelFormat
    case 2: return 4;     // SetEncodings: type, padding, count
    case 3: return 10;    // FramebufferUpdateRequest
    case 4: return 8;     // KeyEvent
    case 5: return 6;     // PointerEvent
    case 6: return 8;     // ClientCutText: type, padding, length (s32)
    case 150: return 10;  // EnableContinuousUpdates
    case 248: return 9;   // ClientFence: type, padding, flags, length (u8)
    case 250: return 4;   // xvp: type, padding, version, code
    case 251: return 8;   // SetDesktopSize: type, padding, width, height, screens, padding
    case 255:             // QEMU: type, sub-type, ...
        if (h.size() < 2) return 2;
        if (h[1] == 0) return 12;  // extended key event
        if (h[1] == 1) {           // audio: type, sub-type, operation (u16)
            if (h.size() < 4) return 4;
            return be16(h, 2) == 2 ? 10 : 4;  // 2: set format
        }
        return unknown;
    default: return unknown;
    }
}

std::uint64_t variable_length(const std::vector<std::uint8_t>& h) {
    switch (h[0]) {
    case 2: return 4ull * be16(h, 2);
    case 6: {
        // Negative: the extended clipboard's length, in absolute value.
        const auto n = static_cast<std::int32_t>(static_cast<std::uint32_t>(h[4]) << 24 | h[5] << 16 | h[6] << 8 | h[7]);
        return n < 0 ? static_cast<std::uint64_t>(-static_cast<std::int64_t>(n)) : static_cast<std::uint64_t>(n);
    }
    case 248: return h[8];
    case 251: return 16ull * h[6];
    default: return 0;
    }
}

bool is_input(std::uint8_t type) {
    return type == 4 || type == 5 || type == 6 || type == 250 || type == 251 || type == 255;
}

}  // namespace

bool RfbInputScanner::feed(std::span<const std::uint8_t> bytes) {
    bool input = false;
    std::size_t i = 0;
    if (!client_init_seen_ && !bytes.empty()) {
        client_init_seen_ = true;
        i = 1;
    }
    while (i < bytes.size()) {
        if (lost_) return true;
        if (skip_ > 0) {
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, bytes.size() - i));
            skip_ -= n;
            i += n;
            continue;
        }
        head_.push_back(bytes[i++]);
        const std::size_t need = fixed_length(head_);
        if (need == unknown) {
            lost_ = true;
            return true;
        }
        if (head_.size() < need) continue;
        // Of QEMU's messages only the key event (sub-type 0) is input, not audio.
        if (is_input(head_[0]) && !(head_[0] == 255 && head_[1] != 0)) input = true;
        skip_ = variable_length(head_);
        head_.clear();
    }
    return input || lost_;
}

}  // namespace rsm::gateway
