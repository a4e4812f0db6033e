#include "gateway_connection.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus/connection.hpp"
#include "bus/error.hpp"
#include "bus/names.hpp"
#include "gateway_server.hpp"
#include "protocol/client_info_bus.hpp"
#include "session/desktop_entry.hpp"
#include "session/session_id.hpp"
#include "session_registry.hpp"
#include "user_sockdir.hpp"
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

namespace {

int append_messages(sd_bus_message* reply, const std::vector<PamMessage>& messages) {
    int r = sd_bus_message_open_container(reply, 'a', "(us)");
    for (const auto& p : messages)
        if (r >= 0) r = sd_bus_message_append(reply, "(us)", p.style, p.text.c_str());
    if (r >= 0) r = sd_bus_message_close_container(reply);
    return r;
}

// Reads an a{sv} of options, calling on_entry(key, type) positioned on the
// variant; the callee reads it (or throws). Unknown keys are the callee's
// business too.
template <class F>
void read_options(sd_bus_message* m, F&& on_entry) {
    if (sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
        throw BusError(err::invalid_argument, "options: expected a{sv}");
    for (;;) {
        int r = sd_bus_message_enter_container(m, 'e', "sv");
        if (r < 0) throw BusError(err::invalid_argument, "options: malformed entry");
        if (r == 0) break;
        const char* key = nullptr;
        const char* contents = nullptr;
        if (sd_bus_message_read_basic(m, 's', &key) < 0 || sd_bus_message_peek_type(m, nullptr, &contents) < 0 ||
            !contents)
            throw BusError(err::invalid_argument, "options: malformed entry");
        on_entry(std::string(key), std::string(contents));
        if (sd_bus_message_exit_container(m) < 0) throw BusError(err::invalid_argument, "options: malformed entry");
    }
    if (sd_bus_message_exit_container(m) < 0) throw BusError(err::invalid_argument, "options: malformed");
}

std::string option_string(sd_bus_message* m, const std::string& key, const std::string& type) {
    const char* v = nullptr;
    if (type != "s" || sd_bus_message_read(m, "v", "s", &v) < 0)
        throw BusError(err::invalid_argument, key + ": expected a string (s), got '" + type + "'");
    if (std::strlen(v) > 4096) throw BusError(err::invalid_argument, key + ": too long");
    return v;
}

uint32_t option_u32(sd_bus_message* m, const std::string& key, const std::string& type) {
    uint32_t v = 0;
    if (type != "u" || sd_bus_message_read(m, "v", "u", &v) < 0)
        throw BusError(err::invalid_argument, key + ": expected an unsigned integer (u), got '" + type + "'");
    return v;
}

bool option_bool(sd_bus_message* m, const std::string& key, const std::string& type) {
    int v = 0;
    if (type != "b" || sd_bus_message_read(m, "v", "b", &v) < 0)
        throw BusError(err::invalid_argument, key + ": expected a boolean (b), got '" + type + "'");
    return v != 0;
}

void check_client_fields(std::string& address, const std::string& name) {
    if (!address.empty()) {
        std::string canonical;
        if (auto e = protocol::canonicalize_address(address, canonical))
            throw BusError(err::invalid_argument, "client_address: " + *e);
        address = canonical;
    }
    if (!name.empty())
        if (auto e = protocol::validate_host_name(name)) throw BusError(err::invalid_argument, "client_name: " + *e);
}

void check_session_id(const std::string& id) {
    if (!session::valid_session_id(id))
        throw BusError(err::invalid_argument, "session_id: expected 32 lower-case hex digits, got " +
                                                  protocol::quote_untrusted(id));
}

}  // namespace

GatewayConnection::GatewayConnection(GatewayServer& server, uint64_t id, UniqueFd fd, const ucred& peer)
    : server_(server), id_(id), peer_(peer), accepted_at_(std::chrono::steady_clock::now()) {
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
    arm_login_deadline();
}

GatewayConnection::~GatewayConnection() {
    start_processing_.reset();
    login_deadline_.reset();
    disconnect_slot_.reset();
    filter_slot_.reset();
    dbus_slot_.reset();
    gateway_slot_.reset();
    pending_call_.reset();
    if (executor_) server_.retire(std::move(executor_));
}

void GatewayConnection::abort_pending(const char* error_name, const std::string& message) {
    if (pending_call_) {
        (void)sd_bus_reply_method_errorf(pending_call_.get(), error_name, "%s", message.c_str());
        pending_call_.reset();
        pending_kind_ = PendingKind::none;
    }
}

void GatewayConnection::stop_reading() {
    // Messages already read (or still arriving: a peer may keep writing into
    // a socket shut for reading) are dropped by the filter from now on.
    closing_ = true;
    const int fd = sd_bus_get_fd(bus_.get());
    if (fd >= 0) (void)shutdown(fd, SHUT_RD);
}

int GatewayConnection::drop_when_closing(sd_bus_message*, void* userdata, sd_bus_error*) {
    return static_cast<GatewayConnection*>(userdata)->closing_ ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Helpers

log::Fields GatewayConnection::audit_fields() const {
    log::Fields f{{"RSM_GATEWAY_CONNECTION", std::to_string(id_)},
                  {"RSM_PEER_UID", std::to_string(peer_.uid)},
                  {"RSM_PEER_PID", std::to_string(peer_.pid)},
                  {"RSM_LOGIN_METHOD", login_method_}};
    const std::string& user = state_ == LoginState::authenticated ? user_ : attempted_user_;
    if (!user.empty()) f.push_back({"RSM_USER", user});
    if (!client_.address.empty()) f.push_back({"RSM_CLIENT_ADDRESS", client_.address});
    if (!client_.host_name.empty()) f.push_back({"RSM_CLIENT_HOST", client_.host_name});
    if (!client_.gateway.empty()) f.push_back({"RSM_GATEWAY", client_.gateway});
    return f;
}

std::string GatewayConnection::throttle_source() const {
    // The remote client if the gateway named it, else the gateway process's
    // own user: a local brute-forcer without an address is still throttled.
    return client_.address.empty() ? "uid:" + std::to_string(peer_.uid) : client_.address;
}

void GatewayConnection::require_no_login(const char* method) const {
    if (state_ == LoginState::authenticated)
        throw BusError(err::already_authenticated,
                       std::string(method) + ": already logged in as '" + user_ + "'; call Logout first");
    if (state_ == LoginState::authenticating || pending_call_)
        throw BusError(err::login_in_progress, std::string(method) + ": a login is already in progress");
}

void GatewayConnection::arm_login_deadline() {
    sd_event_source* s = nullptr;
    bus::check(sd_event_add_time_relative(server_.event(), &s, CLOCK_MONOTONIC,
                                          std::chrono::duration_cast<std::chrono::microseconds>(
                                              server_.settings().login_timeout)
                                              .count(),
                                          0, &GatewayConnection::on_login_deadline, this),
               "arming the login deadline");
    login_deadline_.reset(s);
}

void GatewayConnection::drop_executor() {
    if (executor_) server_.retire(std::move(executor_));
}

// ---------------------------------------------------------------------------
// Login machinery

void GatewayConnection::begin_named_login(std::string method, std::string user, protocol::ClientInfo client) {
    login_method_ = std::move(method);
    attempted_user_ = std::move(user);
    client_ = std::move(client);
    if (auto wait = server_.throttled_for(throttle_source())) {
        log::warning("Login refused: source throttled", audit_fields());
        throw BusError(err::throttled, "too many failed logins from " + throttle_source() + "; try again in " +
                                           std::to_string(wait->count()) + " s");
    }
}

void GatewayConnection::start_login(sd_bus_message* call, PendingKind kind, LoginRequest request) {
    const auto& s = server_.settings();
    request.pam_service = s.pam_service;
    request.rhost = client_.address;
    request.gateway = client_.gateway;
    request.conversation_timeout_usec =
        std::chrono::duration_cast<std::chrono::microseconds>(s.login_timeout).count();
    request.access = s.access;

    ExecutorLink::Callbacks callbacks;
    callbacks.on_conversation = [this](std::vector<PamMessage> prompts) { on_conversation(std::move(prompts)); };
    callbacks.on_disconnect = [this] { on_executor_gone(); };
    try {
        executor_ = ExecutorLink::spawn(server_.event(), server_.reaper(), s.executor_path, std::move(callbacks));
        executor_->login(request, [this](LoginResult r) { on_login_result(std::move(r)); });
    } catch (const std::exception& e) {
        drop_executor();
        log::error("Could not start the login process", {{"RSM_ERROR", e.what()}});
        throw BusError(err::failed, "could not start the login process");
    }
    state_ = LoginState::authenticating;
    pending_call_ = ref_message(call);
    pending_kind_ = kind;
}

void GatewayConnection::on_conversation(std::vector<PamMessage> prompts) {
    if (pending_kind_ != PendingKind::conversation || !pending_call_) {
        // Only BeginLogin/ContinueLogin wait for prompts; anything else here
        // is a bug or a confused executor: fail the round.
        if (executor_) executor_->fail_conversation(err::failed, "no conversation in progress");
        return;
    }
    prompts_outstanding_ = prompts.size();
    reply_conversation_state("prompt", prompts);
}

void GatewayConnection::reply_conversation_state(const char* state, const std::vector<PamMessage>& prompts) {
    MessagePtr call = std::move(pending_call_);
    pending_kind_ = PendingKind::none;
    sd_bus_message* raw = nullptr;
    if (sd_bus_message_new_method_return(call.get(), &raw) < 0) return;
    MessagePtr reply{raw};
    if (sd_bus_message_append(reply.get(), "s", state) < 0 || append_messages(reply.get(), prompts) < 0) return;
    (void)sd_bus_send(bus_.get(), reply.get(), nullptr);
}

void GatewayConnection::on_login_result(LoginResult result) {
    if (!result.ok) {
        login_failed(result.error_name, result.error_message);
        return;
    }
    state_ = LoginState::authenticated;
    uid_ = result.uid;
    user_ = result.user;
    login_deadline_.reset();
    if (login_method_ != "peer-credentials") server_.throttle_success(throttle_source());
    log::Fields f = audit_fields();
    f.push_back({"RSM_UID", std::to_string(uid_)});
    log::notice("Login succeeded for user '" + user_ + "' (" + login_method_ + ")", f);

    if (!pending_call_) return;
    if (pending_kind_ == PendingKind::conversation) {
        reply_conversation_state("authenticated", result.messages);
        return;
    }
    MessagePtr call = std::move(pending_call_);
    const PendingKind kind = std::exchange(pending_kind_, PendingKind::none);
    sd_bus_message* raw = nullptr;
    if (sd_bus_message_new_method_return(call.get(), &raw) < 0) return;
    MessagePtr reply{raw};
    int r = sd_bus_message_append(reply.get(), "us", uid_, user_.c_str());
    if (r >= 0 && kind == PendingKind::password) r = append_messages(reply.get(), result.messages);
    if (r >= 0) (void)sd_bus_send(bus_.get(), reply.get(), nullptr);
}

void GatewayConnection::login_failed(const std::string& error_name, const std::string& message) {
    drop_executor();
    state_ = LoginState::unauthenticated;
    ++failed_attempts_;
    const bool password_failure = error_name == err::authentication_failed;
    if (password_failure && login_method_ != "peer-credentials") server_.throttle_failure(throttle_source());

    log::Fields f = audit_fields();
    f.push_back({"RSM_ERROR", error_name});
    f.push_back({"RSM_REASON", message});
    f.push_back({"RSM_FAILED_ATTEMPTS", std::to_string(failed_attempts_)});
    log::warning("Login failed for user '" + attempted_user_ + "': " + message, f);
    if (password_failure) {
        // One line in a fixed form for fail2ban and friends.
        const std::string ip = client_.address.empty() ? "local" : client_.address;
        log::warning("AUTHFAIL: user=" + attempted_user_ + " ip=" + ip +
                         " time=" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                       std::chrono::system_clock::now().time_since_epoch())
                                                       .count()),
                     f);
    }

    const unsigned max = server_.settings().max_login_attempts;
    const bool exhausted = max != 0 && failed_attempts_ >= max;
    if (exhausted) {
        abort_pending(err::too_many_attempts,
                      message + "; " + std::to_string(failed_attempts_) +
                          " failed logins on this connection, closing it");
        server_.request_close(id_, "too many failed logins");
    } else {
        abort_pending(error_name.c_str(), message);
    }
}

void GatewayConnection::on_executor_gone() {
    if (state_ == LoginState::authenticating) {
        login_failed(err::failed, "the login process exited unexpectedly");
    } else if (state_ == LoginState::authenticated) {
        // The held PAM handle is gone; the login itself stays valid for
        // listing, and a session start will need a new login process.
        log::warning("The login process of an authenticated connection exited", audit_fields());
        drop_executor();
    }
}

// ---------------------------------------------------------------------------
// org.rsm.Gateway1 methods

int GatewayConnection::method_login_with_credentials(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        self->require_no_login("LoginWithCredentials");
        self->login_method_ = "peer-credentials";
        self->attempted_user_ = "uid:" + std::to_string(self->peer_.uid);
        self->client_ = {};
        LoginRequest req;
        req.mode = "account";
        req.uid = self->peer_.uid;
        self->start_login(m, PendingKind::credentials, std::move(req));
        return 1;
    });
}

int GatewayConnection::method_login_with_password(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        self->require_no_login("LoginWithPassword");
        std::string user = bus::read_string(m);
        std::string password = bus::read_string(m);
        protocol::ClientInfo client = protocol::read_client_info(m);
        if (auto e = protocol::validate_user_name(user)) throw BusError(err::invalid_argument, "user: " + *e);
        if (auto e = protocol::validate_password(password)) throw BusError(err::invalid_argument, "password: " + *e);
        self->begin_named_login("password", std::move(user), std::move(client));
        LoginRequest req;
        req.mode = "password";
        req.user = self->attempted_user_;
        req.password = std::move(password);
        self->start_login(m, PendingKind::password, std::move(req));
        return 1;
    });
}

int GatewayConnection::method_begin_login(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        self->require_no_login("BeginLogin");
        std::string user = bus::read_string(m);
        protocol::ClientInfo client = protocol::read_client_info(m);
        if (auto e = protocol::validate_user_name(user)) throw BusError(err::invalid_argument, "user: " + *e);
        self->begin_named_login("conversation", std::move(user), std::move(client));
        LoginRequest req;
        req.mode = "conversation";
        req.user = self->attempted_user_;
        self->start_login(m, PendingKind::conversation, std::move(req));
        return 1;
    });
}

int GatewayConnection::method_continue_login(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        if (!self->executor_ || !self->executor_->conversation_pending() || self->pending_call_)
            throw BusError(err::no_login_in_progress, "ContinueLogin: no conversation is waiting for answers");
        char** raw = nullptr;
        if (sd_bus_message_read_strv(m, &raw) < 0) throw BusError(err::invalid_argument, "answers: expected as");
        std::vector<std::string> answers;
        for (char** p = raw; p && *p; ++p) {
            answers.emplace_back(*p);
            explicit_bzero(*p, answers.back().size());
            free(*p);
        }
        free(raw);
        if (answers.size() != self->prompts_outstanding_)
            throw BusError(err::invalid_argument, "answers: expected " + std::to_string(self->prompts_outstanding_) +
                                                      " answers (one per prompt), got " +
                                                      std::to_string(answers.size()));
        for (const auto& a : answers)
            if (auto e = protocol::validate_answer(a)) throw BusError(err::invalid_argument, "answer: " + *e);
        self->pending_call_ = ref_message(m);
        self->pending_kind_ = PendingKind::conversation;
        self->executor_->answer_conversation(answers);
        for (auto& a : answers) explicit_bzero(a.data(), a.size());
        return 1;
    });
}

int GatewayConnection::method_get_login_state(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        const bool in = self->state_ == LoginState::authenticated;
        return sd_bus_reply_method_return(m, "sus", to_string(self->state_), in ? self->uid_ : 0u,
                                          in ? self->user_.c_str() : "");
    });
}

int GatewayConnection::method_logout(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        if (self->state_ != LoginState::unauthenticated)
            log::info("Logout", self->audit_fields());
        self->abort_pending(err::failed, "login cancelled by Logout");
        self->drop_executor();
        self->state_ = LoginState::unauthenticated;
        self->uid_ = 0;
        self->user_.clear();
        self->arm_login_deadline();
        // Failed attempts are not reset: Logout must not reset the retry bound.
        return sd_bus_reply_method_return(m, "");
    });
}

int GatewayConnection::method_close(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        int r = sd_bus_reply_method_return(m, "");
        self->server_.request_close(self->id_, "closed by the gateway");
        return r;
    });
}

int GatewayConnection::method_create_sockdir(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        self->require_login("CreateSockdir");
        std::string path;
        try {
            path = ensure_user_sockdir(self->server_.settings().runtime_dir, self->uid_);
        } catch (const std::exception& e) {
            throw BusError(err::failed, e.what());
        }
        log::info("Socket directory ready", {{"RSM_USER", self->user_}, {"RSM_SOCKDIR", path}});
        return sd_bus_reply_method_return(m, "s", path.c_str());
    });
}

void GatewayConnection::require_login(const char* method) const {
    if (state_ != LoginState::authenticated) throw BusError(err::not_authenticated, std::string(method) + ": log in first");
}

int GatewayConnection::method_list_sessions(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        self->require_login("ListSessions");
        sd_bus_message* raw = nullptr;
        bus::check(sd_bus_message_new_method_return(m, &raw), "reply");
        MessagePtr reply{raw};
        bus::check(sd_bus_message_open_container(reply.get(), 'a', "(susssssuuuttss)"), "reply");
        for (const session::Record* r : self->server_.sessions().sessions_of(self->uid_))
            bus::check(sd_bus_message_append(reply.get(), "(susssssuuuttss)", r->id.c_str(), r->uid, r->user.c_str(),
                                             session::to_string(r->state), r->type.c_str(), r->display.c_str(),
                                             r->desktop.c_str(), r->width, r->height, r->depth, r->created_usec,
                                             r->disconnected_usec, r->client_address.c_str(), r->client_name.c_str()),
                       "reply");
        bus::check(sd_bus_message_close_container(reply.get()), "reply");
        return sd_bus_send(nullptr, reply.get(), nullptr);
    });
}

int GatewayConnection::method_create_session(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        self->require_login("CreateSession");
        CreateRequest req;
        req.uid = self->uid_;
        req.user = self->user_;
        req.client_address = self->client_.address;
        req.client_name = self->client_.host_name;
        req.rhost = self->client_.address;
        req.gateway = self->client_.gateway;
        read_options(m, [&](const std::string& key, const std::string& type) {
            if (key == "type") req.type = option_string(m, key, type);
            else if (key == "desktop") req.desktop = option_string(m, key, type);
            else if (key == "width") req.width = option_u32(m, key, type);
            else if (key == "height") req.height = option_u32(m, key, type);
            else if (key == "depth") req.depth = option_u32(m, key, type);
            else if (key == "client_address") req.client_address = option_string(m, key, type);
            else if (key == "client_name") req.client_name = option_string(m, key, type);
            else if (key == "new") req.force_new = option_bool(m, key, type);
            else if (key == "session_id") req.session_id = option_string(m, key, type);
            else throw BusError(err::invalid_argument, "options: unknown key " + protocol::quote_untrusted(key));
        });
        if (req.width < 64 || req.width > 16384 || req.height < 64 || req.height > 16384)
            throw BusError(err::invalid_argument, "width, height: expected 64..16384, got " +
                                                      std::to_string(req.width) + "x" + std::to_string(req.height));
        if (req.depth != 8 && req.depth != 15 && req.depth != 16 && req.depth != 24 && req.depth != 32)
            throw BusError(err::invalid_argument, "depth: expected 8, 15, 16, 24 or 32, got " + std::to_string(req.depth));
        if (!req.desktop.empty() && !session::valid_desktop_name(req.desktop))
            throw BusError(err::invalid_argument, "desktop: expected a desktop entry name, got " +
                                                      protocol::quote_untrusted(req.desktop));
        if (!req.session_id.empty()) check_session_id(req.session_id);
        if (req.force_new && !req.session_id.empty())
            throw BusError(err::invalid_argument, "options: \"new\" and \"session_id\" exclude each other");
        check_client_fields(req.client_address, req.client_name);
        self->server_.sessions().create(m, std::move(req), self->executor_);
        return 1;  // answered by the registry
    });
}

int GatewayConnection::method_connect_session(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        self->require_login("ConnectSession");
        std::string id = bus::read_string(m);
        check_session_id(id);
        std::string address = self->client_.address, name = self->client_.host_name;
        read_options(m, [&](const std::string& key, const std::string& type) {
            if (key == "client_address") address = option_string(m, key, type);
            else if (key == "client_name") name = option_string(m, key, type);
            else throw BusError(err::invalid_argument, "options: unknown key " + protocol::quote_untrusted(key));
        });
        check_client_fields(address, name);
        self->server_.sessions().connect(m, self->uid_, id, address, name);
        return 1;
    });
}

int GatewayConnection::method_terminate_session(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        self->require_login("TerminateSession");
        std::string id = bus::read_string(m);
        check_session_id(id);
        self->server_.sessions().terminate_owned(self->uid_, id);
        return sd_bus_reply_method_return(m, "");
    });
}

int GatewayConnection::property_version(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply,
                                        void* userdata, sd_bus_error*) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return sd_bus_message_append(reply, "s", self->server_.settings().version.c_str());
}

// ---------------------------------------------------------------------------
// org.freedesktop.DBus: enough for clients written for a bus (busctl,
// dbus-python's BusConnection) to talk to us directly.

int GatewayConnection::method_hello(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        if (self->said_hello_)
            throw BusError("org.freedesktop.DBus.Error.Failed", "Already handled an Hello message");
        self->said_hello_ = true;
        const std::string unique = ":1." + std::to_string(self->id_);
        return sd_bus_reply_method_return(m, "s", unique.c_str());
    });
}

int GatewayConnection::method_ignore_match(sd_bus_message* m, void*, sd_bus_error*) {
    // rsm sends no signals on the gateway socket; accepting match rules keeps
    // clients that add them by default working.
    return sd_bus_reply_method_return(m, "");
}

int GatewayConnection::method_get_id(sd_bus_message* m, void*, sd_bus_error* error) {
    return bus::reply_errors(error, [&] {
        sd_id128_t id;
        bus::check(sd_id128_get_machine(&id), "machine id");
        char s[SD_ID128_STRING_MAX];
        return sd_bus_reply_method_return(m, "s", sd_id128_to_string(id, s));
    });
}

int GatewayConnection::method_get_name_owner(sd_bus_message* m, void*, sd_bus_error* error) {
    return bus::reply_errors(error, [&] {
        std::string name = bus::read_string(m);
        if (name != names::gateway_bus_name)
            throw BusError("org.freedesktop.DBus.Error.NameHasNoOwner", "Could not get owner of name '" + name +
                                                                            "': no such name");
        return sd_bus_reply_method_return(m, "s", names::gateway_bus_name);
    });
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
    log::info("Closing a connection that did not log in in time", self->audit_fields());
    self->abort_pending(err::timed_out, "no login within " +
                                            std::to_string(self->server_.settings().login_timeout.count()) + " s");
    self->server_.request_close(self->id_, "login timeout");
    return 0;
}

// ---------------------------------------------------------------------------

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
    SD_BUS_METHOD_WITH_ARGS("TerminateSession", SD_BUS_ARGS("s", session_id), SD_BUS_NO_RESULT,
                            &GatewayConnection::method_terminate_session, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

const sd_bus_vtable GatewayConnection::dbus_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS("Hello", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", unique_name), &GatewayConnection::method_hello,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("AddMatch", SD_BUS_ARGS("s", rule), SD_BUS_NO_RESULT,
                            &GatewayConnection::method_ignore_match, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("RemoveMatch", SD_BUS_ARGS("s", rule), SD_BUS_NO_RESULT,
                            &GatewayConnection::method_ignore_match, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetId", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", id), &GatewayConnection::method_get_id, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetNameOwner", SD_BUS_ARGS("s", name), SD_BUS_RESULT("s", owner),
                            &GatewayConnection::method_get_name_owner, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

}  // namespace rsm::manager
