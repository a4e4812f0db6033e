// /org/rsm/Executor1 (org.rsm.Executor1): what the manager asks of this
// executor over the link, and the one session it runs.
//
// Life of an executor (dbus/org.rsm.Executor1.xml has the details):
//
//   login     Login authenticates a user; the PAM handle is kept. Losing the
//             link ends the executor (that is how the manager drops a login).
//   starting  StartSession forked the session leader (session_leader.hpp);
//             the reply waits for the display to be ready.
//   running   the session is "disconnected" or "active" (a gateway holds the
//             control channel, control_channel.hpp). Timers
//             (session_timers.hpp) and the manager link (manager_link.hpp)
//             survive manager restarts.
//   ending    the leader was asked to end the session.
//   ended     the leader is gone (the PAM session is closed): SessionEnded is
//             sent, and the loop exits once the messages are written.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <vector>

#include "control_channel.hpp"
#include "display_client_watch.hpp"
#include "display_peer_watch.hpp"
#include "manager_link.hpp"
#include "pam/pam_handle.hpp"
#include "session/record.hpp"
#include "session_info.hpp"
#include "session_leader.hpp"
#include "session_timers.hpp"
#include "shadow_session.hpp"
#include "util/fd.hpp"
#include "util/handles.hpp"
#include "util/log.hpp"

namespace rsm::session {

class Executor {
public:
    // Serves the link on `link` (fd 3). `event` must outlive the Executor;
    // the Executor ends the loop (sd_event_exit) when it is done.
    Executor(sd_event* event, UniqueFd link);
    ~Executor();
    Executor(const Executor&) = delete;
    Executor& operator=(const Executor&) = delete;

    // SIGTERM/SIGINT: ends the session, if any, and exits once the leader has
    // closed it; without a session, exits at once.
    void stop(const std::string& why);

private:
    enum class Phase { login, starting, running, ending, ended };

    // org.rsm.Executor1 (read, validate, act, reply).
    static int method_login(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept;
    static int method_start_session(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept;
    static int method_connect(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept;
    static int method_disconnect(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept;
    static int method_terminate(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept;
    static int method_attach(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept;
    static int method_set_limits(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept;
    static int method_shadow(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept;
    int login(sd_bus_message* m);
    int start_session(sd_bus_message* m);
    int connect(sd_bus_message* m);
    // The rest of Connect once the display is connected: the control
    // channel, the reply, the newest connection wins.
    int finish_connect(sd_bus_message* m, const ClientInfo& client, UniqueFd display);
    // nxagent does not listen (its client is connected, or it suspended a
    // moment ago): cut the current client off and answer `m` once nxagent
    // listens again, trying every nx_wait_interval_usec, nx_wait_tries times.
    void wait_for_nx(sd_bus_message* m, const ClientInfo& client);
    static int on_nx_wait(sd_event_source* s, uint64_t usec, void* userdata) noexcept;
    void fail_nx_wait(const std::string& why);
    int disconnect(sd_bus_message* m);
    int terminate(sd_bus_message* m);
    int attach(sd_bus_message* m);
    int set_limits(sd_bus_message* m);  // executor_limits.cpp
    int shadow(sd_bus_message* m);      // executor_shadow.cpp
    void stop_shadows(const std::string& why);
    void on_shadow_gone(uint32_t display_number);
    static int on_shadow_gc(sd_event_source* s, void* userdata) noexcept;

    // Events.
    void on_link_bus(sd_bus* bus);
    void on_link_lost(const std::string& why);
    void on_leader_opened(const std::string& logind_session);
    void on_leader_ready(const LeaderReady& ready);
    void on_leader_exit(const std::string& reason, bool failed);
    void on_timer(Timer t);
    void on_gateway_disconnect(uint64_t serial, const std::string& why);
    void on_activity(uint64_t serial);

    // Session life.
    void require_running(const char* method) const;
    void end_session(const std::string& reason, bool failed);
    void finish(const std::string& reason, bool failed);
    void exit_when_flushed();
    static int on_exit_check(sd_event_source* s, void* userdata) noexcept;
    static int on_exit_timeout(sd_event_source* s, uint64_t usec, void* userdata) noexcept;

    // The control channel.
    void retire_control(const std::optional<std::string>& request_reason);
    void mark_disconnected();
    void schedule_gc();
    static int on_gc(sd_event_source* s, void* userdata) noexcept;

    void emit_state_changed();
    log::Fields fields() const;

    sd_event* event_;
    SlotPtr object_slot_;
    std::optional<ManagerLink> link_;

    bool login_called_ = false;
    std::optional<pam::Handle> pam_;
    uint32_t uid_ = 0;
    std::string user_;
    std::string home_;  // the account's, at StartSession

    Phase phase_ = Phase::login;
    StartParams params_;
    Record record_;
    LeaderReady ready_;
    std::unique_ptr<SessionLeader> leader_;
    std::optional<SessionTimers> timers_;
    MessagePtr pending_start_;  // StartSession, answered when the display is ready
    unsigned connects_ = 0;
    std::optional<std::string> end_reason_;  // why we ended it; wins over the leader's reason
    bool end_failed_ = false;

    struct NxWait {
        MessagePtr call;  // the Connect waiting for nxagent
        ClientInfo client;
        unsigned tries = 0;
        EventSourcePtr timer;
    } nx_wait_;
    static constexpr uint64_t nx_wait_interval_usec = 50'000;
    static constexpr unsigned nx_wait_tries = 200;  // 10 s: the leader's SIGHUPs last as long

    std::unique_ptr<ControlChannel> control_;
    uint64_t control_serial_ = 0;
    std::vector<std::unique_ptr<ControlChannel>> retired_;
    // The current gateway's own connection to the display server, where
    // the display type names one (params_.display_client_socket).
    std::unique_ptr<DisplayClientWatch> client_watch_;
    // The current NX connection, watched for nxagent's close (suspend).
    std::unique_ptr<DisplayPeerWatch> peer_watch_;
    EventSourcePtr gc_;
    // Shadowings of this session (Shadow), freed by shadow_gc_ once gone.
    std::vector<std::unique_ptr<ShadowSession>> shadows_;
    EventSourcePtr shadow_gc_;
    EventSourcePtr exit_kick_, exit_check_, exit_timeout_;

    static const sd_bus_vtable vtable_[];
};

}  // namespace rsm::session
