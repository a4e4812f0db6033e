// One VNC viewer, from the greeting to the end of the relay:
//   1. RFB 3.8 greeting; VeNCrypt with X509Plain (a certificate configured),
//      TLSPlain, and Plain only from loopback (RfbHandshake);
//   2. TLS (GnuTLS) when the sub-type asks for it, then user and password,
//      all within the authentication deadline;
//   3. the login through rsm and the session by the user-name selector
//      (login_and_attach); a failure gets SecurityResult "failed" with a
//      reason ("Authentication failed" for a refused login);
//   4. the handshake with the session's Xvnc (security None), then
//      SecurityResult OK to the viewer, and the relay: ClientInit, ServerInit
//      and everything after pass through unchanged.
#pragma once

#include <string>

#include "client_link.hpp"
#include "gateway_config.hpp"
#include "util/fd.hpp"

namespace rsm::gateway {

struct RfbOptions {
    GatewayConfig config;
    std::string gateway_socket;
    std::string client_address;
    bool loopback = false;
    // When the authentication deadline started (now_usec()); 0: at serve_rfb.
    std::uint64_t started_usec = 0;
};

// The process's exit status.
int serve_rfb(UniqueFd connection, const RfbOptions& options);
// The same on a link set up already: a browser's WebSocket
// (web_session.hpp). Over a WebSocket only Plain is offered (noVNC 1.3
// knows no other VeNCrypt sub-type, and TLS would have to run inside the
// frames), so only to a loopback client or inside the gateway's TLS
// (HTTPS); any other gets a reason instead.
int serve_rfb(ClientLink& link, const RfbOptions& options);

}  // namespace rsm::gateway
