// Ending logind sessions from the manager: org.freedesktop.login1.Manager's
// TerminateSession (logind stops the session's scope, session-<n>.scope, and
// with it every process of the session, also those a KillUserProcesses=no
// logind would leave lingering in "closing") and the SessionRemoved signal
// that says it is gone. All calls are asynchronous on the manager's system
// bus: the loop never waits on logind.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus/call_queue.hpp"
#include "logind_lookup.hpp"
#include "util/handles.hpp"

namespace rsm::manager {

class LogindSessions {
public:
    // The queue's bus must be attached to the manager's event loop. Queues the SessionRemoved match before any TerminateSession can
    // be sent, so no removal of ours slips past it. Throws std::system_error.
    // Calls go through `calls` (the system bus's CallQueue), which must outlive this.
    explicit LogindSessions(bus::CallQueue& calls);
    ~LogindSessions();
    LogindSessions(const LogindSessions&) = delete;
    LogindSessions& operator=(const LogindSessions&) = delete;

    // "" once the session is gone, else what failed.
    using Done = std::function<void(std::string error)>;

    // TerminateSession(id), then waits for SessionRemoved(id). A session
    // logind does not know (NoSuchSession) is gone already. `done` runs
    // exactly once, never from inside terminate(); destroying the handle
    // cancels (then `done` never runs).
    struct Pending;
    [[nodiscard]] std::unique_ptr<Pending> terminate(const std::string& id, Done done);

    // The logind session `leader` leads for `uid` (logind_lookup.hpp).
    [[nodiscard]] std::unique_ptr<LogindLeaderLookup> find_by_leader(pid_t leader, uid_t uid,
                                                                      std::function<void(std::string id)> found) {
        return std::make_unique<LogindLeaderLookup>(bus_, leader, uid, std::move(found));
    }

    // KillSession(id, "all", signal), fire and forget (errors are logged).
    void kill(const std::string& id, int signal);

private:
    static int on_match_installed(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int on_session_removed(sd_bus_message* m, void* userdata, sd_bus_error* error);

    bus::CallQueue& calls_;
    sd_bus* bus_;
    SlotPtr removed_slot_;
    std::string match_error_;  // non-empty: SessionRemoved cannot be watched
    std::set<Pending*> pending_;
    friend struct Pending;
};

struct LogindSessions::Pending {
    Pending(LogindSessions& owner, std::string id, Done done);
    ~Pending();
    Pending(const Pending&) = delete;
    Pending& operator=(const Pending&) = delete;

private:
    friend class LogindSessions;
    static int on_reply(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int on_deferred(sd_event_source* s, void* userdata);
    // Detaches from the owner, then runs `done` (which may destroy *this).
    void finish(std::string error);

    LogindSessions* owner_;
    std::string id_;
    Done done_;
    bus::QueuedCall call_slot_;
    EventSourcePtr deferred_;
    std::string deferred_error_;
    bool replied_ = false;  // TerminateSession answered: waiting for SessionRemoved
};

}  // namespace rsm::manager
