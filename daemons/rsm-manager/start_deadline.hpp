// The deadline of one session start (Gateway1.CreateSession of a new
// session): each step the manager waits for gets a bound, and when it passes
// the start is abandoned and cleaned up (session_start_timeout.cpp).
//
//   account_check   a new executor's account-mode Login (NSS, pam_acct_mgmt):
//                   gateway.login_timeout, the bound of every login
//   scope           systemd's JobRemoved for the session scope's start job:
//                   session.startup_timeout
//   start_session   the executor's StartSession reply (PAM session, display
//                   server, session program): session.startup_timeout + 30 s,
//                   so that the executor's own startup timer (startup_timeout,
//                   which gives the better reason) fires first
//
// One timer per start, re-armed for each step; never blocks the loop.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <systemd/sd-event.h>

#include "util/handles.hpp"

namespace rsm::manager {

enum class StartStep { account_check, scope, start_session };

// "account-check", "scope", "start-session" (the journal's RSM_START_STEP=).
const char* to_string(StartStep step) noexcept;
std::optional<StartStep> start_step_from_string(std::string_view s) noexcept;

// The margin start_session gets beyond session.startup_timeout.
inline constexpr uint64_t start_session_margin_usec = 30'000'000;

// What the gateway and the journal are told when `step` did not finish
// within `timeout_usec`.
std::string start_timeout_message(StartStep step, uint64_t timeout_usec);

class StartDeadline {
public:
    // `expired(step, timeout_usec)` runs from the loop when an armed deadline
    // passes (at most once per arm()); it may destroy the StartDeadline.
    using Expired = std::function<void(StartStep step, uint64_t timeout_usec)>;

    // `event` must outlive this.
    StartDeadline(sd_event* event, Expired expired);
    StartDeadline(const StartDeadline&) = delete;
    StartDeadline& operator=(const StartDeadline&) = delete;

    // Waits `timeout_usec` (from now) for `step`, replacing the deadline of
    // the step before. Throws std::system_error.
    void arm(StartStep step, uint64_t timeout_usec);
    // The start finished (or failed otherwise): no deadline any more.
    void cancel() noexcept;
    // The step being waited for, or nullopt when not armed.
    std::optional<StartStep> step() const noexcept;

private:
    static int on_timer(sd_event_source* s, uint64_t usec, void* userdata) noexcept;

    sd_event* event_;
    Expired expired_;
    StartStep step_ = StartStep::account_check;
    uint64_t timeout_usec_ = 0;
    EventSourcePtr timer_;
};

}  // namespace rsm::manager
