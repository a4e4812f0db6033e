#include "idle_exit.hpp"

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <string>
#include <systemd/sd-daemon.h>

#include "bus/error.hpp"
#include "util/log.hpp"

namespace rsm::manager {

namespace {

uint64_t usec_of(std::chrono::seconds s) {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(s).count());
}

// How long STOPPING=1 may take to be read by systemd (step 2).
constexpr uint64_t barrier_timeout_usec = 5'000'000;

}  // namespace

IdleExit::IdleExit(sd_event* event, sd_bus* system_bus, const char* bus_name, std::chrono::seconds after,
                   Hooks hooks)
    : event_(event), bus_(system_bus), bus_name_(bus_name), after_(after), hooks_(std::move(hooks)) {
    sd_event_source* s = nullptr;
    bus::check(sd_event_add_time_relative(event_, &s, CLOCK_MONOTONIC, usec_of(after_), 0, &IdleExit::on_timer, this),
               "adding the idle timer");
    timer_.reset(s);
    sd_event_source_set_enabled(timer_.get(), SD_EVENT_OFF);
    // Runs after every loop iteration in which something was dispatched;
    // an idle loop sleeps and never runs it.
    bus::check(sd_event_add_post(event_, &s, &IdleExit::on_post, this), "adding the idle check");
    post_.reset(s);
    if (bus_) {
        sd_bus_slot* slot = nullptr;
        bus::check(sd_bus_add_filter(bus_, &slot, &IdleExit::on_bus_message, this), "adding the idle filter");
        filter_.reset(slot);
    }
    arm(true);
}

IdleExit::~IdleExit() = default;

void IdleExit::reconfigure(std::chrono::seconds after) {
    after_ = after;
    arm(true);
}

void IdleExit::activity() { arm(true); }

// (Re)starts the idle count: at once when `restart`, else only if it is not
// counting yet. Never while busy, and never once the exit has begun.
void IdleExit::arm(bool restart) {
    if (phase_ != Phase::serving) return;
    if (after_.count() == 0 || hooks_.busy()) {
        sd_event_source_set_enabled(timer_.get(), SD_EVENT_OFF);
        return;
    }
    int enabled = SD_EVENT_OFF;
    (void)sd_event_source_get_enabled(timer_.get(), &enabled);
    if (enabled != SD_EVENT_OFF && !restart) return;
    (void)sd_event_source_set_time_relative(timer_.get(), usec_of(after_));
    sd_event_source_set_enabled(timer_.get(), SD_EVENT_ONESHOT);
}

int IdleExit::on_post(sd_event_source*, void* userdata) {
    auto* self = static_cast<IdleExit*>(userdata);
    if (self->phase_ == Phase::serving)
        self->arm(false);
    else if (self->phase_ == Phase::winding_down)
        self->finish_if_done();
    return 0;
}

int IdleExit::on_bus_message(sd_bus_message* m, void* userdata, sd_bus_error*) {
    // A call to our objects is activity even when it is answered at once
    // (ListSessions by root): someone uses the manager. Signals are not:
    // the system bus is never quiet.
    if (sd_bus_message_is_method_call(m, nullptr, nullptr) > 0) static_cast<IdleExit*>(userdata)->activity();
    return 0;
}

bool IdleExit::backlog_waiting() const {
    std::vector<pollfd> fds;
    for (int fd : hooks_.listen_fds)
        if (fd >= 0) fds.push_back({fd, POLLIN, 0});
    if (fds.empty()) return false;
    if (poll(fds.data(), fds.size(), 0) <= 0) return false;
    for (const auto& p : fds)
        if (p.revents & POLLIN) return true;
    return false;
}

int IdleExit::on_timer(sd_event_source*, uint64_t, void* userdata) {
    auto* self = static_cast<IdleExit*>(userdata);
    if (self->phase_ != Phase::serving) return 0;
    if (self->hooks_.busy()) return 0;  // the post check re-arms once idle
    if (self->backlog_waiting()) {
        // A connection (or an announce) is waiting to be accepted: that is
        // work, about to make us busy. Count again rather than exit and be
        // started once more at once.
        log::debug("Idle time over, but a connection waits to be accepted; staying");
        self->arm(true);
        return 0;
    }
    self->begin_exit();
    return 0;
}

void IdleExit::begin_exit() {
    phase_ = Phase::releasing;
    sd_event_source_set_enabled(timer_.get(), SD_EVENT_OFF);
    log::notice("Exiting: idle for " + std::to_string(after_.count()) +
                    " s (no session, no gateway connection, nothing in flight); the next gateway connection, "
                    "executor announce or org.rsm.Manager1 call starts the manager again",
                {{"RSM_IDLE_EXIT_SEC", std::to_string(after_.count())}});
    // Step 2: deactivating before anything else, so that no start request
    // (socket or bus activation) can be taken for "already running".
    sd_notify(0, ("STOPPING=1\nSTATUS=Idle for " + std::to_string(after_.count()) + " s, exiting").c_str());
    if (int r = sd_notify_barrier(0, barrier_timeout_usec); r < 0)
        log::warning(std::string("systemd did not confirm STOPPING=1; exiting anyway: ") + std::strerror(-r));
    // Step 3: what arrives from now on waits in the backlogs systemd keeps.
    if (hooks_.stop_accepting) hooks_.stop_accepting();
    sd_event_source* s = nullptr;
    if (sd_event_add_time_relative(event_, &s, CLOCK_MONOTONIC, usec_of(wind_down_timeout), 0,
                                   &IdleExit::on_wind_down_timeout, this) >= 0)
        wind_down_timer_.reset(s);
    // Step 4: the name goes; calls routed to us before the release are
    // read before its reply.
    sd_bus_slot* slot = nullptr;
    if (bus_ && sd_bus_release_name_async(bus_, &slot, bus_name_, &IdleExit::on_name_released, this) >= 0) {
        release_slot_.reset(slot);
        return;
    }
    phase_ = Phase::winding_down;
    finish_if_done();
}

int IdleExit::on_name_released(sd_bus_message* reply, void* userdata, sd_bus_error*) {
    auto* self = static_cast<IdleExit*>(userdata);
    if (const sd_bus_error* e = sd_bus_message_get_error(reply))
        log::debug(std::string("Releasing the bus name failed: ") + (e->message ? e->message : e->name));
    self->phase_ = Phase::winding_down;
    self->finish_if_done();
    return 0;
}

void IdleExit::finish_if_done() {
    if (hooks_.busy()) return;  // a call routed before the release is still being answered
    exit_now();
}

int IdleExit::on_wind_down_timeout(sd_event_source*, uint64_t, void* userdata) {
    log::warning("Calls taken while exiting on idle were not all answered in time; exiting anyway");
    static_cast<IdleExit*>(userdata)->exit_now();
    return 0;
}

void IdleExit::exit_now() {
    if (phase_ == Phase::serving) return;
    sd_event_source_set_enabled(post_.get(), SD_EVENT_OFF);
    if (wind_down_timer_) sd_event_source_set_enabled(wind_down_timer_.get(), SD_EVENT_OFF);
    // The last replies reach the bus daemon (which always reads).
    if (bus_) (void)sd_bus_flush(bus_);
    sd_event_exit(event_, 0);
}

}  // namespace rsm::manager
