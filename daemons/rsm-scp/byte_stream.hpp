// A non-blocking stream socket in the event loop, with bounded buffers in
// both directions. The owner reads what arrived from input(), consumes it,
// and queues bytes with write(); it hears about new input, the peer closing
// and the output draining through callbacks. Callbacks run from the loop and
// may not destroy the stream themselves (owners defer their teardown; see
// ScpServer::retire in scp_server.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "util/fd.hpp"
#include "util/handles.hpp"

namespace rsm::scp_daemon {

class ByteStream {
public:
    // max_input: input() never grows beyond it; reading stops until the
    // owner consumes (back-pressure towards the peer).
    ByteStream(sd_event* event, UniqueFd fd, std::size_t max_input);
    ByteStream(const ByteStream&) = delete;
    ByteStream& operator=(const ByteStream&) = delete;

    std::function<void()> on_input;   // new bytes in input()
    std::function<void()> on_closed;  // a socket error, or EOF when on_eof is not set
    // The peer shut down its sending side (TCP half-close) but may still
    // read: if set, called instead of on_closed, and writing goes on.
    std::function<void()> on_eof;
    // The output buffer became empty by sending from the loop (never from
    // inside write(): check pending_output() after it).
    std::function<void()> on_drained;

    std::span<const std::uint8_t> input() const noexcept { return input_; }
    void consume(std::size_t n);
    // Queues bytes; sends as much as the socket takes now. Returns false if
    // the output buffer would exceed max_output (the caller stops reading
    // its source until on_drained) - the bytes are queued anyway.
    bool write(std::span<const std::uint8_t> bytes);
    bool write(std::string_view s) {
        return write(std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
    }
    std::size_t pending_output() const noexcept { return output_.size(); }
    bool input_full() const noexcept { return input_.size() >= max_input_; }
    bool closed() const noexcept { return closed_; }
    int fd() const noexcept { return fd_.get(); }
    // Re-evaluates what to poll for (after consume() made room).
    void update();

    static constexpr std::size_t max_output = 256 * 1024;

private:
    static int on_io(sd_event_source*, int, std::uint32_t revents, void* self);
    void read_some();
    void write_some(bool notify);
    void mark_closed();

    UniqueFd fd_;
    EventSourcePtr source_;
    std::vector<std::uint8_t> input_;
    std::vector<std::uint8_t> output_;
    std::size_t max_input_;
    bool closed_ = false;
    bool eof_ = false;
};

}  // namespace rsm::scp_daemon
