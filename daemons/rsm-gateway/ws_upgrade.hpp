// The browser's WebSocket opening handshake (RFC 6455, 4.2.1), server
// side: whether a GET's header fields ask for a WebSocket rsm-gateway
// accepts, and what the 101 answer carries. No I/O (fuzzed by
// tests/fuzz/fuzz_ws_upgrade.cpp); libmicrohttpd parses the request, this
// reads only the header values it hands over.
#pragma once

#include <string>
#include <string_view>

namespace rsm::gateway::ws {

// The header fields that matter, "" when absent.
struct UpgradeRequest {
    std::string_view host;
    std::string_view upgrade;     // must list "websocket"
    std::string_view connection;  // must list "upgrade"
    std::string_view key;         // Sec-WebSocket-Key: base64 of 16 bytes
    std::string_view version;     // Sec-WebSocket-Version: "13"
    std::string_view protocols;   // Sec-WebSocket-Protocol: "binary" is chosen when listed
    std::string_view origin;      // a browser's page: must be this server's ("http://" + Host)
};

struct UpgradeAnswer {
    bool ok = false;
    unsigned status = 400;   // when !ok: 400, or 403 for a foreign Origin
    std::string error;       // when !ok: what was wrong (the body of the refusal)
    std::string accept;      // Sec-WebSocket-Accept
    std::string protocol;    // Sec-WebSocket-Protocol to answer, "" for none
};

// `scheme` is the page's ("http", later "https").
UpgradeAnswer check_upgrade(const UpgradeRequest& request, std::string_view scheme);

// Whether a comma-separated header value (RFC 9110, 5.6.1) lists `token`
// (case-insensitive, surrounding spaces and tabs ignored).
bool lists_token(std::string_view value, std::string_view token) noexcept;

}  // namespace rsm::gateway::ws
