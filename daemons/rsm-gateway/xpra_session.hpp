// One xpra client (xpra attach tcp://USER@HOST:PORT/), from its first hello
// to the end of the relay:
//   1. the client's hello (rencode or bencode, zlib or none): its user name,
//      with the selector of the RFB path ("alice", "alice:new",
//      "alice:<id prefix>", docs/rsm-gateway.md) and its "display"
//      (--display=:N: with a plain user name, the user's session there);
//   2. a challenge with a fresh salt: digest "xor" (the password is needed
//      for PAM; xpra_auth.hpp says why), offered only on loopback: a remote
//      client over plain TCP gets a disconnect saying so;
//   3. the response hello: the password, the login through rsm and the
//      session (display type "xpra"); a refused login gets
//      ["disconnect", "authentication failed"];
//   4. the response hello, unchanged, to the session's xpra server (which
//      has no authentication of its own on its socket), then the relay.
// All of 1-3 within the authentication deadline.
#pragma once

#include <string>

#include "gateway_config.hpp"
#include "util/fd.hpp"

namespace rsm::gateway {

struct XpraOptions {
    GatewayConfig config;
    std::string gateway_socket;
    std::string client_address;
    bool loopback = false;
};

// The process's exit status.
int serve_xpra(UniqueFd connection, const XpraOptions& options);

}  // namespace rsm::gateway
