// The viewer and the session's display server, bytes both ways, until
// either side closes or rsm closes the session's control channel (another
// viewer took the session over, or it is ending). Bounded: each direction
// buffers at most relay_buffer bytes, after which the sending side is not
// read until the receiving side has taken some (TCP back-pressure). The
// viewer's input restarts the session's idle timer (ReportActivity).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "client_link.hpp"

namespace rsm::gateway {

inline constexpr std::size_t relay_buffer = 256 * 1024;

// Which of the viewer's bytes are input (rfb_input.hpp for RFB); empty:
// all of them.
using InputFilter = std::function<bool(std::span<const std::uint8_t>)>;

// Returns why it ended. The viewer's input is reported to rsm on the
// control channel (activity_report.hpp: the session's idle timer).
std::string relay(ClientLink& viewer, int display_fd, int control_fd, InputFilter is_input = {});

}  // namespace rsm::gateway
