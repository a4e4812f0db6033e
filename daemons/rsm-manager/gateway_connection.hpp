// One gateway connection: a peer-to-peer D-Bus server connection on an
// accepted socket of /run/rsm/gateway.sock, serving org.rsm.Gateway1 and the
// bits of org.freedesktop.DBus that bus clients expect (Hello).
//
// Its member functions live in one file per concept: gateway_connection.cpp
// (the object, its helpers and events, the vtable), gateway_login.cpp (the
// login state machine and methods), gateway_sessions.cpp (the session
// methods), gateway_dbus.cpp (the org.freedesktop.DBus emulation).
//
// State machine (documented in dbus/org.rsm.Gateway1.xml):
//   unauthenticated -> authenticating (waiting for a login slot, or an
//   executor runs PAM, or a failure waits out failure_delay) -> authenticated
//   authenticated -> unauthenticated (Logout)
// Logins run in an rsm-session executor (ExecutorLink); this object only
// routes messages between the gateway and that executor, so no call here
// ever blocks.
//
// Trust: a trusted gateway's claims about its client (address, host name)
// are believed; anyone else's are recorded as claims only, and the source
// of its logins is the peer itself ("uid:<n>").
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <vector>

#include "executor_link.hpp"
#include "protocol/validate.hpp"
#include "util/log.hpp"
#include "util/fd.hpp"
#include "util/handles.hpp"

namespace rsm::manager {

class GatewayServer;

enum class LoginState { unauthenticated, authenticating, authenticated };
const char* to_string(LoginState s);

class GatewayConnection {
public:
    GatewayConnection(GatewayServer& server, uint64_t id, UniqueFd fd, const ucred& peer, bool trusted);
    ~GatewayConnection();
    GatewayConnection(const GatewayConnection&) = delete;
    GatewayConnection& operator=(const GatewayConnection&) = delete;

    // Replies a peer may leave unread before it is cut off: a client that
    // pipelines calls and never reads would otherwise grow the manager's
    // write queue without bound.
    static constexpr uint64_t max_queued_replies = 128;

    uint64_t id() const { return id_; }
    LoginState state() const { return state_; }
    const ucred& peer() const { return peer_; }
    bool trusted() const { return trusted_; }
    // Who this connection's logins are counted and throttled as: the client
    // address a trusted gateway named, else "uid:<peer uid>".
    std::string source() const;
    std::chrono::steady_clock::time_point accepted_at() const { return accepted_at_; }
    // Answers the waiting call (if any) with an error now.
    void abort_pending(const char* error_name, const std::string& message);
    // Serve nothing more (the server is about to close the connection).
    void stop_serving();
    // The server has a login slot for this connection's queued login.
    void start_queued_login();

private:
    enum class PendingKind { none, credentials, password, conversation };

    // CLOCK_MONOTONIC in microseconds, and a duration in microseconds: the
    // units of the login deadline and the failure delay.
    static uint64_t now_usec();
    template <class Rep, class Period>
    static uint64_t usec_of(std::chrono::duration<Rep, Period> d) {
        return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
    }

    // org.rsm.Gateway1
    static int method_login_with_credentials(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_login_with_password(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_begin_login(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_continue_login(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_get_login_state(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_logout(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_close(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_create_sockdir(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_list_sessions(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_create_session(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_connect_session(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_shadow_session(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_terminate_session(sd_bus_message* m, void* userdata, sd_bus_error* error);
    void require_login(const char* method) const;
    static int property_version(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply,
                                void* userdata, sd_bus_error*);
    // org.freedesktop.DBus (the part a bus client needs)
    static int method_hello(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_ignore_match(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_get_id(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_get_name_owner(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int on_disconnected(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int drop_when_closing(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int on_login_deadline(sd_event_source* s, uint64_t usec, void* userdata);
    static int on_failure_delay(sd_event_source* s, uint64_t usec, void* userdata);

    static const sd_bus_vtable gateway_vtable[];
    static const sd_bus_vtable dbus_vtable[];

    void require_no_login(const char* method) const;
    // Takes the gateway's client dictionary: believed from a trusted
    // gateway, kept as a claim (logged, never used) from anyone else.
    void accept_client(protocol::ClientInfo client);
    // PAM_RHOST for this connection's logins and sessions.
    std::string rhost() const;
    // Records who a password or conversation login is for and from where;
    // throws Throttled if that (source, user) or source is locked out.
    void begin_named_login(std::string method, std::string user, protocol::ClientInfo client);
    void start_login(sd_bus_message* call, PendingKind kind, LoginRequest request);
    void spawn_login(LoginRequest request);
    void on_login_result(LoginResult result);
    void on_conversation(std::vector<PamMessage> prompts);
    void on_executor_gone();
    void reply_conversation_state(const char* state, const std::vector<PamMessage>& prompts);
    void login_failed(const std::string& error_name, const std::string& message);
    void send_failure();
    void cancel_login(const char* why);
    void release_slot();
    void drop_executor();
    void enter_authenticated();
    void arm_login_deadline(uint64_t after_usec);
    bool padded() const;
    log::Fields audit_fields() const;

    GatewayServer& server_;
    uint64_t id_;
    ucred peer_;
    bool trusted_;
    std::chrono::steady_clock::time_point accepted_at_;
    BusPtr bus_;
    SlotPtr gateway_slot_, dbus_slot_, disconnect_slot_, filter_slot_;
    bool closing_ = false;
    EventSourcePtr start_processing_;
    bool said_hello_ = false;

    // The unauthenticated-time budget (login_timeout): time spent not
    // logged in adds up over the connection's life; Logout does not reset it.
    EventSourcePtr login_deadline_;
    uint64_t unauthenticated_usec_ = 0;  // spent before unauthenticated_since_
    uint64_t unauthenticated_since_ = 0; // CLOCK_MONOTONIC; 0 while authenticated

    LoginState state_ = LoginState::unauthenticated;
    unsigned failed_attempts_ = 0;
    // The login being attempted or held.
    std::string login_method_;  // "peer-credentials", "password", "conversation"
    std::string attempted_user_;
    protocol::ClientInfo client_;  // address and host name only if trusted_
    std::string claimed_address_, claimed_host_;  // an untrusted peer's claims
    uint32_t uid_ = 0;
    std::string user_;
    std::unique_ptr<ExecutorLink> executor_;
    // The gateway's call waiting for the executor (one at a time).
    MessagePtr pending_call_;
    PendingKind pending_kind_ = PendingKind::none;
    uint64_t pending_since_usec_ = 0;  // when pending_call_ arrived (CLOCK_MONOTONIC)
    std::size_t prompts_outstanding_ = 0;
    // A login waiting for a slot (the executor is not started yet), and
    // whether this connection holds a slot.
    std::optional<LoginRequest> queued_request_;
    bool holds_slot_ = false;
    // A failed login waiting out failure_delay before it is answered.
    EventSourcePtr failure_timer_;
    std::string failure_name_, failure_message_;
    bool close_after_failure_ = false;
};

}  // namespace rsm::manager
