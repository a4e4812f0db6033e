// The session's time limits, kept by the executor (not the manager) so that
// they keep running while the manager restarts. sd-event time sources on
// CLOCK_MONOTONIC; a limit of 0 turns its timer off.
//
//   startup       StartSession until the display is ready
//   lifetime      StartSession until the session is ended, whatever happens
//   disconnected  how long the session may stay without a gateway
//   idle          how long a gateway may hold the session without ReportActivity
//
// The executor decides what an expiry means; this class only counts.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <systemd/sd-event.h>

#include "util/handles.hpp"

namespace rsm::session {

enum class Timer { startup, lifetime, disconnected, idle };
inline constexpr std::size_t timer_count = 4;
const char* to_string(Timer t) noexcept;

class SessionTimers {
public:
    struct Limits {
        uint64_t startup_usec = 0;
        uint64_t lifetime_usec = 0;
        uint64_t disconnected_usec = 0;
        uint64_t idle_usec = 0;
    };

    // `on_expired` runs from the loop; a timer that fired is disarmed first.
    SessionTimers(sd_event* event, Limits limits, std::function<void(Timer)> on_expired);
    SessionTimers(const SessionTimers&) = delete;
    SessionTimers& operator=(const SessionTimers&) = delete;

    // (Re)starts t's countdown from now. With a limit of 0 it runs without
    // ever expiring, so that a later set_limit() counts from this start.
    void arm(Timer t);
    // A new limit for t (a configuration reload). A running countdown keeps
    // its start: it now ends at start + usec (at once if that has passed);
    // 0 keeps it from expiring. Otherwise the limit applies at the next arm().
    void set_limit(Timer t, uint64_t usec);
    void disarm(Timer t);
    void disarm_all();
    bool armed(Timer t) const;
    uint64_t limit(Timer t) const noexcept { return limits_[index(t)]; }

private:
    static constexpr std::size_t index(Timer t) noexcept { return static_cast<std::size_t>(t); }
    static int on_time(sd_event_source* s, uint64_t usec, void* userdata) noexcept;
    struct Slot;
    void schedule(Slot& slot);

    struct Slot {
        SessionTimers* owner = nullptr;
        Timer which = Timer::startup;
        EventSourcePtr source;
        uint64_t armed_at_usec = 0;  // CLOCK_MONOTONIC of the last arm()
        bool running = false;        // armed, not yet expired or disarmed
    };

    sd_event* event_;
    std::array<uint64_t, timer_count> limits_;
    std::function<void(Timer)> on_expired_;
    std::array<Slot, timer_count> slots_;
};

}  // namespace rsm::session
