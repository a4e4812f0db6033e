// One gateway connection: a peer-to-peer D-Bus server connection on an
// accepted socket of /run/rsm/gateway.sock, serving org.rsm.Gateway1 and the
// bits of org.freedesktop.DBus that bus clients expect (Hello).
//
// State machine (documented in dbus/org.rsm.Gateway1.xml):
//   unauthenticated -> authenticating (an executor runs PAM) -> authenticated
//   authenticated -> unauthenticated (Logout)
// Logins run in an rsm-session executor (ExecutorLink); this object only
// routes messages between the gateway and that executor, so no call here
// ever blocks.
#pragma once

#include <chrono>
#include <memory>
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
    GatewayConnection(GatewayServer& server, uint64_t id, UniqueFd fd, const ucred& peer);
    ~GatewayConnection();
    GatewayConnection(const GatewayConnection&) = delete;
    GatewayConnection& operator=(const GatewayConnection&) = delete;

    uint64_t id() const { return id_; }
    LoginState state() const { return state_; }
    std::chrono::steady_clock::time_point accepted_at() const { return accepted_at_; }
    // Called by the server just before it destroys this connection.
    void abort_pending(const char* error_name, const std::string& message);
    // Shuts the socket for reading (the server is about to close it).
    void stop_reading();

private:
    enum class PendingKind { none, credentials, password, conversation };

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

    static const sd_bus_vtable gateway_vtable[];
    static const sd_bus_vtable dbus_vtable[];

    void require_no_login(const char* method) const;
    // Records who a password or conversation login is for and from where;
    // throws Throttled if that source is locked out.
    void begin_named_login(std::string method, std::string user, protocol::ClientInfo client);
    void start_login(sd_bus_message* call, PendingKind kind, LoginRequest request);
    void on_login_result(LoginResult result);
    void on_conversation(std::vector<PamMessage> prompts);
    void on_executor_gone();
    void reply_conversation_state(const char* state, const std::vector<PamMessage>& prompts);
    void login_failed(const std::string& error_name, const std::string& message);
    void drop_executor();
    void arm_login_deadline();
    std::string throttle_source() const;
    log::Fields audit_fields() const;

    GatewayServer& server_;
    uint64_t id_;
    ucred peer_;
    std::chrono::steady_clock::time_point accepted_at_;
    BusPtr bus_;
    SlotPtr gateway_slot_, dbus_slot_, disconnect_slot_, filter_slot_;
    bool closing_ = false;
    EventSourcePtr login_deadline_;
    EventSourcePtr start_processing_;
    bool said_hello_ = false;

    LoginState state_ = LoginState::unauthenticated;
    unsigned failed_attempts_ = 0;
    // The login being attempted or held.
    std::string login_method_;  // "peer-credentials", "password", "conversation"
    std::string attempted_user_;
    protocol::ClientInfo client_;
    uint32_t uid_ = 0;
    std::string user_;
    std::unique_ptr<ExecutorLink> executor_;
    // The gateway's call waiting for the executor (one at a time).
    MessagePtr pending_call_;
    PendingKind pending_kind_ = PendingKind::none;
    std::size_t prompts_outstanding_ = 0;
};

}  // namespace rsm::manager
