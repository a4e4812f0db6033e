// After "bye": the client's stream (stdin/stdout, the SSH channel) relayed
// to and from the session's NX stream (ConnectSession's display fd) inside
// rsm-nxserver, on its event loop: one bounded buffer per direction, a side
// is read only while its buffer has room, so neither peer can make the
// relay hold more than 2 x buffer_size. The relay ends at the first EOF or
// error on any side (the NX transport has no half-close).
#pragma once

#include <functional>
#include <string>

#include "util/handles.hpp"

namespace rsm::nx {

class StreamRelay {
public:
    static constexpr std::size_t buffer_size = 256 * 1024;
    using Done = std::function<void(std::string why)>;
    // in/out: the client's (non-blocking); peer: the session's socket.
    // `first`: bytes the client sent after its "bye" line, for the peer.
    StreamRelay(sd_event* event, int in, int out, int peer, std::string first, Done done);
    StreamRelay(const StreamRelay&) = delete;
    StreamRelay& operator=(const StreamRelay&) = delete;

    std::uint64_t to_session() const noexcept { return up_total_; }
    std::uint64_t to_client() const noexcept { return down_total_; }

private:
    static int on_io(sd_event_source* s, int fd, std::uint32_t revents, void* self);
    void pump(int fd, std::uint32_t revents);
    void update();
    void finish(std::string why);

    int in_, out_, peer_;
    std::string up_, down_;  // client -> session, session -> client
    std::uint64_t up_total_ = 0, down_total_ = 0;
    EventSourcePtr in_src_, out_src_, peer_src_;
    Done done_;
};

}  // namespace rsm::nx
