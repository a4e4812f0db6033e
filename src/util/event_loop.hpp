// The event loop of a small front-end daemon (rsm-scp, rsm-broker): the
// thread's default sd-event loop, ended by SIGTERM or SIGINT (blocked, and
// delivered through the loop), with SIGPIPE ignored so that a peer that
// goes away costs a write an EPIPE, not the process.
#pragma once

#include "util/handles.hpp"

namespace rsm {

// Throws std::system_error if the loop or its signal sources cannot be made.
EventPtr loop_ended_by_signals();

}  // namespace rsm
