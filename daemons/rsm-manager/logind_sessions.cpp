#include "logind_sessions.hpp"

#include <cstring>
#include <stdexcept>
#include <system_error>

#include "bus/error.hpp"
#include "util/log.hpp"

namespace rsm::manager {
namespace {

constexpr const char* logind_service = "org.freedesktop.login1";
constexpr const char* logind_path = "/org/freedesktop/login1";
constexpr const char* logind_manager_interface = "org.freedesktop.login1.Manager";
constexpr const char* no_such_session = "org.freedesktop.login1.NoSuchSession";

std::string error_text(const sd_bus_error* e) {
    std::string s = e && e->name ? e->name : "unknown error";
    if (e && e->message && *e->message) s += std::string(": ") + e->message;
    return s;
}

}  // namespace

LogindSessions::LogindSessions(bus::CallQueue& calls) : calls_(calls), bus_(calls.bus()) {
    // SessionRemoved is broadcast. The match goes out before any
    // TerminateSession, and dbus-daemon handles one client's messages in
    // order, so every removal after our call reaches us.
    sd_bus_slot* slot = nullptr;
    bus::check(sd_bus_match_signal_async(bus_, &slot, logind_service, logind_path, logind_manager_interface,
                                         "SessionRemoved", &LogindSessions::on_session_removed,
                                         &LogindSessions::on_match_installed, this),
               "sd_bus_match_signal_async(SessionRemoved)");
    removed_slot_.reset(slot);
}

LogindSessions::~LogindSessions() {
    for (Pending* p : pending_) {
        p->owner_ = nullptr;
        p->call_slot_.reset();
        p->deferred_.reset();
    }
}

int LogindSessions::on_match_installed(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* self = static_cast<LogindSessions*>(userdata);
    if (!sd_bus_message_is_method_error(m, nullptr)) return 0;
    self->match_error_ = error_text(sd_bus_message_get_error(m));
    log::error("Cannot watch logind sessions; ended sessions are released at their deadline",
               {{"RSM_ERROR", self->match_error_}});
    return 0;
}

int LogindSessions::on_session_removed(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* self = static_cast<LogindSessions*>(userdata);
    const char* id = nullptr;
    const char* path = nullptr;
    if (sd_bus_message_read(m, "so", &id, &path) < 0) {
        log::warning("Malformed SessionRemoved signal from logind ignored");
        return 0;
    }
    // finish() removes the Pending from the set: look for one at a time.
    for (;;) {
        Pending* hit = nullptr;
        for (Pending* p : self->pending_)
            if (p->id_ == id && (p->call_slot_ || p->replied_)) hit = p;
        if (!hit) break;
        hit->finish({});
    }
    return 0;
}

std::unique_ptr<LogindSessions::Pending> LogindSessions::terminate(const std::string& id, Done done) {
    auto p = std::make_unique<Pending>(*this, id, std::move(done));
    sd_bus_message* raw = nullptr;
    int r = sd_bus_message_new_method_call(bus_, &raw, logind_service, logind_path, logind_manager_interface,
                                           "TerminateSession");
    MessagePtr call{raw};
    if (r >= 0) r = sd_bus_message_append(call.get(), "s", id.c_str());
    // Sent now, or once fewer calls await replies (call_queue.hpp).
    if (r >= 0)
        r = calls_.call(p->call_slot_, call.get(), &Pending::on_reply, p.get(), 0, [pp = p.get(), id](int e) {
            pp->finish("cannot call logind's TerminateSession(" + id + "): " + std::strerror(-e));
        });
    if (r >= 0) {
        log::debug("Terminating logind session", {{"RSM_LOGIND_SESSION", id}});
        return p;
    }
    // `done` must not run inside terminate(): report from the loop instead.
    sd_event* event = sd_bus_get_event(bus_);
    const std::string error = "cannot call logind's TerminateSession(" + id + "): " + std::strerror(-r);
    if (!event) throw std::runtime_error(error);
    sd_event_source* s = nullptr;
    bus::check(sd_event_add_defer(event, &s, &Pending::on_deferred, p.get()), "sd_event_add_defer");
    p->deferred_.reset(s);
    p->deferred_error_ = error;
    return p;
}

void LogindSessions::kill(const std::string& id, int signal) {
    sd_bus_message* raw = nullptr;
    int r = sd_bus_message_new_method_call(bus_, &raw, logind_service, logind_path, logind_manager_interface,
                                           "KillSession");
    MessagePtr call{raw};
    if (r >= 0) r = sd_bus_message_append(call.get(), "ssi", id.c_str(), "all", signal);
    auto warn = [id](const std::string& error) {
        log::warning("Cannot kill the processes of a logind session",
                     {{"RSM_LOGIND_SESSION", id}, {"RSM_ERROR", error}});
    };
    if (r >= 0)
        r = calls_.call_floating(
            call.get(),
            [warn](sd_bus_message* m) {
                if (const sd_bus_error* e = sd_bus_message_get_error(m); e && !sd_bus_error_has_name(e, no_such_session))
                    warn(error_text(e));
            },
            [warn](int e) { warn(std::strerror(-e)); });
    if (r < 0) warn(std::strerror(-r));
}

// ---- LogindSessions::Pending ----------------------------------------------

LogindSessions::Pending::Pending(LogindSessions& owner, std::string id, Done done)
    : owner_(&owner), id_(std::move(id)), done_(std::move(done)) {
    owner_->pending_.insert(this);
}

LogindSessions::Pending::~Pending() {
    if (owner_) owner_->pending_.erase(this);
}

void LogindSessions::Pending::finish(std::string error) {
    if (!owner_) return;
    owner_->pending_.erase(this);
    owner_ = nullptr;
    call_slot_.reset();
    deferred_.reset();
    Done done = std::move(done_);
    done_ = nullptr;
    if (error.empty())
        log::debug("logind session gone", {{"RSM_LOGIND_SESSION", id_}});
    else
        log::warning("Cannot terminate the logind session", {{"RSM_LOGIND_SESSION", id_}, {"RSM_ERROR", error}});
    // Last: `done` may destroy *this.
    if (done) done(std::move(error));
}

int LogindSessions::Pending::on_deferred(sd_event_source*, void* userdata) {
    auto* p = static_cast<Pending*>(userdata);
    p->finish(std::move(p->deferred_error_));
    return 0;
}

int LogindSessions::Pending::on_reply(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* p = static_cast<Pending*>(userdata);
    if (!p->owner_) return 0;
    if (const sd_bus_error* e = sd_bus_message_get_error(m)) {
        // Gone already: the usual end of a clean logout.
        if (sd_bus_error_has_name(e, no_such_session)) {
            p->finish({});
            return 0;
        }
        p->finish("logind refused to terminate session " + p->id_ + ": " + error_text(e));
        return 0;
    }
    p->replied_ = true;
    // The reply's slot is released after this callback by sd-bus; ours goes now.
    p->call_slot_.reset();
    if (!p->owner_->match_error_.empty())
        p->finish("cannot watch logind sessions: " + p->owner_->match_error_);
    return 0;
}

}  // namespace rsm::manager
