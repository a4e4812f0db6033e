#include "systemd_scope.hpp"

#include <cstring>
#include <stdexcept>
#include <system_error>

#include "bus/error.hpp"
#include "util/log.hpp"

namespace rsm::manager {
namespace {

constexpr const char* systemd_service = "org.freedesktop.systemd1";
constexpr const char* systemd_path = "/org/freedesktop/systemd1";
constexpr const char* systemd_manager_interface = "org.freedesktop.systemd1.Manager";

std::string errno_text(int r) { return std::strerror(r < 0 ? -r : r); }

// "<name>: <message>" of a D-Bus error reply.
std::string error_text(const sd_bus_error* e) {
    std::string s = e && e->name ? e->name : "unknown error";
    if (e && e->message && *e->message) s += std::string(": ") + e->message;
    return s;
}

// What a JobRemoved result other than "done" means for a scope's start or
// stop job (org.freedesktop.systemd1(5), "JobRemoved").
std::string describe_job_result(const char* job, const std::string& unit, const std::string& result) {
    std::string s = std::string("the ") + job + " job of " + unit + " finished with result '" + result + "'";
    if (result == "failed")
        s += std::string(" (the scope failed to ") + job + "; see the journal of " + unit + ")";
    else if (result == "canceled")
        s += " (the job was canceled before it finished)";
    else if (result == "timeout")
        s += " (the job timed out)";
    else if (result == "dependency")
        s += " (a dependency, such as its slice, failed)";
    else if (result == "skipped" || result == "invalid")
        s += " (the job did not apply to the unit)";
    return s;
}

// Appends one (sv) entry of a property array.
template <class T>
int append_property(sd_bus_message* m, const char* name, const char* type, T value) {
    return sd_bus_message_append(m, "(sv)", name, type, value);
}

// The StartTransientUnit call for one scope.
int build_start_call(sd_bus* bus, sd_bus_message** ret, const std::string& unit, const std::string& description,
                     pid_t pid, const ScopeSettings& s) {
    sd_bus_message* raw = nullptr;
    int r = sd_bus_message_new_method_call(bus, &raw, systemd_service, systemd_path, systemd_manager_interface,
                                           "StartTransientUnit");
    if (r < 0) return r;
    MessagePtr m{raw};
    sd_bus_message* mm = m.get();
    if ((r = sd_bus_message_append(mm, "ss", unit.c_str(), "fail")) < 0) return r;
    if ((r = sd_bus_message_open_container(mm, 'a', "(sv)")) < 0) return r;
    if ((r = append_property(mm, "Description", "s", description.c_str())) < 0) return r;
    if (!s.slice.empty() && (r = append_property(mm, "Slice", "s", s.slice.c_str())) < 0) return r;
    if ((r = sd_bus_message_append(mm, "(sv)", "PIDs", "au", 1, static_cast<uint32_t>(pid))) < 0) return r;
    if ((r = append_property(mm, "CollectMode", "s", "inactive-or-failed")) < 0) return r;
    if ((r = append_property(mm, "TimeoutStopUSec", "t", s.stop_timeout_usec)) < 0) return r;
    if (s.memory_max && (r = append_property(mm, "MemoryMax", "t", *s.memory_max)) < 0) return r;
    if (s.tasks_max && (r = append_property(mm, "TasksMax", "t", *s.tasks_max)) < 0) return r;
    if (s.cpu_weight && (r = append_property(mm, "CPUWeight", "t", *s.cpu_weight)) < 0) return r;
    if ((r = sd_bus_message_close_container(mm)) < 0) return r;
    // No auxiliary units.
    if ((r = sd_bus_message_append(mm, "a(sa(sv))", 0)) < 0) return r;
    *ret = m.release();
    return 0;
}

}  // namespace


// ---- ScopeStarter ---------------------------------------------------------

ScopeStarter::ScopeStarter(bus::CallQueue& calls) : calls_(calls), bus_(calls.bus()) {
    // systemd broadcasts JobRemoved on the system bus to every subscribed
    // client and, without Subscribe(), whenever the client that queued the job
    // is still connected: that is us. The match goes out before any
    // StartTransientUnit call, and the bus daemon handles one client's
    // messages in order, so no JobRemoved of ours can slip past it.
    sd_bus_slot* slot = nullptr;
    bus::check(sd_bus_match_signal_async(bus_, &slot, systemd_service, systemd_path, systemd_manager_interface,
                                         "JobRemoved", &ScopeStarter::on_job_removed,
                                         &ScopeStarter::on_match_installed, this),
               "sd_bus_match_signal_async(JobRemoved)");
    job_removed_slot_.reset(slot);
}

ScopeStarter::~ScopeStarter() {
    // Pendings that outlive the starter turn inert: their `done` never runs.
    for (Pending* p : pending_) {
        p->owner_ = nullptr;
        p->call_slot_.reset();
        p->deferred_.reset();
    }
}

int ScopeStarter::on_match_installed(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* self = static_cast<ScopeStarter*>(userdata);
    if (!sd_bus_message_is_method_error(m, nullptr)) return 0;
    self->match_error_ = error_text(sd_bus_message_get_error(m));
    log::error("Cannot watch systemd jobs, session scopes cannot be started",
               {{"RSM_ERROR", self->match_error_}});
    // Jobs already queued would never be seen to finish.
    while (!self->by_job_path_.empty())
        self->by_job_path_.begin()->second->finish("cannot watch systemd jobs: " + self->match_error_);
    return 0;
}

int ScopeStarter::on_job_removed(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* self = static_cast<ScopeStarter*>(userdata);
    uint32_t id = 0;
    const char* job = nullptr;
    const char* unit = nullptr;
    const char* result = nullptr;
    if (sd_bus_message_read(m, "uoss", &id, &job, &unit, &result) < 0) {
        log::warning("Malformed JobRemoved signal from systemd ignored");
        return 0;
    }
    if (auto it = self->by_job_path_.find(job); it != self->by_job_path_.end()) {
        Pending* p = it->second;
        p->finish(p->job_result(result));
        return 0;
    }
    // The job may end before we have read the reply that names it: keep the
    // result for every start of this unit still waiting for its reply.
    for (Pending* p : self->pending_)
        if (p->call_slot_ && p->job_path_.empty() && p->unit_ == unit) p->early_results_[job] = result;
    return 0;
}

void ScopeStarter::forget(Pending* p) noexcept {
    pending_.erase(p);
    if (!p->job_path_.empty()) {
        auto it = by_job_path_.find(p->job_path_);
        if (it != by_job_path_.end() && it->second == p) by_job_path_.erase(it);
    }
}

void ScopeStarter::send(Pending& p, int r, sd_bus_message* call, const std::string& method) {
    std::string error;
    if (!match_error_.empty()) {
        error = "cannot watch systemd jobs: " + match_error_;
    } else {
        // Sent now, or once fewer calls await replies (call_queue.hpp).
        if (r >= 0)
            r = calls_.call(p.call_slot_, call, &Pending::on_reply, &p, 0, [pp = &p, method](int e) {
                pp->finish("cannot call systemd's " + method + " for " + pp->unit_ + ": " + errno_text(e));
            });
        if (r < 0) error = "cannot call systemd's " + method + " for " + p.unit_ + ": " + errno_text(r);
    }
    if (error.empty()) return;
    // `done` must not run inside start() or stop(): report from the loop instead.
    sd_event* event = sd_bus_get_event(bus_);
    if (!event) throw std::runtime_error(error);
    sd_event_source* s = nullptr;
    bus::check(sd_event_add_defer(event, &s, &Pending::on_deferred_error, &p), "sd_event_add_defer");
    p.deferred_.reset(s);
    p.deferred_error_ = std::move(error);
}

std::unique_ptr<ScopeStarter::Pending> ScopeStarter::start(const std::string& unit, const std::string& description,
                                                           pid_t pid, const ScopeSettings& settings, Done done) {
    auto p = std::make_unique<Pending>(Token{}, *this, Pending::Kind::start, unit, std::move(done));
    sd_bus_message* raw = nullptr;
    const int r = build_start_call(bus_, &raw, unit, description, pid, settings);
    MessagePtr call{raw};
    send(*p, r, call.get(), "StartTransientUnit");
    if (p->call_slot_) log::debug("Starting session scope", {{"RSM_UNIT", unit}, {"RSM_PID", std::to_string(pid)}});
    return p;
}

std::unique_ptr<ScopeStarter::Pending> ScopeStarter::stop(const std::string& unit, Done done) {
    auto p = std::make_unique<Pending>(Token{}, *this, Pending::Kind::stop, unit, std::move(done));
    sd_bus_message* raw = nullptr;
    int r = sd_bus_message_new_method_call(bus_, &raw, systemd_service, systemd_path, systemd_manager_interface,
                                           "StopUnit");
    MessagePtr call{raw};
    if (r >= 0) r = sd_bus_message_append(call.get(), "ss", unit.c_str(), "replace");
    send(*p, r, call.get(), "StopUnit");
    if (p->call_slot_) log::debug("Stopping session scope", {{"RSM_UNIT", unit}});
    return p;
}

void ScopeStarter::kill(const std::string& unit, int signal) {
    sd_bus_message* raw = nullptr;
    int r = sd_bus_message_new_method_call(bus_, &raw, systemd_service, systemd_path, systemd_manager_interface,
                                           "KillUnit");
    MessagePtr call{raw};
    if (r >= 0) r = sd_bus_message_append(call.get(), "ssi", unit.c_str(), "all", signal);
    auto warn = [unit](const std::string& error) {
        log::warning("Cannot kill the processes of a session scope", {{"RSM_UNIT", unit}, {"RSM_ERROR", error}});
    };
    if (r >= 0)
        r = calls_.call_floating(
            call.get(),
            [warn](sd_bus_message* m) {
                if (const sd_bus_error* e = sd_bus_message_get_error(m);
                    e && !sd_bus_error_has_name(e, "org.freedesktop.systemd1.NoSuchUnit"))
                    warn(error_text(e));
            },
            [warn](int e) { warn(errno_text(e)); });
    if (r < 0) warn(errno_text(r));
}

// ---- ScopeStarter::Pending ------------------------------------------------

ScopeStarter::Pending::Pending(Token, ScopeStarter& owner, Kind kind, std::string unit, Done done)
    : owner_(&owner), kind_(kind), unit_(std::move(unit)), done_(std::move(done)) {
    owner_->pending_.insert(this);
}

std::string ScopeStarter::Pending::job_result(const std::string& result) const {
    if (result == "done") return {};
    return describe_job_result(kind_ == Kind::start ? "start" : "stop", unit_, result);
}

ScopeStarter::Pending::~Pending() {
    if (owner_) owner_->forget(this);
}

void ScopeStarter::Pending::finish(std::string error) {
    if (!owner_) return;
    owner_->forget(this);
    owner_ = nullptr;
    deferred_.reset();
    Done done = std::move(done_);
    done_ = nullptr;
    const bool start = kind_ == Kind::start;
    if (error.empty())
        log::debug(start ? "Session scope started" : "Session scope stopped", {{"RSM_UNIT", unit_}});
    else
        log::warning(start ? "Session scope not started" : "Session scope not stopped",
                     {{"RSM_UNIT", unit_}, {"RSM_ERROR", error}});
    // Last: `done` may destroy *this.
    if (done) done(std::move(error));
}

int ScopeStarter::Pending::on_deferred_error(sd_event_source*, void* userdata) {
    auto* p = static_cast<Pending*>(userdata);
    p->finish(std::move(p->deferred_error_));
    return 0;
}

int ScopeStarter::Pending::on_reply(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* p = static_cast<Pending*>(userdata);
    if (!p->owner_) return 0;
    const bool start = p->kind_ == Kind::start;
    if (const sd_bus_error* e = sd_bus_message_get_error(m)) {
        // Nothing to stop: the scope is gone (systemd collects an empty scope at once).
        if (!start && sd_bus_error_has_name(e, "org.freedesktop.systemd1.NoSuchUnit")) {
            p->finish({});
            return 0;
        }
        p->finish(std::string("systemd refused to ") + (start ? "start " : "stop ") + p->unit_ + ": " + error_text(e));
        return 0;
    }
    const char* job = nullptr;
    if (const int r = sd_bus_message_read(m, "o", &job); r <= 0) {
        p->finish(std::string("unexpected reply from ") + (start ? "StartTransientUnit" : "StopUnit") + " for " +
                  p->unit_ + (r < 0 ? ": " + errno_text(r) : std::string{}));
        return 0;
    }
    p->job_path_ = job;
    if (auto it = p->early_results_.find(p->job_path_); it != p->early_results_.end()) {
        const std::string result = it->second;
        p->finish(p->job_result(result));
        return 0;
    }
    p->early_results_.clear();
    ScopeStarter* owner = p->owner_;
    if (!owner->match_error_.empty()) {
        p->finish("cannot watch systemd jobs: " + owner->match_error_);
        return 0;
    }
    owner->by_job_path_[p->job_path_] = p;
    return 0;
}

}  // namespace rsm::manager
