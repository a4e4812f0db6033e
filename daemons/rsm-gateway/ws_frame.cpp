#include "ws_frame.hpp"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

namespace rsm::gateway::ws {

void Decoder::push(std::span<const std::uint8_t> bytes) {
    if (failed_) return;
    // next() empties the buffer whenever it consumed everything.
    input_.insert(input_.end(), bytes.begin(), bytes.end());
}

Decoder::Result Decoder::fail(std::uint16_t code, std::string why) {
    failed_ = true;
    close_code_ = code;
    error_ = std::move(why);
    input_.clear();
    head_ = 0;
    return Result::error;
}

Decoder::Result Decoder::next(Frame& out) {
    if (failed_) return Result::error;
    const std::uint8_t* p = input_.data() + head_;
    const std::size_t have = buffered();
    if (have < 2) return Result::need_more;
    const bool fin = p[0] & 0x80;
    if (p[0] & 0x70) return fail(close_protocol_error, "reserved bits set (no extension was negotiated)");
    const auto op = static_cast<Opcode>(p[0] & 0x0f);
    const bool masked = p[1] & 0x80;
    std::uint64_t length = p[1] & 0x7f;
    std::size_t header = 2;
    switch (op) {
    case Opcode::continuation:
        if (!in_message_) return fail(close_protocol_error, "continuation frame outside a message");
        break;
    case Opcode::binary:
        if (in_message_) return fail(close_protocol_error, "new message inside a fragmented one");
        break;
    case Opcode::text: return fail(close_unsupported, "text message (RFB is carried in binary messages)");
    case Opcode::close:
    case Opcode::ping:
    case Opcode::pong:
        if (!fin) return fail(close_protocol_error, "fragmented control frame");
        if (length > max_control_payload) return fail(close_protocol_error, "control frame longer than 125 bytes");
        break;
    default: return fail(close_protocol_error, "unknown opcode " + std::to_string(p[0] & 0x0f));
    }
    if (!masked) return fail(close_protocol_error, "unmasked frame from the client");
    if (length == 126) {
        if (have < 4) return Result::need_more;
        length = (std::uint64_t{p[2]} << 8) | p[3];
        header = 4;
        if (length < 126) return fail(close_protocol_error, "length not in its shortest form");
    } else if (length == 127) {
        if (have < 10) return Result::need_more;
        length = 0;
        for (int i = 2; i < 10; ++i) length = (length << 8) | p[i];
        header = 10;
        if (length >> 63) return fail(close_protocol_error, "length with the top bit set");
        if (length <= 0xffff) return fail(close_protocol_error, "length not in its shortest form");
    }
    if (length > max_frame_payload) return fail(close_too_big, "frame of " + std::to_string(length) + " bytes (at most " +
                                                                   std::to_string(max_frame_payload) + ")");
    header += 4;
    if (have < header || have - header < length) return Result::need_more;
    const std::uint8_t* mask = p + header - 4;
    const std::uint8_t* data = p + header;
    out.opcode = op;
    out.fin = fin;
    out.payload.assign(data, data + length);
    for (std::size_t i = 0; i < out.payload.size(); ++i) out.payload[i] ^= mask[i % 4];
    head_ += header + static_cast<std::size_t>(length);
    if (op == Opcode::binary || op == Opcode::continuation) in_message_ = !fin;
    if (head_ == input_.size()) {
        input_.clear();
        head_ = 0;
    } else if (head_ >= 64 * 1024) {
        input_.erase(input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = 0;
    }
    return Result::frame;
}

void encode(Opcode opcode, std::span<const std::uint8_t> payload, std::string& out) {
    out.push_back(static_cast<char>(0x80 | static_cast<std::uint8_t>(opcode)));
    const std::uint64_t n = payload.size();
    if (n < 126) {
        out.push_back(static_cast<char>(n));
    } else if (n <= 0xffff) {
        out.push_back(126);
        out.push_back(static_cast<char>(n >> 8));
        out.push_back(static_cast<char>(n & 0xff));
    } else {
        out.push_back(127);
        for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xff));
    }
    out.append(reinterpret_cast<const char*>(payload.data()), payload.size());
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
    std::string p;
    p.push_back(static_cast<char>(code >> 8));
    p.push_back(static_cast<char>(code & 0xff));
    p.append(reason.substr(0, max_control_payload - 2));
    return p;
}

namespace {

// GnuTLS's base64 (the gateway links it for TLS already).
struct Datum {
    gnutls_datum_t d{nullptr, 0};
    Datum() = default;
    Datum(const Datum&) = delete;
    Datum& operator=(const Datum&) = delete;
    ~Datum() { gnutls_free(d.data); }
};

gnutls_datum_t datum_of(const void* data, std::size_t size) {
    return {static_cast<unsigned char*>(const_cast<void*>(data)), static_cast<unsigned>(size)};
}

}  // namespace

bool valid_key(std::string_view key) noexcept {
    if (key.size() != 24) return false;
    const gnutls_datum_t in = datum_of(key.data(), key.size());
    Datum out;
    return gnutls_base64_decode2(&in, &out.d) == 0 && out.d.size == 16;
}

std::string accept_key(std::string_view key) {
    const std::string text = std::string(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::uint8_t digest[20] = {};
    if (gnutls_hash_fast(GNUTLS_DIG_SHA1, text.data(), text.size(), digest) < 0) return {};
    const gnutls_datum_t in = datum_of(digest, sizeof digest);
    Datum out;
    if (gnutls_base64_encode2(&in, &out.d) < 0) return {};
    return {reinterpret_cast<const char*>(out.d.data), out.d.size};
}

}  // namespace rsm::gateway::ws
