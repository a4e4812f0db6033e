// The viewer and the session's display server, bytes both ways, until
// either side closes or rsm closes the session's control channel (another
// viewer took the session over, or it is ending). Bounded: each direction
// buffers at most relay_buffer bytes, after which the sending side is not
// read until the receiving side has taken some (TCP back-pressure).
#pragma once

#include <cstddef>
#include <string>

#include "client_link.hpp"

namespace rsm::gateway {

inline constexpr std::size_t relay_buffer = 256 * 1024;

// Returns why it ended.
std::string relay(ClientLink& viewer, int display_fd, int control_fd);

}  // namespace rsm::gateway
