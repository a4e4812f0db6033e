// GatewayConnection, the login: the state machine from unauthenticated to
// authenticated (login slots, the executor that runs PAM, conversations,
// failures padded to failure_delay, the throttle) and the org.rsm.Gateway1
// methods that drive it (Login*, BeginLogin/ContinueLogin, GetLoginState,
// Logout, Close).
#include "gateway_connection.hpp"

#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "bus/connection.hpp"
#include "bus/error.hpp"
#include "bus/names.hpp"
#include "gateway_server.hpp"
#include "protocol/client_info_bus.hpp"
#include "util/log.hpp"

namespace rsm::manager {

using bus::BusError;
namespace err = names::error;

namespace {

int append_messages(sd_bus_message* reply, const std::vector<PamMessage>& messages) {
    int r = sd_bus_message_open_container(reply, 'a', "(us)");
    for (const auto& p : messages)
        if (r >= 0) r = sd_bus_message_append(reply, "(us)", p.style, p.text.c_str());
    if (r >= 0) r = sd_bus_message_close_container(reply);
    return r;
}

}  // namespace

// ---------------------------------------------------------------------------
// Login machinery

void GatewayConnection::begin_named_login(std::string method, std::string user, protocol::ClientInfo client) {
    login_method_ = std::move(method);
    attempted_user_ = std::move(user);
    accept_client(std::move(client));
    if (auto refused = server_.throttled_for(source(), attempted_user_)) {
        log::warning("Login refused: throttled", audit_fields());
        throw BusError(err::throttled, "too many failed logins " +
                                           (refused->whole_source ? std::string()
                                                                  : "for '" + attempted_user_ + "' ") +
                                           "from " + source() + "; try again in " +
                                           std::to_string(refused->wait.count()) + " s");
    }
}

void GatewayConnection::start_login(sd_bus_message* call, PendingKind kind, LoginRequest request) {
    const auto& s = server_.settings();
    request.pam_service = s.pam_service;
    request.rhost = rhost();
    request.gateway = client_.gateway;
    request.conversation_timeout_usec = usec_of(s.login_timeout);
    request.access = s.access;

    state_ = LoginState::authenticating;
    pending_call_ = ref_message(call);
    pending_kind_ = kind;
    pending_since_usec_ = now_usec();
    if (!server_.request_login_slot(*this, source())) {
        // No executor yet: the login waits in line, holding nothing; the
        // unauthenticated-time budget keeps running.
        queued_request_ = std::move(request);
        log::info("Login waits for a free login slot", audit_fields());
        return;
    }
    holds_slot_ = true;
    try {
        spawn_login(std::move(request));
    } catch (...) {
        release_slot();
        state_ = LoginState::unauthenticated;
        pending_call_.reset();
        pending_kind_ = PendingKind::none;
        throw;
    }
}

void GatewayConnection::spawn_login(LoginRequest request) {
    ExecutorLink::Callbacks callbacks;
    callbacks.on_conversation = [this](std::vector<PamMessage> prompts) { on_conversation(std::move(prompts)); };
    callbacks.on_disconnect = [this] { on_executor_gone(); };
    try {
        executor_ = ExecutorLink::spawn(server_.event(), server_.reaper(), server_.settings().executor_path,
                                        std::move(callbacks));
        executor_->login(request, [this](LoginResult r) { on_login_result(std::move(r)); });
        request.password.clear();
    } catch (const std::exception& e) {
        request.password.clear();
        drop_executor();
        log::error("Could not start the login process", {{"RSM_ERROR", e.what()}});
        throw BusError(err::failed, "could not start the login process");
    }
}

void GatewayConnection::start_queued_login() {
    holds_slot_ = true;
    if (!queued_request_ || closing_) {
        release_slot();
        return;
    }
    LoginRequest request = std::move(*queued_request_);
    queued_request_.reset();
    // Failures from the same source may have locked it out meanwhile.
    if (login_method_ != "peer-credentials")
        if (auto refused = server_.throttled_for(source(), attempted_user_)) {
            request.password.clear();
            release_slot();
            state_ = LoginState::unauthenticated;
            log::warning("Login refused: throttled while it waited", audit_fields());
            abort_pending(err::throttled, "too many failed logins from " + source() + "; try again in " +
                                              std::to_string(refused->wait.count()) + " s");
            return;
        }
    try {
        spawn_login(std::move(request));
    } catch (const BusError& e) {
        release_slot();
        state_ = LoginState::unauthenticated;
        abort_pending(e.name().c_str(), e.what());
    }
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
    release_slot();
    if (!result.ok) {
        login_failed(result.error_name, result.error_message);
        return;
    }
    enter_authenticated();
    uid_ = result.uid;
    user_ = result.user;
    if (login_method_ != "peer-credentials") server_.throttle_success(source(), attempted_user_);
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
    release_slot();
    ++failed_attempts_;
    const bool password_failure = error_name == err::authentication_failed;
    if (password_failure && login_method_ != "peer-credentials")
        server_.throttle_failure(source(), attempted_user_);

    log::Fields f = audit_fields();
    f.push_back({"RSM_ERROR", error_name});
    f.push_back({"RSM_REASON", message});
    f.push_back({"RSM_FAILED_ATTEMPTS", std::to_string(failed_attempts_)});
    log::warning("Login failed for user '" + attempted_user_ + "': " + message, f);
    if (password_failure) {
        // One line in a fixed form for fail2ban and friends. ip= is the
        // source: an address only when a trusted gateway named it, else
        // uid:<n>, which no ban rule takes for a host.
        log::warning("AUTHFAIL: user=" + attempted_user_ + " ip=" + source() +
                         " time=" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                       std::chrono::system_clock::now().time_since_epoch())
                                                       .count()),
                     f);
    }

    const unsigned max = server_.settings().max_login_attempts;
    close_after_failure_ = max != 0 && failed_attempts_ >= max;
    failure_name_ = close_after_failure_ ? std::string(err::too_many_attempts) : error_name;
    failure_message_ = close_after_failure_ ? message + "; " + std::to_string(failed_attempts_) +
                                                  " failed logins on this connection, closing it"
                                            : message;
    // Every failed password or conversation login is answered failure_delay
    // after the call it answers arrived, never earlier, whatever failed:
    // the reply time says nothing about the user or the password. The
    // state stays "authenticating" until then.
    const uint64_t due = pending_since_usec_ + usec_of(server_.settings().failure_delay);
    if (pending_call_ && padded() && due > now_usec()) {
        sd_event_source* s = nullptr;
        // 1 ms accuracy: sd-event's default (250 ms) would coalesce the
        // wake-up anywhere in a quarter second, itself a jitter to measure.
        if (sd_event_add_time(server_.event(), &s, CLOCK_MONOTONIC, due, 1000, &GatewayConnection::on_failure_delay,
                              this) >= 0) {
            failure_timer_.reset(s);
            return;
        }
    }
    send_failure();
}

void GatewayConnection::send_failure() {
    failure_timer_.reset();
    state_ = LoginState::unauthenticated;
    abort_pending(failure_name_.c_str(), failure_message_);
    if (close_after_failure_) server_.request_close(id_, "too many failed logins");
}

int GatewayConnection::on_failure_delay(sd_event_source*, uint64_t, void* userdata) {
    static_cast<GatewayConnection*>(userdata)->send_failure();
    return 0;
}

void GatewayConnection::cancel_login(const char* why) {
    if (state_ != LoginState::authenticating) return;
    if (failure_timer_) {
        // Already failed and counted; only its answer was waiting.
        failure_timer_.reset();
    } else {
        // A login given up half-way costs an attempt like a failed one, or
        // a gateway could probe without ever using up its retries.
        ++failed_attempts_;
        log::Fields f = audit_fields();
        f.push_back({"RSM_FAILED_ATTEMPTS", std::to_string(failed_attempts_)});
        log::info(std::string("Login cancelled: ") + why, f);
        const unsigned max = server_.settings().max_login_attempts;
        close_after_failure_ = max != 0 && failed_attempts_ >= max;
    }
    abort_pending(err::failed, std::string("login cancelled: ") + why);
    drop_executor();
    release_slot();
    state_ = LoginState::unauthenticated;
}

void GatewayConnection::on_executor_gone() {
    if (state_ == LoginState::authenticating && !failure_timer_) {
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
        self->accept_client({});
        LoginRequest req;
        req.mode = protocol::LoginMode::account;
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
        req.mode = protocol::LoginMode::password;
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
        req.mode = protocol::LoginMode::conversation;
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
        self->pending_since_usec_ = now_usec();  // a failure of this round is padded from here
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
        const LoginState was = self->state_;
        if (was == LoginState::authenticated) log::info("Logout", self->audit_fields());
        // A login in progress is given up (and costs an attempt).
        self->cancel_login("Logout");
        self->drop_executor();
        self->state_ = LoginState::unauthenticated;
        self->uid_ = 0;
        self->user_.clear();
        // Failed attempts are not reset, and the unauthenticated-time budget
        // is not refilled: Logout resets neither bound.
        int r = sd_bus_reply_method_return(m, "");
        if (self->close_after_failure_) {
            self->server_.request_close(self->id_, "too many failed logins");
        } else if (was == LoginState::authenticated) {
            self->unauthenticated_since_ = now_usec();
            const uint64_t budget = usec_of(self->server_.settings().login_timeout);
            self->arm_login_deadline(budget > self->unauthenticated_usec_ ? budget - self->unauthenticated_usec_ : 0);
        }
        return r;
    });
}

int GatewayConnection::method_close(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        self->cancel_login("Close");
        int r = sd_bus_reply_method_return(m, "");
        self->server_.request_close(self->id_, "closed by the gateway");
        return r;
    });
}

}  // namespace rsm::manager
