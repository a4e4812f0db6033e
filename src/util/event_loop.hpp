// The event loop of a small front-end daemon (rsm-scp, rsm-broker): the
// thread's default sd-event loop, ended by SIGTERM or SIGINT (blocked, and
// delivered through the loop), with SIGPIPE ignored so that a peer that
// goes away costs a write an EPIPE, not the process.
#pragma once

#include <string>
#include <vector>

#include "util/fd.hpp"
#include "util/handles.hpp"

namespace rsm {

// Throws std::system_error if the loop or its signal sources cannot be made.
EventPtr loop_ended_by_signals();

// The listening stream sockets systemd passed (socket activation). Throws
// std::runtime_error if there are none ("no listening sockets passed
// (<unit>)") or one is not a listening stream socket.
std::vector<UniqueFd> passed_listeners(const std::string& unit);

// Tells systemd READY=1 with `status`, runs the loop until a signal ends it,
// then STOPPING=1. Returns the process's exit status (1 if the loop failed,
// logged).
int serve_until_signal(sd_event* event, const std::string& status);

}  // namespace rsm
