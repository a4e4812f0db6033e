// Executor1.SetLimits: a configuration reload reaches a running session.
// The manager sends the [session] limits it now has; a countdown that is
// running keeps its start (a session disconnected for an hour whose
// disconnected_timeout drops to ten minutes ends now), see
// SessionTimers::set_limit.
#include "executor.hpp"

#include "bus/error.hpp"
#include "session_info.hpp"

namespace rsm::session {

int Executor::method_set_limits(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept {
    return bus::reply_errors(error, [&] { return static_cast<Executor*>(userdata)->set_limits(m); });
}

int Executor::set_limits(sd_bus_message* m) {
    // Read, validate.
    const LimitChanges l = read_limit_changes(m);
    require_running("SetLimits");
    // Act.
    auto f = fields();
    bool changed = false;
    auto apply = [&](const std::optional<uint64_t>& usec, Timer t, uint64_t& param, const char* field) {
        if (!usec || *usec == param) return;
        changed = true;
        f.push_back({field, std::to_string(*usec)});
        param = *usec;
        timers_->set_limit(t, *usec);
    };
    apply(l.max_lifetime_usec, Timer::lifetime, params_.max_lifetime_usec, "RSM_MAX_LIFETIME_USEC");
    apply(l.disconnected_timeout_usec, Timer::disconnected, params_.disconnected_timeout_usec,
          "RSM_DISCONNECTED_TIMEOUT_USEC");
    apply(l.idle_timeout_usec, Timer::idle, params_.idle_timeout_usec, "RSM_IDLE_TIMEOUT_USEC");
    if (changed) log::info("Session " + record_.id + " takes the reloaded time limits", f);
    return sd_bus_reply_method_return(m, "");
}

}  // namespace rsm::session
