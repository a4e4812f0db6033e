// Big-endian reading and writing of SCP messages (xrdp's sesman protocol):
// a bounds-checked cursor over untrusted bytes and an appending writer. Every
// read says whether the bytes were there; nothing reads past the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rsm::scp {

class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> bytes) : bytes_{bytes} {}

    std::size_t remaining() const noexcept { return bytes_.size() - pos_; }
    bool at_end() const noexcept { return pos_ == bytes_.size(); }

    std::optional<std::uint8_t> u8();
    std::optional<std::uint16_t> u16();
    std::optional<std::uint32_t> u32();
    // n raw bytes.
    std::optional<std::span<const std::uint8_t>> bytes(std::size_t n);
    // A string with a big-endian u16 length (SCP v0) or a u8 length (SCP v1),
    // at most `max` bytes; nullopt if short or too long.
    std::optional<std::string> string16(std::size_t max);
    std::optional<std::string> string8();

private:
    std::span<const std::uint8_t> bytes_;
    std::size_t pos_ = 0;
};

class Writer {
public:
    Writer& u8(std::uint8_t v);
    Writer& u16(std::uint16_t v);
    Writer& u32(std::uint32_t v);
    Writer& bytes(std::span<const std::uint8_t> b);
    // Patches a u32 written earlier at `offset` (message sizes).
    void put_u32_at(std::size_t offset, std::uint32_t v);
    std::size_t size() const noexcept { return out_.size(); }
    std::vector<std::uint8_t> take() { return std::move(out_); }

private:
    std::vector<std::uint8_t> out_;
};

}  // namespace rsm::scp
