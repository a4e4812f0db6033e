// The manager's part of a session's end (docs/design-notes.md, "How a
// session ends"): once the executor is gone, every process of the session
// goes with it. The executor and its leader end what they started and close
// the PAM session first; then the manager stops the session's scope
// (StopUnit of rsm-session-<id>.scope: with no pam_systemd in the stack the
// whole session lives there) and terminates its logind session
// (TerminateSession, and StopUnit of its session-<n>.scope for a session
// logind already has "closing": everything that escaped the leader's process
// groups, setsid() and double-forked daemons, lives there), and
// reports once both are gone: only then are the record and the display
// number released. Every wait has a deadline; at the deadline what is left
// gets SIGKILL and the session is released anyway (logged).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <systemd/sd-event.h>

#include "logind_sessions.hpp"
#include "session/record.hpp"
#include "systemd_scope.hpp"
#include "util/handles.hpp"
#include "util/log.hpp"

namespace rsm::manager {

class SessionSweeper {
public:
    // How long an executor asked to end its session gets before the sweep
    // starts without it: the leader's 5 s of SIGTERM grace and 2 s after
    // SIGKILL, pam_close_session, the last messages.
    static constexpr uint64_t executor_grace_usec = 15'000'000;
    // How long the sweep waits for the scope's stop job and the logind
    // session's removal: longer than the scope's TimeoutStopUSec (20 s, after
    // which systemd sends SIGKILL), shorter than logind's scope default (90 s).
    static constexpr uint64_t deadline_usec = 30'000'000;

    // `event`, `scopes` and `logind` must outlive the sweeper and its sweeps.
    SessionSweeper(sd_event* event, ScopeStarter& scopes, LogindSessions& logind);

    class Sweep;
    // Sweeps the session of `record` (its scope unit and logind session)
    // after `delay_usec` (0: now); Sweep::now() cuts the delay short.
    // `done(clean)` runs exactly once, never from inside sweep(), when every
    // process is gone (true) or at the deadline (false); destroying the Sweep
    // cancels it. Throws std::system_error.
    [[nodiscard]] std::unique_ptr<Sweep> sweep(const session::Record& record, uint64_t delay_usec,
                                               std::function<void(bool clean)> done);

private:
    sd_event* event_;
    ScopeStarter& scopes_;
    LogindSessions& logind_;
};

class SessionSweeper::Sweep {
public:
    Sweep(SessionSweeper& owner, const session::Record& record, std::function<void(bool)> done);
    Sweep(const Sweep&) = delete;
    Sweep& operator=(const Sweep&) = delete;

    // Starts the sweep now if it was waiting for its delay.
    void now();

private:
    friend class SessionSweeper;
    static int on_delay(sd_event_source* s, uint64_t usec, void* userdata) noexcept;
    static int on_deadline(sd_event_source* s, uint64_t usec, void* userdata) noexcept;
    void begin();
    void stop_logind_session();
    void check_done();
    log::Fields fields() const;

    SessionSweeper& owner_;
    std::string session_id_, user_, unit_, logind_session_;
    pid_t leader_pid_ = 0;  // to find the logind session when the record has none
    uid_t uid_ = 0;
    std::unique_ptr<LogindLeaderLookup> lookup_;
    std::function<void(bool)> done_;
    bool started_ = false;
    bool scope_gone_ = false, logind_gone_ = false;
    std::unique_ptr<ScopeStarter::Pending> scope_stop_;
    std::unique_ptr<LogindSessions::Pending> logind_stop_;
    std::unique_ptr<ScopeStarter::Pending> logind_scope_stop_;  // session-<n>.scope
    EventSourcePtr delay_, deadline_;
};

}  // namespace rsm::manager
