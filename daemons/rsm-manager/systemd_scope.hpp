// Moving an executor into its own transient scope, rsm-session-<id>.scope,
// through systemd's org.freedesktop.systemd1.Manager.StartTransientUnit on the
// system bus, and waiting (asynchronously) for the job to finish; stopping
// the scope at the end of the session (StopUnit, and waiting for that job).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <utility>

#include "bus/call_queue.hpp"
#include "session/session_id.hpp"
#include "util/handles.hpp"

namespace rsm::manager {

// Resource settings of a session scope (from [session] in rsm.toml).
struct ScopeSettings {
    std::string slice = "rsm.slice";           // Slice=
    std::optional<uint64_t> memory_max;        // MemoryMax= in bytes; nullopt: not set
    std::optional<uint64_t> tasks_max;         // TasksMax=
    std::optional<uint64_t> cpu_weight;        // CPUWeight= (1..10000)
    uint64_t stop_timeout_usec = 20'000'000;   // TimeoutStopUSec=
};

// The unit name for a session id: "rsm-session-<id>.scope".
using session::scope_unit_name;

// Starts scopes on one system-bus connection. All calls are asynchronous: the
// manager's loop never waits on systemd.
class ScopeStarter {
public:
    // `system_bus` must be attached to the manager's event loop and outlive this.
    // Queues the JobRemoved match (no Subscribe() needed: systemd sends job
    // signals to the client that queued the job). Throws std::system_error.
    // Destroying the starter makes every outstanding Pending inert.
    // Calls go through `calls` (the system bus's CallQueue), which must outlive this.
    explicit ScopeStarter(bus::CallQueue& calls);
    ~ScopeStarter();
    ScopeStarter(const ScopeStarter&) = delete;
    ScopeStarter& operator=(const ScopeStarter&) = delete;

    // Result: empty string on success (the job finished with result "done"),
    // else a message saying what failed (the D-Bus error, or the job result).
    using Done = std::function<void(std::string error)>;

    // StartTransientUnit(unit, "fail", [Description, Slice, PIDs=[pid],
    // CollectMode=inactive-or-failed, TimeoutStopUSec, limits...], []) then
    // waits for the JobRemoved signal of the returned job. `done` runs exactly
    // once, never from inside start() itself. Cancel by destroying the returned
    // handle (then `done` never runs).
    struct Pending;
    [[nodiscard]] std::unique_ptr<Pending> start(const std::string& unit, const std::string& description,
                                                 pid_t pid, const ScopeSettings& settings, Done done);

    // StopUnit(unit, "replace") then waits for the stop job's JobRemoved: the
    // scope's processes got SIGTERM (its KillMode, control-group), SIGKILL
    // after TimeoutStopUSec, and are gone. `done` gets "" once the unit is
    // stopped (also when systemd knows no such unit: a scope whose processes
    // are all gone is collected at once), else what failed. Same rules as
    // start(): exactly once, never from inside stop(), cancel by destroying.
    [[nodiscard]] std::unique_ptr<Pending> stop(const std::string& unit, Done done);

    // KillUnit(unit, "all", signal), fire and forget (errors are logged).
    void kill(const std::string& unit, int signal);

private:
    static int on_match_installed(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int on_job_removed(sd_bus_message* m, void* userdata, sd_bus_error* error);
    void forget(Pending* p) noexcept;
    // Sends `call` for `p`, or arranges for `p` to report the failure from the loop.
    void send(Pending& p, int build_result, sd_bus_message* call, const std::string& method);
    struct Token {};  // only the starter makes Pendings

    bus::CallQueue& calls_;
    sd_bus* bus_;
    SlotPtr job_removed_slot_;
    std::string match_error_;                    // non-empty: the JobRemoved match could not be installed
    std::set<Pending*> pending_;                 // every live Pending of this starter
    std::map<std::string, Pending*> by_job_path_;  // those whose job has been queued
    friend struct Pending;
};

// One start() in progress. Opaque to callers: destroying it cancels the wait.
struct ScopeStarter::Pending {
    enum class Kind { start, stop };
    Pending(Token, ScopeStarter& owner, Kind kind, std::string unit, Done done);
    ~Pending();
    Pending(const Pending&) = delete;
    Pending& operator=(const Pending&) = delete;

private:
    friend class ScopeStarter;
    static int on_reply(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int on_deferred_error(sd_event_source* s, void* userdata);
    // Detaches from the starter, then runs `done` (which may destroy *this).
    void finish(std::string error);

    // The text for a JobRemoved result ("" for "done").
    std::string job_result(const std::string& result) const;

    ScopeStarter* owner_;
    Kind kind_;
    std::string unit_;
    Done done_;
    bus::QueuedCall call_slot_;   // StartTransientUnit / StopUnit queued or in flight
    EventSourcePtr deferred_;     // reports an error start() could not send
    std::string deferred_error_;
    std::string job_path_;        // once the call returned
    // JobRemoved results for our unit that arrived before the reply, by job path.
    std::map<std::string, std::string> early_results_;
};

}  // namespace rsm::manager
