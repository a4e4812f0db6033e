#include "session_timers.hpp"

#include <ctime>

#include "bus/error.hpp"
#include "util/log.hpp"

namespace rsm::session {

const char* to_string(Timer t) noexcept {
    switch (t) {
    case Timer::startup: return "startup";
    case Timer::lifetime: return "lifetime";
    case Timer::disconnected: return "disconnected";
    case Timer::idle: return "idle";
    }
    return "unknown";
}

SessionTimers::SessionTimers(sd_event* event, Limits limits, std::function<void(Timer)> on_expired)
    : event_{event},
      limits_{limits.startup_usec, limits.lifetime_usec, limits.disconnected_usec, limits.idle_usec},
      on_expired_{std::move(on_expired)} {
    for (std::size_t i = 0; i < timer_count; ++i) {
        slots_[i].owner = this;
        slots_[i].which = static_cast<Timer>(i);
    }
}

void SessionTimers::arm(Timer t) {
    Slot& slot = slots_[index(t)];
    const uint64_t usec = limits_[index(t)];
    if (usec == 0) return;
    if (!slot.source) {
        sd_event_source* s = nullptr;
        // Accuracy 0: sd-event's default (250 ms); none of these needs more.
        bus::check(sd_event_add_time_relative(event_, &s, CLOCK_MONOTONIC, usec, 0, &SessionTimers::on_time, &slot),
                   "sd_event_add_time_relative");
        slot.source.reset(s);
        return;
    }
    bus::check(sd_event_source_set_time_relative(slot.source.get(), usec), "sd_event_source_set_time_relative");
    bus::check(sd_event_source_set_enabled(slot.source.get(), SD_EVENT_ONESHOT), "sd_event_source_set_enabled");
}

void SessionTimers::disarm(Timer t) {
    if (auto& s = slots_[index(t)].source) sd_event_source_set_enabled(s.get(), SD_EVENT_OFF);
}

void SessionTimers::disarm_all() {
    for (std::size_t i = 0; i < timer_count; ++i) disarm(static_cast<Timer>(i));
}

bool SessionTimers::armed(Timer t) const {
    const auto& s = slots_[index(t)].source;
    int enabled = SD_EVENT_OFF;
    return s && sd_event_source_get_enabled(s.get(), &enabled) >= 0 && enabled != SD_EVENT_OFF;
}

int SessionTimers::on_time(sd_event_source*, uint64_t, void* userdata) noexcept {
    auto* slot = static_cast<Slot*>(userdata);
    // A time source is ONESHOT by default: it is off now.
    try {
        slot->owner->on_expired_(slot->which);
    } catch (const std::exception& e) {
        log::error(std::string("Handling the ") + to_string(slot->which) + " timer failed",
                   {{"RSM_ERROR", e.what()}});
    }
    return 0;
}

}  // namespace rsm::session
