// Whether a display server's one gateway is still connected, for servers
// that a gateway reaches by itself rather than through the fd rsm hands out.
//
// xrdp's xup module (SCP v0 code 20) connects straight to xorgxrdp's socket
// XRDP_SOCKET_PATH/xrdp_display_<N>; rsm-scp only holds the control
// channel and never sees that connection go, so without this a code-20
// session would count as connected until it ends. The executor (root)
// asks the kernel instead of touching the world-writable path
// (util/unix_sockets.hpp): the client is there while the display server's
// own process holds a connection accepted on that socket.
//
// Armed at each Connect: "gone" once a connection was seen and none is
// left, or when none came within `arrival_grace` (the gateway failed after
// its reply). Polled every `interval`: a socket closing between two other
// processes raises nothing the executor could wait on.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "util/handles.hpp"

namespace rsm::session {

class DisplayClientWatch {
public:
    static constexpr auto interval = std::chrono::seconds(1);
    static constexpr auto arrival_grace = std::chrono::seconds(30);

    // `on_gone` runs at most once, from the loop (the watch may be destroyed
    // in it only by replacing it later, not from inside). Throws
    // std::system_error if the timer cannot be set up.
    DisplayClientWatch(sd_event* event, pid_t server_pid, std::string socket_path,
                       std::function<void(const std::string& why)> on_gone);
    DisplayClientWatch(const DisplayClientWatch&) = delete;
    DisplayClientWatch& operator=(const DisplayClientWatch&) = delete;

private:
    static int on_tick(sd_event_source* s, uint64_t usec, void* userdata) noexcept;
    void tick(uint64_t now_usec);

    pid_t server_pid_;
    std::string path_;
    std::function<void(const std::string&)> on_gone_;
    uint64_t grace_end_usec_ = 0;
    bool seen_ = false;
    EventSourcePtr timer_;
};

}  // namespace rsm::session
