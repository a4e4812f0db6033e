// GatewayConnection: the connection object itself (construction, closing,
// the helpers every part uses, its events) and the Gateway1 vtable. Its
// methods live by concept: gateway_login.cpp (the login state machine and
// the login methods), gateway_sessions.cpp (the session methods),
// gateway_dbus.cpp (the org.freedesktop.DBus emulation).
#include "gateway_connection.hpp"

#include <ctime>
#include <string>

#include "bus/connection.hpp"
#include "bus/error.hpp"
#include "bus/names.hpp"
#include "gateway_server.hpp"
#include "util/log.hpp"

namespace rsm::manager {

using bus::BusError;
namespace err = names::error;

const char* to_string(LoginState s) {
    switch (s) {
    case LoginState::unauthenticated: return "unauthenticated";
    case LoginState::authenticating: return "authenticating";
    case LoginState::authenticated: return "authenticated";
    }
    return "unknown";
}

uint64_t GatewayConnection::now_usec() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

GatewayConnection::GatewayConnection(GatewayServer& server, uint64_t id, UniqueFd fd, const ucred& peer,
                                     bool trusted)
    : server_(server), id_(id), peer_(peer), trusted_(trusted), accepted_at_(std::chrono::steady_clock::now()) {
    bus_ = bus::make_server(std::move(fd), server_.event());
    sd_bus_set_description(bus_.get(), ("gateway-" + std::to_string(id_)).c_str());
    sd_bus_slot* slot = nullptr;
    bus::check(sd_bus_add_object_vtable(bus_.get(), &slot, names::gateway_path, names::gateway_interface,
                                        gateway_vtable, this),
               "adding the Gateway1 object");
    gateway_slot_.reset(slot);
    bus::check(sd_bus_add_object_vtable(bus_.get(), &slot, names::dbus_path, names::dbus_interface, dbus_vtable, this),
               "adding the org.freedesktop.DBus object");
    dbus_slot_.reset(slot);
    bus::check(sd_bus_match_signal(bus_.get(), &slot, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                   "org.freedesktop.DBus.Local", "Disconnected", &GatewayConnection::on_disconnected,
                                   this),
               "watching for disconnection");
    disconnect_slot_.reset(slot);
    bus::check(sd_bus_add_filter(bus_.get(), &slot, &GatewayConnection::drop_when_closing, this),
               "adding the closing filter");
    filter_slot_.reset(slot);
    start_processing_ = bus::process_until_running(bus_.get(), server_.event());
    unauthenticated_since_ = now_usec();
    arm_login_deadline(usec_of(server_.settings().login_timeout));
}

GatewayConnection::~GatewayConnection() {
    start_processing_.reset();
    login_deadline_.reset();
    failure_timer_.reset();
    disconnect_slot_.reset();
    filter_slot_.reset();
    dbus_slot_.reset();
    gateway_slot_.reset();
    pending_call_.reset();
    if (queued_request_) queued_request_->password.clear();
    if (executor_) server_.retire(std::move(executor_));
    // What we answered last (an error, Close's reply) may still be queued
    // for a peer that reads slowly or not at all: drained, never flushed.
    server_.drain(id_, std::move(bus_));
}

void GatewayConnection::abort_pending(const char* error_name, const std::string& message) {
    failure_timer_.reset();
    if (pending_call_) {
        (void)sd_bus_reply_method_errorf(pending_call_.get(), error_name, "%s", message.c_str());
        pending_call_.reset();
        pending_kind_ = PendingKind::none;
    }
}

void GatewayConnection::stop_serving() {
    // Messages already read, or still arriving, are dropped by the filter
    // from now on; the server drains and closes the bus.
    closing_ = true;
    login_deadline_.reset();
}

int GatewayConnection::drop_when_closing(sd_bus_message*, void* userdata, sd_bus_error*) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    if (self->closing_) return 1;
    uint64_t queued = 0;
    if (sd_bus_get_n_queued_write(self->bus_.get(), &queued) >= 0 && queued > max_queued_replies) {
        log::warning("Closing a gateway connection whose peer does not read its replies", self->audit_fields());
        self->abort_pending(err::failed, "the connection does not read its replies");
        self->server_.request_close(self->id_, "peer does not read");
        return 1;
    }
    return 0;
}

// ---------------------------------------------------------------------------
// Helpers

std::string GatewayConnection::source() const {
    // The remote client if a trusted gateway named it, else the peer
    // process's own user: a local brute-forcer is throttled as itself, and
    // cannot make rsm blame (or spare) an address it names.
    if (trusted_ && !client_.address.empty()) return client_.address;
    return "uid:" + std::to_string(peer_.uid);
}

std::string GatewayConnection::rhost() const {
    // Without a believed address the client is on this machine (the peer
    // is), and a non-empty PAM_RHOST is what makes pam_systemd register the
    // session as remote (Remote=yes): pam_systemd sets remote when PAM_RHOST
    // is non-empty and not a "localhost" name (is_localhost() compares
    // names only, so 127.0.0.1 counts as remote). See docs/gateway.md.
    return trusted_ && !client_.address.empty() ? client_.address : std::string("127.0.0.1");
}

void GatewayConnection::accept_client(protocol::ClientInfo client) {
    claimed_address_.clear();
    claimed_host_.clear();
    if (!trusted_) {
        claimed_address_ = std::move(client.address);
        claimed_host_ = std::move(client.host_name);
        client.address.clear();
        client.host_name.clear();
    }
    client_ = std::move(client);
}

log::Fields GatewayConnection::audit_fields() const {
    log::Fields f{{"RSM_GATEWAY_CONNECTION", std::to_string(id_)},
                  {"RSM_PEER_UID", std::to_string(peer_.uid)},
                  {"RSM_PEER_PID", std::to_string(peer_.pid)},
                  {"RSM_TRUSTED_GATEWAY", trusted_ ? "yes" : "no"},
                  {"RSM_SOURCE", source()},
                  {"RSM_LOGIN_METHOD", login_method_}};
    const std::string& user = state_ == LoginState::authenticated ? user_ : attempted_user_;
    if (!user.empty()) f.push_back({"RSM_USER", user});
    if (!client_.address.empty()) f.push_back({"RSM_CLIENT_ADDRESS", client_.address});
    if (!client_.host_name.empty()) f.push_back({"RSM_CLIENT_HOST", client_.host_name});
    // An untrusted peer's claims: kept for the record, quoted, never used.
    if (!claimed_address_.empty()) f.push_back({"RSM_CLAIMED_ADDRESS", protocol::quote_untrusted(claimed_address_)});
    if (!claimed_host_.empty()) f.push_back({"RSM_CLAIMED_HOST", protocol::quote_untrusted(claimed_host_)});
    if (!client_.gateway.empty()) f.push_back({"RSM_GATEWAY", client_.gateway});
    return f;
}

void GatewayConnection::require_no_login(const char* method) const {
    if (state_ == LoginState::authenticated)
        throw BusError(err::already_authenticated,
                       std::string(method) + ": already logged in as '" + user_ + "'; call Logout first");
    if (state_ == LoginState::authenticating || pending_call_)
        throw BusError(err::login_in_progress, std::string(method) + ": a login is already in progress");
}

void GatewayConnection::arm_login_deadline(uint64_t after_usec) {
    sd_event_source* s = nullptr;
    bus::check(sd_event_add_time_relative(server_.event(), &s, CLOCK_MONOTONIC, after_usec, 0,
                                          &GatewayConnection::on_login_deadline, this),
               "arming the login deadline");
    login_deadline_.reset(s);
}

void GatewayConnection::enter_authenticated() {
    state_ = LoginState::authenticated;
    if (unauthenticated_since_) unauthenticated_usec_ += now_usec() - unauthenticated_since_;
    unauthenticated_since_ = 0;
    login_deadline_.reset();
}

void GatewayConnection::drop_executor() {
    if (executor_) server_.retire(std::move(executor_));
}

void GatewayConnection::release_slot() {
    if (queued_request_) {
        queued_request_->password.clear();
        queued_request_.reset();
    }
    // Gives back a running slot or leaves the line (a no-op for neither).
    holds_slot_ = false;
    server_.release_login_slot(id_);
}

bool GatewayConnection::padded() const {
    return login_method_ == "password" || login_method_ == "conversation";
}

// ---------------------------------------------------------------------------
// Events

int GatewayConnection::on_disconnected(sd_bus_message*, void* userdata, sd_bus_error*) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    self->server_.request_close(self->id_, "peer disconnected");
    return 0;
}

int GatewayConnection::on_login_deadline(sd_event_source*, uint64_t, void* userdata) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    if (self->state_ == LoginState::authenticated) return 0;
    log::info("Closing a connection that used up its time to log in", self->audit_fields());
    self->abort_pending(err::timed_out, "not logged in within " +
                                            std::to_string(self->server_.settings().login_timeout.count()) +
                                            " s (time without a login, summed over the connection)");
    self->server_.request_close(self->id_, "login timeout");
    return 0;
}

int GatewayConnection::property_version(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply,
                                        void* userdata, sd_bus_error*) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return sd_bus_message_append(reply, "s", self->server_.settings().version.c_str());
}

// ---------------------------------------------------------------------------
// org.rsm.Gateway1 (handlers in gateway_login.cpp and gateway_sessions.cpp)

const sd_bus_vtable GatewayConnection::gateway_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Version", "s", &GatewayConnection::property_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_METHOD_WITH_ARGS("LoginWithCredentials", SD_BUS_NO_ARGS, SD_BUS_RESULT("u", uid, "s", user),
                            &GatewayConnection::method_login_with_credentials, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("LoginWithPassword", SD_BUS_ARGS("s", user, "s", password, "a{sv}", client),
                            SD_BUS_RESULT("u", uid, "s", user, "a(us)", messages),
                            &GatewayConnection::method_login_with_password, SD_BUS_VTABLE_SENSITIVE | SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("BeginLogin", SD_BUS_ARGS("s", user, "a{sv}", client),
                            SD_BUS_RESULT("s", state, "a(us)", prompts), &GatewayConnection::method_begin_login, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ContinueLogin", SD_BUS_ARGS("as", answers), SD_BUS_RESULT("s", state, "a(us)", prompts),
                            &GatewayConnection::method_continue_login, SD_BUS_VTABLE_SENSITIVE | SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetLoginState", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", state, "u", uid, "s", user),
                            &GatewayConnection::method_get_login_state, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Logout", "", "", &GatewayConnection::method_logout, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Close", "", "", &GatewayConnection::method_close, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("CreateSockdir", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", path),
                            &GatewayConnection::method_create_sockdir, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ListSessions", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(susssssuuuttss)", sessions),
                            &GatewayConnection::method_list_sessions, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("CreateSession", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("s", session_id, "b", reused),
                            &GatewayConnection::method_create_session, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ConnectSession", SD_BUS_ARGS("s", session_id, "a{sv}", options),
                            SD_BUS_RESULT("a{sh}", fds, "a{sv}", details), &GatewayConnection::method_connect_session,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ShadowSession", SD_BUS_ARGS("s", session_id, "a{sv}", options),
                            SD_BUS_RESULT("a{sh}", fds, "a{sv}", details), &GatewayConnection::method_shadow_session,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("TerminateSession", SD_BUS_ARGS("s", session_id), SD_BUS_NO_RESULT,
                            &GatewayConnection::method_terminate_session, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

}  // namespace rsm::manager
