// Telling the protocols on rsm-gateway's one port apart. RFB viewers say
// nothing until the server's greeting; HTTP clients (browsers, noVNC's
// WebSocket), TLS clients (HTTPS, xpra over TLS) and xpra clients speak as
// soon as they have connected. So the gateway waits a short while for a
// first byte: silence means RFB, bytes are classified by what they start
// with (docs/rsm-gateway.md: RFB, HTTP for noVNC, xpra, TLS). The caller
// only peeks at them: whichever path serves the client reads them again.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace rsm::gateway {

enum class FirstBytes { silent, http, tls, xpra, unknown };
std::string_view to_string(FirstBytes p) noexcept;

// How long a client may take to speak first. A client that speaks first
// sends right after its ACK of the handshake, so its bytes normally arrive
// with it; the budget covers a retransmission of that first segment (Linux's
// minimum RTO is 200 ms) plus a slow start of the client program. It is
// also what every VNC viewer waits for the greeting, once per connection.
inline constexpr std::uint64_t sniff_timeout_usec = 500'000;

// Classifies the first bytes a client sent (at least one).
FirstBytes classify_first_bytes(std::span<const std::uint8_t> bytes) noexcept;

}  // namespace rsm::gateway
