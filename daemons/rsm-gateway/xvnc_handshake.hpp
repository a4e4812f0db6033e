// The server-facing RFB handshake on the session's display fd: rsm's Xvnc
// listens only on a private unix socket and offers security type None (the
// socket is the authentication: only rsm hands it out). Stops right before
// ClientInit, which the viewer sends and the relay forwards.
#pragma once

#include <cstdint>
#include <string>

namespace rsm::gateway {

// "" on success, else what went wrong. The fd is made non-blocking.
std::string xvnc_handshake(int display_fd, std::uint64_t deadline_usec);

inline constexpr std::uint64_t xvnc_handshake_timeout_usec = 10'000'000;

}  // namespace rsm::gateway
