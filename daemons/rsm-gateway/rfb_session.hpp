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

#include "gateway_config.hpp"
#include "util/fd.hpp"

namespace rsm::gateway {

struct RfbOptions {
    GatewayConfig config;
    std::string gateway_socket;
    std::string client_address;
    bool loopback = false;
};

// The process's exit status.
int serve_rfb(UniqueFd connection, const RfbOptions& options);

}  // namespace rsm::gateway
