#include "scp/frame_reader.hpp"

#include "scp/wire.hpp"

namespace rsm::scp {

std::optional<std::string> FrameReader::check_header() {
    if (buffer_.size() < header_size) return std::nullopt;
    Reader r{std::span(buffer_).first(header_size)};
    const std::uint32_t version = *r.u32();
    const std::uint32_t size = *r.u32();
    if (version > 1) return "unknown SCP version " + std::to_string(version) + " (expected 0 or 1)";
    // v0 replies are at least 14 bytes and requests at least 10 (code + two
    // empty strings); v1 carries a command set and a command (12).
    const std::uint32_t min = version == 0 ? header_size + 2 : header_size + 4;
    if (size < min || size > max_message_size)
        return "SCP message size " + std::to_string(size) + " out of range " + std::to_string(min) + ".." +
               std::to_string(max_message_size);
    return std::nullopt;
}

std::optional<std::string> FrameReader::feed(std::span<const std::uint8_t> bytes) {
    if (error_) return error_;
    // Never hold more than one message and the next one's header: a peer
    // that sends faster than we handle messages is simply not read further
    // by the caller (who reads only after next() returned nothing).
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
    error_ = check_header();
    return error_;
}

std::optional<Frame> FrameReader::next() {
    if (error_ || buffer_.size() < header_size) return std::nullopt;
    Reader r{std::span(buffer_).first(header_size)};
    Frame f;
    f.version = *r.u32();
    const std::uint32_t size = *r.u32();
    if (buffer_.size() < size) return std::nullopt;
    f.body.assign(buffer_.begin() + header_size, buffer_.begin() + size);
    buffer_.erase(buffer_.begin(), buffer_.begin() + size);
    error_ = check_header();  // the header of what follows, if it is there
    return f;
}

}  // namespace rsm::scp
