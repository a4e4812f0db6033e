// The session leader process itself: the forked child's side of
// session_leader.hpp (which is the executor's side). Private to the two.
//
// The leader is single-threaded and never touches the executor's sd-event or
// sd-bus objects (they are the parent's copies); it waits with a signalfd and
// poll(). See session_leader.hpp for what it does and docs/design-notes.md
// ("How a session ends") for the order of its end.
#pragma once

#include <string>
#include <string_view>
#include <sys/types.h>

#include "pam/pam_handle.hpp"
#include "session_leader.hpp"
#include "util/fd.hpp"

namespace rsm::session::leader {

// The status pipe's line words (session_leader.hpp has the grammar).
inline constexpr std::string_view opened_word = "opened";
inline constexpr std::string_view ready_word = "ready";
inline constexpr std::string_view exit_word = "exit";

// A field of a line: "-" stands for empty.
inline std::string field(const std::string& s) { return s.empty() ? "-" : s; }
inline std::string unfield(std::string_view s) { return s == "-" ? std::string{} : std::string{s}; }

// Runs the leader in the child right after fork(): `status` is the write end
// of the status pipe, `executor` the parent's pid. First closes what it
// inherited and does not need (spec.manager_link_fd's socket among them).
// Never returns; exits 0 once the PAM session is closed.
[[noreturn]] void run(pam::Handle& pam, LeaderSpec spec, UniqueFd status, pid_t executor) noexcept;

}  // namespace rsm::session::leader
