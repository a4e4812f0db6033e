#include "scp/wire.hpp"

namespace rsm::scp {

std::optional<std::uint8_t> Reader::u8() {
    if (remaining() < 1) return std::nullopt;
    return bytes_[pos_++];
}

std::optional<std::uint16_t> Reader::u16() {
    if (remaining() < 2) return std::nullopt;
    const auto v = static_cast<std::uint16_t>((bytes_[pos_] << 8) | bytes_[pos_ + 1]);
    pos_ += 2;
    return v;
}

std::optional<std::uint32_t> Reader::u32() {
    if (remaining() < 4) return std::nullopt;
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | bytes_[pos_++];
    return v;
}

std::optional<std::span<const std::uint8_t>> Reader::bytes(std::size_t n) {
    if (remaining() < n) return std::nullopt;
    auto out = bytes_.subspan(pos_, n);
    pos_ += n;
    return out;
}

std::optional<std::string> Reader::string16(std::size_t max) {
    const auto len = u16();
    if (!len || *len > max) return std::nullopt;
    const auto b = bytes(*len);
    if (!b) return std::nullopt;
    return std::string(b->begin(), b->end());
}

std::optional<std::string> Reader::string8() {
    const auto len = u8();
    if (!len) return std::nullopt;
    const auto b = bytes(*len);
    if (!b) return std::nullopt;
    return std::string(b->begin(), b->end());
}

Writer& Writer::u8(std::uint8_t v) {
    out_.push_back(v);
    return *this;
}

Writer& Writer::u16(std::uint16_t v) {
    out_.push_back(static_cast<std::uint8_t>(v >> 8));
    out_.push_back(static_cast<std::uint8_t>(v));
    return *this;
}

Writer& Writer::u32(std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out_.push_back(static_cast<std::uint8_t>(v >> shift));
    return *this;
}

Writer& Writer::bytes(std::span<const std::uint8_t> b) {
    out_.insert(out_.end(), b.begin(), b.end());
    return *this;
}

void Writer::put_u32_at(std::size_t offset, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.at(offset + static_cast<std::size_t>(i)) = static_cast<std::uint8_t>(v >> (24 - 8 * i));
}

}  // namespace rsm::scp
