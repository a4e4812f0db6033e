// The manager's one registry of desktop sessions: what the gateway socket
// (org.rsm.Gateway1) and the system bus (org.rsm.Manager1) both see and act
// on. Each entry (session_entry.hpp) is a session record (session/record.hpp)
// plus the live link to its executor. Records are mirrored to
// /run/rsm/sessions/<id>.
//
// Its files, one concept each: session_registry.cpp (entries, observers,
// queries, connect), session_start.cpp (CreateSession), session_end.cpp
// (terminate, sweep, bury), session_start_timeout.cpp (a start's deadline
// passing), session_links.cpp (executor link events),
// session_recovery.cpp (restart and re-announce), session_by_pid.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "bus/call_queue.hpp"
#include "child_reaper.hpp"
#include "config/config.hpp"
#include "executor_link.hpp"
#include "session/desktop_entry.hpp"
#include "session/display_allocator.hpp"
#include "session/display_type.hpp"
#include "session/reconnect_policy.hpp"
#include "session/record.hpp"
#include "session_directory.hpp"
#include "session_sweep.hpp"
#include "start_deadline.hpp"
#include "systemd_scope.hpp"
#include "util/fd.hpp"
#include "util/handles.hpp"

namespace rsm::manager {

// What the registry needs from the configuration and the command line.
struct SessionSettings {
    config::Session session;
    config::Displays displays;
    config::Companions companions;  // what CreateSession's "companions" may name
    config::Shadow shadow;          // ShadowSession (session_shadow.cpp)
    std::string pam_service;
    config::Access access;
    std::string executor_path;
    std::string runtime_dir;  // /run/rsm
    // gateway.login_timeout: also bounds a new session's account check.
    std::chrono::seconds login_timeout{30};
};

// A Gateway1.ShadowSession request, validated: `user` (uid) asks to see
// and control session `session_id`.
struct ShadowRequest {
    uint32_t uid = 0;
    std::string user;
    std::string session_id;
    std::string client_address;
};

// A Gateway1.CreateSession request, validated.
struct CreateRequest {
    uint32_t uid = 0;
    std::string user;
    std::string type;
    std::string desktop;
    uint32_t width = 1024, height = 768, depth = 24;
    std::string client_address, client_name;
    bool force_new = false;
    std::string session_id;  // reconnect to this one
    std::vector<std::string> companions;  // [companion.<name>] names; new sessions only
    std::string rhost, gateway;  // from the login, for a new executor's PAM_RHOST
};

class SessionRegistry final : public SessionDirectory {
public:
    // `system_bus` (may be null: then no session can start) reaches systemd.
    SessionRegistry(sd_event* event, ChildReaper& reaper, sd_bus* system_bus, SessionSettings settings);
    ~SessionRegistry() override;
    SessionRegistry(const SessionRegistry&) = delete;
    SessionRegistry& operator=(const SessionRegistry&) = delete;

    // New settings apply to sessions started from now on (the display range
    // too: numbers in use stay with their sessions).
    void reconfigure(SessionSettings settings);
    // Called by reload(); set by main (re-reads rsm.toml, applies it everywhere).
    std::function<std::string()> reload_handler;

    // Gateway1.CreateSession: answers `call` itself, now or when the session
    // is ready. `executor` is the connection's logged-in executor, taken if a
    // new session needs one (may be null). Throws bus::BusError for errors
    // known at once.
    void create(sd_bus_message* call, CreateRequest request, std::unique_ptr<ExecutorLink>& executor);
    // Gateway1.ConnectSession: answers `call` later. Throws bus::BusError.
    void connect(sd_bus_message* call, uint32_t uid, const std::string& id, const std::string& client_address,
                 const std::string& client_name);
    // Gateway1.ShadowSession (session_shadow.cpp): answers `call` later,
    // once the owner agreed (when someone else asks) and the shadowing
    // nxagent listens. Throws bus::BusError for errors known at once.
    void shadow(sd_bus_message* call, ShadowRequest request);
    // Gateway1.TerminateSession. Throws bus::BusError(NoSuchSession).
    void terminate_owned(uint32_t uid, const std::string& id);
    std::vector<const session::Record*> sessions_of(uint32_t uid) const;

    // After a restart: takes the executor links systemd kept in its fd store
    // (keyed by session id) and the records in runtime_dir/sessions, and
    // re-attaches every session whose executor still answers. Records without
    // a live executor are removed.
    void recover(std::map<std::string, UniqueFd> links);
    // An executor that connected to the executor socket (its old link reached
    // EOF: the manager was stopped for good and the fd store dropped): makes
    // a server link on `fd`, calls Attach, and adds the session the reply
    // describes, with its record file and a copy of the link in the fd store.
    // `pid` is the peer's (SO_PEERCRED). An id already known is refused: the
    // new link is closed, nothing is terminated.
    void adopt_announced(UniqueFd fd, pid_t pid);
    std::size_t size() const { return entries_.size(); }
    // Anything exit-on-idle must wait for: a session (starting, live or
    // ending), an announce being adopted, stored links being read back, or
    // links and entries not freed yet.
    bool has_work() const;

    // SessionDirectory
    std::vector<const session::Record*> sessions() const override;
    const session::Record* find(const std::string& id) const override;
    const session::Record* find_by_pid(pid_t pid) const override;
    bool terminate(const std::string& id) override;
    bool disconnect(const std::string& id) override;
    std::size_t terminate_user(uint32_t uid) override;
    std::string reload() override;
    void add_observer(SessionObserver* o) override;
    void remove_observer(SessionObserver* o) override;

private:
    struct Entry;
    Entry* lookup(const std::string& id) const;
    Entry& add_entry(session::Record record, std::unique_ptr<ExecutorLink> link);
    ExecutorLink::Callbacks link_callbacks(const std::string& id);
    void start_new(sd_bus_message* call, CreateRequest request, session::DisplayType type,
                   const std::optional<session::DesktopSession>& desktop, std::unique_ptr<ExecutorLink>& executor);
    void on_executor_ready(const std::string& id);
    void on_scope_ready(const std::string& id, const std::string& error);
    void on_started(const std::string& id, ExecutorReply reply);
    // Arms the start's deadline for `step`; if no timer can be made the
    // start fails (answered, cleaned up) and false is returned.
    bool arm_start_deadline(Entry& e, StartStep step, uint64_t timeout_usec);
    // A step of the start did not finish in time (session_start_timeout.cpp).
    void on_start_timeout(const std::string& id, StartStep step, uint64_t timeout_usec);
    void on_state_changed(const std::string& id, const session::Record& from_executor);
    void on_shadow_ended(const std::string& id, uint32_t display);
    void on_link_closed(const std::string& id);
    void take_announce(Entry& e, const session::Record& announced);
    void store_link(const Entry& e);
    void on_announced(uint64_t key, pid_t pid, ExecutorReply reply);
    void retire(std::unique_ptr<ExecutorLink> link);
    void fail_waiting(Entry& e, const char* error_name, const std::string& message);
    void reply_created(sd_bus_message* call, const std::string& id, bool reused);
    void persist(const Entry& e);
    void notify_changed(const Entry& e, const std::vector<std::string>& changed);
    void bury(const std::string& id);
    // The end of a session (docs/design-notes.md, "How a session ends"):
    // sweeps its scope and logind session after `delay_usec`, then buries it.
    void sweep(const std::string& id, uint64_t delay_usec);
    std::string sessions_dir() const;
    static int on_collect(sd_event_source* s, void* userdata);

    sd_event* event_;
    ChildReaper& reaper_;
    SessionSettings settings_;
    session::ReconnectPolicy policy_;
    ScopeSettings scope_settings_;
    // The system bus's calls to systemd and logind (StartTransientUnit,
    // StopUnit, KillUnit, TerminateSession, KillSession): at most
    // system_calls_in_flight await replies, half of dbus-daemon's 128 per
    // connection, so that ending hundreds of sessions at once queues their
    // sweeps instead of having them refused (call_queue.hpp).
    std::unique_ptr<bus::CallQueue> system_calls_;
    std::unique_ptr<ScopeStarter> scopes_;
    std::unique_ptr<LogindSessions> logind_;    // with scopes_
    std::unique_ptr<SessionSweeper> sweeper_;   // with scopes_
    session::DisplayAllocator displays_;
    std::map<std::string, std::unique_ptr<Entry>> entries_;
    std::vector<std::unique_ptr<Entry>> graveyard_;
    std::vector<std::unique_ptr<ExecutorLink>> retired_links_;
    // Links from the executor socket until their Attach reply names the session.
    std::map<uint64_t, std::unique_ptr<ExecutorLink>> announcing_;
    uint64_t next_announce_ = 1;
    EventSourcePtr collect_source_;
    std::vector<SessionObserver*> observers_;
    // Stored links still being read up to their resync marker (recover()).
    std::unique_ptr<class LinkRecovery> recovering_;
};

}  // namespace rsm::manager
