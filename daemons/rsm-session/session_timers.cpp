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
    bus::check(sd_event_now(event_, CLOCK_MONOTONIC, &slot.armed_at_usec), "sd_event_now");
    slot.running = true;
    schedule(slot);
}

// The countdown of a running slot ends at armed_at + limit; a limit of 0
// keeps it running without a time source (a reload may set one later).
void SessionTimers::schedule(Slot& slot) {
    const uint64_t usec = limits_[index(slot.which)];
    if (usec == 0) {
        if (slot.source) sd_event_source_set_enabled(slot.source.get(), SD_EVENT_OFF);
        return;
    }
    const uint64_t at = slot.armed_at_usec + usec;
    if (!slot.source) {
        sd_event_source* s = nullptr;
        // Accuracy 0: sd-event's default (250 ms); none of these needs more.
        bus::check(sd_event_add_time(event_, &s, CLOCK_MONOTONIC, at, 0, &SessionTimers::on_time, &slot),
                   "sd_event_add_time");
        slot.source.reset(s);
        return;
    }
    bus::check(sd_event_source_set_time(slot.source.get(), at), "sd_event_source_set_time");
    bus::check(sd_event_source_set_enabled(slot.source.get(), SD_EVENT_ONESHOT), "sd_event_source_set_enabled");
}

void SessionTimers::set_limit(Timer t, uint64_t usec) {
    limits_[index(t)] = usec;
    Slot& slot = slots_[index(t)];
    if (slot.running) schedule(slot);
}

void SessionTimers::disarm(Timer t) {
    Slot& slot = slots_[index(t)];
    slot.running = false;
    if (slot.source) sd_event_source_set_enabled(slot.source.get(), SD_EVENT_OFF);
}

void SessionTimers::disarm_all() {
    for (std::size_t i = 0; i < timer_count; ++i) disarm(static_cast<Timer>(i));
}

bool SessionTimers::armed(Timer t) const {
    const Slot& slot = slots_[index(t)];
    return slot.running && limits_[index(t)] != 0;
}

int SessionTimers::on_time(sd_event_source*, uint64_t, void* userdata) noexcept {
    auto* slot = static_cast<Slot*>(userdata);
    // A time source is ONESHOT by default: it is off now.
    slot->running = false;
    try {
        slot->owner->on_expired_(slot->which);
    } catch (const std::exception& e) {
        log::error(std::string("Handling the ") + to_string(slot->which) + " timer failed",
                   {{"RSM_ERROR", e.what()}});
    }
    return 0;
}

}  // namespace rsm::session
