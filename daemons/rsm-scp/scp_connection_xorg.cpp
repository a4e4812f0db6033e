// SCP v0 code 20 (Xorg + xorgxrdp): the accept reply, and the session's
// control channel held for as long as rsm can tell the session is in use.
//
// xrdp's xup module connects by itself to xorgxrdp's own socket,
// XRDP_SOCKET_PATH/xrdp_display_<N> (/run/xrdp/sockdir in Debian's build):
// rsm's [display.xorg] puts XRDP_SOCKET_PATH in Xorg's environment, and
// CreateSession answers only once Xorg reported its display on -displayfd,
// which xorgxrdp's screen init (where it starts listening) precedes. So
// there is nothing to relay: ConnectSession's X11 display fd is dropped.
//
// Disconnection: xrdp 0.9 has no CCP, closes the SCP connection after the
// reply, and its connection to xorgxrdp is between two of the user's and
// xrdp's processes that rsm-scp (an unprivileged DynamicUser) cannot see.
// The session's executor watches it ([display.xorg] client_socket,
// daemons/rsm-session/display_client_watch.hpp) and closes the control
// channel when it goes; rsm-scp holds the channel until then.
#include <sys/epoll.h>
#include <sys/random.h>

#include "scp_connection.hpp"
#include "util/log.hpp"

namespace rsm::scp_daemon {

void ScpConnection::accept_xorg(gateway::GatewayOutcome o) {
    if (o.protocol != "x11" || o.display_number > 65535)
        return deny("session " + o.session_id + " is not an X11 display");
    scp::Guid guid{};
    if (getrandom(guid.data(), guid.size(), 0) != static_cast<ssize_t>(guid.size())) return deny("getrandom failed");
    o.display.reset();
    control_ = std::move(o.control);
    sd_event_source* s = nullptr;
    if (sd_event_add_io(event_, &s, control_.get(), EPOLLIN | EPOLLRDHUP, &ScpConnection::on_control_event, this) <
        0) {
        control_.reset();
        return deny("cannot watch the session's control channel");
    }
    control_watch_.reset(s);
    relay_done_ = false;  // this object lives on with the control channel
    log::info("SCP v0 accept", {{"RSM_USER", user_},
                                {"RSM_SESSION_ID", o.session_id},
                                {"RSM_SESSION_REUSED", o.reused ? "yes" : "no"},
                                {"RSM_DISPLAY", std::to_string(o.display_number)},
                                {"RSM_SCP_CODE", scp::to_string(code_)}});
    replied_ = true;
    send_reply(scp::encode_v0_accept(static_cast<std::uint16_t>(o.display_number), guid));
}

int ScpConnection::on_control_event(sd_event_source*, int, std::uint32_t, void* self) {
    auto* c = static_cast<ScpConnection*>(self);
    log::info("The session's control channel closed", {{"RSM_SESSION_ID", c->session_id_}, {"RSM_USER", c->user_}});
    // Not destroyed inside its own callback: disabled, then dropped with us.
    sd_event_source_set_enabled(c->control_watch_.get(), SD_EVENT_OFF);
    c->control_.reset();
    c->relay_done_ = true;
    c->maybe_retire();
    return 0;
}

}  // namespace rsm::scp_daemon
