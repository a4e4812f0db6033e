// A bound on how many rsm processes are inside pam_open_session() or
// pam_close_session() at once, across all sessions.
//
// pam_systemd opens a connection to the system bus as root in both calls
// (CreateSession, ReleaseSession). dbus-daemon accepts at most 256
// connections per uid and 64 that have not finished authenticating; ending
// 1000 sessions at once had ~700 of them fail with "Failed to release
// session: No buffer space available" (LimitsExceeded). A slot is an
// exclusive flock() on one of `slots` files in a root-only directory: the
// kernel releases it when its holder exits, however it exits, so a crashed
// leader never keeps one. Waiting for a slot has a deadline; at the deadline
// the caller goes on without one (a bounded wait, never a lost session end).
#pragma once

#include <chrono>
#include <string>

#include "util/fd.hpp"

namespace rsm::pam {

inline constexpr unsigned session_call_slots = 32;

class SessionCallSlot {
public:
    // Takes a free slot in `dir` (created 0700 if missing; it must be a
    // directory of root's, never a symlink), waiting for one up to
    // `timeout`. Never throws: without a slot (no such directory and not
    // root, the deadline) held() is false and the caller goes on.
    static SessionCallSlot take(const std::string& dir, std::chrono::milliseconds timeout,
                                unsigned slots = session_call_slots) noexcept;

    SessionCallSlot() = default;
    bool held() const noexcept { return static_cast<bool>(lock_); }
    // Gives the slot back (also on destruction).
    void release() noexcept { lock_.reset(); }

private:
    explicit SessionCallSlot(UniqueFd lock) : lock_{std::move(lock)} {}
    UniqueFd lock_;
};

}  // namespace rsm::pam
