// A client that opens with a TLS ClientHello (sniff.hpp): TLS first, with
// the certificate of gateway.toml's [tls] (GnuTLS, ClientLink::start_tls,
// the code VeNCrypt's X509Plain uses), then the first decrypted bytes tell
// the protocol inside, as the first plain bytes do outside:
//   - an xpra packet header ('P'): xpra's "ssl" socket type
//     (xpra attach ssl://USER@HOST:PORT/), served by xpra_session.hpp, where
//     a password login is allowed from any address since the link is
//     encrypted;
//   - an HTTP request: HTTPS for browsers (noVNC and its WebSocket, wss://),
//     served by web_session.hpp through tls_pump.hpp;
//   - anything else: closed, with the journal line "protocol inside TLS not
//     served yet".
// All within the authentication deadline. Without a configured
// certificate, main.cpp does not come here (anonymous TLS, which VeNCrypt's
// TLSPlain uses, is not what a TLS client of the web or of xpra accepts).
#pragma once

#include "util/fd.hpp"
#include "xpra_session.hpp"

namespace rsm::gateway {

// The process's exit status.
int serve_tls(UniqueFd connection, const XpraOptions& options);

}  // namespace rsm::gateway
