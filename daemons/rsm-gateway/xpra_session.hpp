// One xpra client (xpra attach tcp://USER@HOST:PORT/, or ssl://... through
// tls_entry.hpp), from its first hello to the end of the relay:
//   1. the client's hello (rencode or bencode, zlib or none): which session
//      it wants (xpra_target.hpp: the user name's selector, "display",
//      "start-new-session");
//   2. a challenge with a fresh salt: digest "xor" (the password is needed
//      for PAM; xpra_auth.hpp says why), offered only over TLS or on
//      loopback: a remote client over plain TCP gets a disconnect saying so;
//   3. the response hello: the password, the login through rsm and the
//      session (display type "xpra" or "xpra-desktop"); a refused login gets
//      ["disconnect", "authentication failed"];
//   4. the response hello, unchanged, to the session's xpra server (which
//      has no authentication of its own on its socket), then the relay.
// All of 1-3 within the authentication deadline.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "client_link.hpp"
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
// On a link already set up (TLS done): `already_read` is what was read of
// the client's first bytes to tell the protocol; `deadline` (CLOCK_MONOTONIC,
// usec) the connection's authentication deadline, which the TLS handshake
// counted against too.
int serve_xpra(ClientLink& link, const XpraOptions& options, std::string_view already_read, std::uint64_t deadline);

}  // namespace rsm::gateway
