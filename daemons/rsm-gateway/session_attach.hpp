// From the viewer's credentials to the session's display socket, through
// rsm-manager's gateway socket: LoginWithPassword with the viewer's address
// (GatewayClient, shared with rsm-scp), then the user-name selector
// ("alice", "alice:new", "alice:<id prefix>") turned into CreateSession's
// options (the prefix resolved with ListSessions, which is why this step is
// not GatewayClient's own login-create-connect chain), and ConnectSession.
//
// Blocking with a deadline: rsm-gateway serves one viewer per process
// (units/rsm-gateway@.service.in), so waiting here blocks nobody else.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gateway_config.hpp"
#include "rfb_handshake.hpp"
#include "util/fd.hpp"

namespace rsm::gateway {

struct AttachResult {
    bool ok = false;
    // What the viewer is told on failure (RFB SecurityResult reason).
    std::string viewer_reason;
    std::string log_error;  // the D-Bus error, for the journal
    std::string session_id;
    bool reused = false;
    std::string type;  // the session's display type
    UniqueFd display;  // to the session's display server (RFB to Xvnc, xpra's socket)
    UniqueFd control;  // org.rsm.SessionControl1; closing it disconnects
};

// `type`: the display type of a new session ("xvnc" for VNC viewers,
// "xpra" for xpra clients); a reused one must be of that type too.
// `display` (":N", xpra's --display): with the plain "USER" selector, the
// user's session on that display, else a failure saying there is none.
// `named_types`: the types a session named by id prefix or display may
// have besides `type` (xpra clients show "xpra" and "xpra-desktop" alike);
// any other type is refused with a reason.
AttachResult login_and_attach(const GatewayConfig& config, const std::string& gateway_socket,
                              const UserSelector& selector, std::string password, const std::string& client_address,
                              std::uint64_t deadline_usec, const std::string& type = "xvnc",
                              const std::string& display = "", const std::vector<std::string>& named_types = {});

}  // namespace rsm::gateway
