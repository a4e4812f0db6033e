// A browser on the gateway's port (the client spoke HTTP first): noVNC's
// files from the configured root (static_files.hpp), and GET /websockify
// upgraded to a WebSocket (ws_upgrade.hpp) that carries the same RFB login
// as a VNC viewer's (serve_rfb over ClientLink's WebSocket mode).
//
// HTTP is libmicrohttpd's (src/http), on an sd-event loop that serves this
// one connection: keep-alive requests until the browser closes it, it is
// idle for half a second after an answer (a page load's connections, a
// process each, end with the load), a silent connection's timeout or the
// authentication deadline; or until a WebSocket upgrade, after which the loop has done its part and the RFB path runs
// on the upgraded socket as for any viewer. HTTPS is the same behind the
// gateway's TLS (tls_entry.hpp, tls_pump.hpp).
#pragma once

#include <span>

#include "rfb_session.hpp"
#include "util/fd.hpp"

namespace rsm::gateway {

// The path noVNC opens its WebSocket on (its default, "path=websockify").
inline constexpr std::string_view websocket_path = "/websockify";

// The process's exit status.
int serve_web(UniqueFd connection, const RfbOptions& options);
// HTTPS: the same on the browser's TLS link (tls_entry.hpp, the handshake
// done), `first` the decrypted bytes read to tell the protocol. MHD serves
// one end of a socket pair that tls_pump.hpp feeds; a WebSocket upgrade
// hands the TLS link itself to the RFB path, where VeNCrypt Plain is then
// allowed from any address (the password travels inside TLS).
int serve_web(ClientLink& tls_link, std::span<const std::uint8_t> first, const RfbOptions& options);

}  // namespace rsm::gateway
