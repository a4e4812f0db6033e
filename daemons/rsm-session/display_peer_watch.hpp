// Whether the display server still holds the gateway's connection, for
// servers that drop it themselves when their client goes: nxagent closes
// the NX connection when it suspends (its client's transport broke), while
// the gateway may keep its control channel (and its end of the socket) for
// a long time, e.g. a gateway that does not watch the stream or is stuck.
// Without this such a session would count as active while nxagent is
// suspended.
//
// The executor keeps a copy of the display connection it handed out (the
// same socket, control_channel.hpp); this watches that copy for the peer's
// close (EPOLLRDHUP, and HUP/ERR) without ever reading from it, so the
// gateway's bytes are untouched. Our own shutdown when a channel is retired
// is not the peer's: it fires too, and the executor ignores it then (the
// serial of the connection is no longer current).
#pragma once

#include <functional>
#include <string>
#include <systemd/sd-event.h>

#include "util/fd.hpp"
#include "util/handles.hpp"

namespace rsm::session {

class DisplayPeerWatch {
public:
    // Watches `display` (a copy of the connection; the watch owns it).
    // `on_closed` runs at most once, from the loop. Throws std::system_error.
    DisplayPeerWatch(sd_event* event, UniqueFd display, std::function<void(const std::string& why)> on_closed);
    DisplayPeerWatch(const DisplayPeerWatch&) = delete;
    DisplayPeerWatch& operator=(const DisplayPeerWatch&) = delete;

private:
    static int on_event(sd_event_source* s, int fd, uint32_t revents, void* userdata) noexcept;

    UniqueFd fd_;
    EventSourcePtr source_;
    std::function<void(const std::string&)> on_closed_;
};

}  // namespace rsm::session
