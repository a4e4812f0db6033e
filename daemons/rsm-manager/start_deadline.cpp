#include "start_deadline.hpp"

#include <array>
#include <ctime>
#include <utility>

#include "bus/error.hpp"
#include "util/log.hpp"

namespace rsm::manager {
namespace {

struct StepName {
    StartStep step;
    const char* name;
};

constexpr std::array<StepName, 3> step_names{{
    {StartStep::account_check, "account-check"},
    {StartStep::scope, "scope"},
    {StartStep::start_session, "start-session"},
}};

// "30 s", "1.5 s", "250 ms".
std::string duration_text(uint64_t usec) {
    if (usec % 1'000'000 == 0) return std::to_string(usec / 1'000'000) + " s";
    if (usec >= 1'000'000)
        return std::to_string(usec / 1'000'000) + "." + std::to_string((usec % 1'000'000) / 100'000) + " s";
    return std::to_string(usec / 1000) + " ms";
}

}  // namespace

const char* to_string(StartStep step) noexcept {
    for (const auto& s : step_names)
        if (s.step == step) return s.name;
    return "unknown";
}

std::optional<StartStep> start_step_from_string(std::string_view s) noexcept {
    for (const auto& n : step_names)
        if (s == n.name) return n.step;
    return std::nullopt;
}

std::string start_timeout_message(StartStep step, uint64_t timeout_usec) {
    const std::string within = " within " + duration_text(timeout_usec);
    switch (step) {
    case StartStep::account_check:
        return "the account check of the session's process did not finish" + within + " (gateway.login_timeout)";
    case StartStep::scope:
        return "systemd did not start the session's scope" + within + " (session.startup_timeout)";
    case StartStep::start_session:
        return "the session process did not report the session started" + within +
               " (session.startup_timeout + 30 s)";
    }
    return "the session did not start" + within;
}

StartDeadline::StartDeadline(sd_event* event, Expired expired) : event_(event), expired_(std::move(expired)) {}

void StartDeadline::arm(StartStep step, uint64_t timeout_usec) {
    if (!timer_) {
        sd_event_source* s = nullptr;
        bus::check(sd_event_add_time_relative(event_, &s, CLOCK_MONOTONIC, timeout_usec, 0, &StartDeadline::on_timer,
                                              this),
                   "sd_event_add_time_relative");
        timer_.reset(s);
    } else {
        bus::check(sd_event_source_set_time_relative(timer_.get(), timeout_usec), "sd_event_source_set_time_relative");
        bus::check(sd_event_source_set_enabled(timer_.get(), SD_EVENT_ONESHOT), "sd_event_source_set_enabled");
    }
    step_ = step;
    timeout_usec_ = timeout_usec;
}

void StartDeadline::cancel() noexcept {
    if (timer_) (void)sd_event_source_set_enabled(timer_.get(), SD_EVENT_OFF);
}

std::optional<StartStep> StartDeadline::step() const noexcept {
    int enabled = SD_EVENT_OFF;
    if (!timer_ || sd_event_source_get_enabled(timer_.get(), &enabled) < 0 || enabled == SD_EVENT_OFF)
        return std::nullopt;
    return step_;
}

int StartDeadline::on_timer(sd_event_source*, uint64_t, void* userdata) noexcept {
    auto* self = static_cast<StartDeadline*>(userdata);
    // A oneshot time source is off once it fired.
    const StartStep step = self->step_;
    const uint64_t timeout = self->timeout_usec_;
    try {
        if (self->expired_) self->expired_(step, timeout);  // may destroy self
    } catch (const std::exception& e) {
        log::error(std::string("Handling a session start's deadline failed: ") + e.what(),
                   {{"RSM_START_STEP", to_string(step)}});
    }
    return 0;
}

}  // namespace rsm::manager
