#include "executor.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <pwd.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <system_error>
#include <unistd.h>
#include <vector>

#include "bus/connection.hpp"
#include "bus/error.hpp"
#include "bus/names.hpp"
#include "display_connect.hpp"
#include "nx_connect.hpp"
#include "xauthority.hpp"
#include "protocol/validate.hpp"
#include "session/session_id.hpp"
#include "util/log.hpp"

namespace rsm::session {
namespace {

using bus::BusError;
namespace err = names::error;

}  // namespace

// This file: the executor's lifecycle, StartSession and the session's end.
// Executor1.Login is in executor_login.cpp; Connect, Disconnect, Terminate,
// Attach, the control channel and the timers in executor_connect.cpp;
// SetLimits in executor_limits.cpp.

}  // namespace rsm::session

// ---------------------------------------------------------------------------
// Helpers for the session

namespace rsm::session {
namespace {

struct Account {
    uid_t uid = 0;
    gid_t gid = 0;
    std::string home, shell;
};

// getpwnam_r with a buffer that grows as needed. nullopt: no such user.
std::optional<Account> lookup_account(const std::string& user) {
    long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buf(hint > 0 ? static_cast<std::size_t>(hint) : 4096);
    for (;;) {
        passwd pw{};
        passwd* found = nullptr;
        const int r = getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
        if (r == ERANGE && buf.size() < (1U << 20)) {
            buf.resize(buf.size() * 2);
            continue;
        }
        if (r != 0) throw std::system_error(r, std::generic_category(), "getpwnam_r");
        if (!found) return std::nullopt;
        return Account{pw.pw_uid, pw.pw_gid, pw.pw_dir ? pw.pw_dir : "/", pw.pw_shell ? pw.pw_shell : "/bin/sh"};
    }
}

const char* phase_refusal(bool starting, bool ending) {
    if (starting) return "The session is still starting";
    if (ending) return "The session is ending";
    return "This executor has no session";
}

}  // namespace

// ---------------------------------------------------------------------------

Executor::Executor(sd_event* event, UniqueFd link) : event_{event} {
    link_.emplace(event_, std::move(link),
                  ManagerLink::Callbacks{[this](sd_bus* bus) { on_link_bus(bus); },
                                         [this](const std::string& why) { on_link_lost(why); }});
}

Executor::~Executor() {
    // Whatever is left is closed without waiting: the loop is over.
    control_.reset();
    retired_.clear();
    object_slot_.reset();
    if (leader_ && phase_ != Phase::ended)
        log::warning("Exiting while the session leader still runs", fields());
}

log::Fields Executor::fields() const {
    log::Fields f;
    if (!record_.id.empty()) f.push_back({"RSM_SESSION_ID", record_.id});
    if (!user_.empty()) f.push_back({"RSM_USER", user_});
    return f;
}

void Executor::on_link_bus(sd_bus* bus) {
    object_slot_.reset();
    sd_bus_slot* slot = nullptr;
    bus::check(sd_bus_add_object_vtable(bus, &slot, names::executor_path, names::executor_interface, vtable_, this),
               "sd_bus_add_object_vtable(Executor1)");
    object_slot_.reset(slot);
}

void Executor::on_link_lost(const std::string& why) {
    switch (phase_) {
    case Phase::login:
        log::debug("Link to the manager closed (" + why + "), exiting", fields());
        pending_start_.reset();
        sd_event_exit(event_, 0);
        break;
    case Phase::starting:
    case Phase::running: {
        auto f = fields();
        f.push_back({"RSM_REASON", why});
        log::notice("The link to the manager is gone for good (" + why + "); ending the session", f);
        end_session("the link to the manager is gone", false);
        break;
    }
    case Phase::ending:
    case Phase::ended:
        break;
    }
}

void Executor::stop(const std::string& why) {
    if (phase_ == Phase::login) {
        log::info(why + ", exiting", fields());
        exit_when_flushed();
        return;
    }
    end_session(why, false);
}

void Executor::require_running(const char* method) const {
    if (phase_ != Phase::running)
        throw BusError(phase_ == Phase::login ? err::no_such_session : err::session_not_ready,
                       std::string(method) + ": " +
                           phase_refusal(phase_ == Phase::starting, phase_ == Phase::ending || phase_ == Phase::ended));
}

// ---------------------------------------------------------------------------
// StartSession

int Executor::method_start_session(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept {
    return bus::reply_errors(error, [&] { return static_cast<Executor*>(userdata)->start_session(m); });
}

int Executor::start_session(sd_bus_message* m) {
    // Read.
    const std::string id = bus::read_string(m);
    StartParams p = read_start_params(m);

    // Validate.
    if (!valid_session_id(id))
        throw BusError(err::invalid_argument, "session_id must be 32 lower-case hexadecimal digits");
    if (!pam_) throw BusError(err::not_authenticated, "StartSession needs a successful Login first");
    if (phase_ != Phase::login) throw BusError(err::failed, "This executor already runs a session");
    const auto account = lookup_account(user_);
    if (!account) throw BusError(err::no_such_user, "User '" + user_ + "' has no passwd entry any more");
    if (account->uid != static_cast<uid_t>(uid_))
        throw BusError(err::failed, "User '" + user_ + "' changed uid since the login");

    // Act.
    params_ = std::move(p);
    record_ = Record{};
    record_.id = id;
    record_.uid = uid_;
    record_.user = user_;
    record_.type = params_.type;
    record_.state = State::starting;
    record_.unit = session::scope_unit_name(id);
    record_.executor_pid = static_cast<uint32_t>(getpid());
    record_.display_number = params_.has_display() ? static_cast<int>(params_.display_number) : -1;
    record_.width = params_.width;
    record_.height = params_.height;
    record_.depth = params_.depth;
    record_.desktop = params_.desktop;
    record_.client_address = params_.client_address;
    record_.client_name = params_.client_name;
    record_.created_usec = now_realtime_usec();

    LeaderSpec spec;
    spec.session_id = id;
    spec.uid = account->uid;
    spec.gid = account->gid;
    spec.user = user_;
    spec.home = account->home;
    home_ = account->home;
    spec.shell = account->shell;
    spec.xdg_session_type = params_.has_display() ? "x11" : params_.xdg_session_type;
    spec.desktop = params_.desktop;
    spec.current_desktop = params_.current_desktop;
    spec.display_argv = params_.display_argv;
    spec.display_number = params_.display_number;
    spec.xauthority = params_.xauthority;
    spec.session_argv = params_.session_argv;
    spec.reconnect_argv = params_.reconnect_argv;
    spec.display_env = params_.display_env;
    spec.display_type = params_.type;
    // xpra writes its display number before its socket listens.
    if (params_.display_protocol == DisplayProtocol::xpra) spec.display_ready_socket = params_.display_socket;
    spec.ready_line = params_.display_ready_line;
    spec.suspend_line = params_.display_suspend_line;
    spec.start_line = params_.display_start_line;
    spec.resume_line = params_.display_resume_line;
    spec.nx_options = params_.nx_options;
    spec.nx_options_file = params_.nx_options_file;
    spec.companions = params_.companions;
    spec.syslog_identifier = "rsm-session-" + id;
    // The leader must not hold the link: it would outlive a dead executor.
    spec.manager_link_fd = link_->bus() ? sd_bus_get_fd(link_->bus()) : -1;

    auto f = fields();
    f.push_back({"RSM_DISPLAY_TYPE", params_.type});
    if (params_.has_display()) f.push_back({"RSM_DISPLAY", ":" + std::to_string(params_.display_number)});
    if (!params_.client_address.empty()) f.push_back({"RSM_CLIENT_ADDRESS", params_.client_address});

    // Everything that can fail before the fork: once the leader runs, the
    // only way out is through it.
    timers_.emplace(event_,
                    SessionTimers::Limits{params_.startup_timeout_usec, params_.max_lifetime_usec,
                                          params_.disconnected_timeout_usec, params_.idle_timeout_usec},
                    [this](Timer t) { on_timer(t); });
    timers_->arm(Timer::startup);
    timers_->arm(Timer::lifetime);
    link_->set_log_fields(fields());
    link_->set_resumable(true);
    link_->watch_manager(static_cast<pid_t>(params_.manager_pid));
    pending_start_ = ref_message(m);

    SessionLeader::Callbacks callbacks{
        [this](const std::string& logind_session) { on_leader_opened(logind_session); },
        [this](const LeaderReady& r) { on_leader_ready(r); },
        [this](const std::string& reason, bool failed) { on_leader_exit(reason, failed); }};
    try {
        leader_ = SessionLeader::start(event_, *pam_, spec, std::move(callbacks));
    } catch (const std::exception& e) {
        f.push_back({"RSM_ERROR", e.what()});
        log::error("Cannot start the session leader", f);
        // Nothing runs: the executor has served its purpose.
        pending_start_.reset();
        timers_->disarm_all();
        link_->set_resumable(false);
        link_->watch_manager(0);
        phase_ = Phase::ended;
        exit_when_flushed();
        throw BusError(err::session_failed, std::string("cannot start the session leader: ") + e.what());
    }
    phase_ = Phase::starting;
    record_.leader_pid = static_cast<uint32_t>(leader_->pid());
    // Said at once: if the start times out with the leader stuck in PAM, the
    // manager finds its logind session by this pid.
    emit_state_changed();

    f.push_back({"RSM_LEADER_PID", std::to_string(leader_->pid())});
    log::info("Starting session " + id + " for user '" + user_ + "'", f);
    return 1;  // the reply waits for the display (on_leader_ready / on_leader_exit)
}

void Executor::on_leader_opened(const std::string& logind_session) {
    if (phase_ != Phase::starting) return;
    // Recorded at once: if the leader dies before the display is ready, the
    // manager still knows which logind session to terminate.
    record_.logind_session = logind_session;
    emit_state_changed();
}

void Executor::on_leader_ready(const LeaderReady& ready) {
    if (phase_ != Phase::starting) return;  // ending already: on_exit follows
    phase_ = Phase::running;
    ready_ = ready;
    record_.display = ready.display;
    record_.logind_session = ready.logind_session;
    record_.state = State::disconnected;
    timers_->disarm(Timer::startup);
    timers_->arm(Timer::disconnected);

    auto f = fields();
    f.push_back({"RSM_DISPLAY", ready.display});
    if (!ready.logind_session.empty()) f.push_back({"RSM_LOGIND_SESSION", ready.logind_session});
    log::info("Session " + record_.id + " is ready" + (ready.display.empty() ? "" : " on display " + ready.display), f);

    if (pending_start_) {
        MessagePtr call = std::move(pending_start_);
        try {
            sd_bus_message* raw = nullptr;
            bus::check(sd_bus_message_new_method_return(call.get(), &raw), "sd_bus_message_new_method_return");
            MessagePtr reply{raw};
            append_record(reply.get(), record_, params_.protocol);
            int r = sd_bus_send(nullptr, reply.get(), nullptr);
            if (r < 0) log::debug("Could not answer StartSession (the manager is gone?)", fields());
        } catch (const std::exception& e) {
            auto ef = fields();
            ef.push_back({"RSM_ERROR", e.what()});
            log::error("Could not answer StartSession", ef);
        }
    }
    // Also for a manager that attached while the session was starting.
    emit_state_changed();
}

void Executor::on_leader_exit(const std::string& reason, bool failed) {
    const std::string why = end_reason_.value_or(reason);
    const bool why_failed = end_reason_ ? end_failed_ : failed;
    auto f = fields();
    f.push_back({"RSM_REASON", why});
    if (why != reason) f.push_back({"RSM_LEADER_REASON", reason});
    if (why_failed)
        log::notice("Session ended: " + why, f);
    else
        log::info("Session ended: " + why, f);
    if (pending_start_) {
        MessagePtr call = std::move(pending_start_);
        (void)sd_bus_reply_method_errorf(call.get(), err::session_failed, "%s", why.c_str());
    }
    finish(why, why_failed);
}

// ---------------------------------------------------------------------------
// Ending

void Executor::end_session(const std::string& reason, bool failed) {
    if (phase_ == Phase::login) {
        exit_when_flushed();
        return;
    }
    if (phase_ != Phase::starting && phase_ != Phase::running) return;  // ending already
    if (!end_reason_) {
        end_reason_ = reason;
        end_failed_ = failed;
    }
    auto f = fields();
    f.push_back({"RSM_REASON", reason});
    log::info("Ending session " + record_.id + ": " + reason, f);
    phase_ = Phase::ending;
    record_.state = State::closing;
    timers_->disarm_all();
    if (control_) control_->announce_ending(reason);
    retire_control(std::nullopt);
    fail_nx_wait("is ending");
    stop_shadows("the session is ending");
    emit_state_changed();
    leader_->terminate();
}

void Executor::finish(const std::string& reason, bool failed) {
    fail_nx_wait("has ended");
    stop_shadows(reason);
    phase_ = Phase::ended;
    record_.state = State::closing;
    if (timers_) timers_->disarm_all();
    if (control_) control_->announce_ending(reason);
    retire_control(std::nullopt);
    if (link_->attached()) {
        int r = sd_bus_emit_signal(link_->bus(), names::executor_path, names::executor_interface, "SessionEnded", "sb",
                                   reason.c_str(), static_cast<int>(failed));
        if (r < 0) log::debug("Could not send SessionEnded", fields());
    }
    exit_when_flushed();
}

void Executor::emit_state_changed() {
    if (!link_->attached()) return;
    try {
        sd_bus_message* raw = nullptr;
        bus::check(sd_bus_message_new_signal(link_->bus(), &raw, names::executor_path, names::executor_interface,
                                             "StateChanged"),
                   "sd_bus_message_new_signal");
        MessagePtr signal{raw};
        append_record(signal.get(), record_, params_.protocol);
        bus::check(sd_bus_send(nullptr, signal.get(), nullptr), "sd_bus_send(StateChanged)");
    } catch (const std::exception& e) {
        auto f = fields();
        f.push_back({"RSM_ERROR", e.what()});
        log::debug("Could not send StateChanged", f);
    }
}

// The loop ends once our last messages are written (SessionEnded to the
// manager, SessionEnding to the gateway), or after a few seconds for a peer
// that does not read.
void Executor::exit_when_flushed() {
    if (exit_check_) return;
    sd_event_source* s = nullptr;
    bus::check(sd_event_add_defer(event_, &s, &Executor::on_exit_check, this), "sd_event_add_defer");
    exit_kick_.reset(s);
    bus::check(sd_event_add_post(event_, &s, &Executor::on_exit_check, this), "sd_event_add_post");
    exit_check_.reset(s);
    bus::check(sd_event_add_time_relative(event_, &s, CLOCK_MONOTONIC, 3 * ControlChannel::drain_timeout_usec, 0,
                                          &Executor::on_exit_timeout, this),
               "sd_event_add_time_relative");
    exit_timeout_.reset(s);
}

int Executor::on_exit_check(sd_event_source*, void* userdata) noexcept {
    auto* self = static_cast<Executor*>(userdata);
    const bool channels_closed =
        !self->control_ &&
        std::all_of(self->retired_.begin(), self->retired_.end(), [](const auto& c) { return c->closed(); });
    if (channels_closed && self->link_->queued_writes() == 0) sd_event_exit(self->event_, 0);
    return 0;
}

int Executor::on_exit_timeout(sd_event_source*, uint64_t, void* userdata) noexcept {
    auto* self = static_cast<Executor*>(userdata);
    log::debug("Exiting with messages not yet written", self->fields());
    sd_event_exit(self->event_, 0);
    return 0;
}

const sd_bus_vtable Executor::vtable_[] = {
    SD_BUS_VTABLE_START(0),
    // SENSITIVE: call and reply are erased from memory when freed (the password).
    SD_BUS_METHOD_WITH_ARGS("Login",
                            SD_BUS_ARGS("s", mode, "s", user, "s", password, "a{sv}", items),
                            SD_BUS_RESULT("u", uid, "s", user, "a(us)", messages),
                            &Executor::method_login, SD_BUS_VTABLE_SENSITIVE),
    SD_BUS_METHOD_WITH_ARGS("StartSession", SD_BUS_ARGS("s", session_id, "a{sv}", params),
                            SD_BUS_RESULT("a{sv}", record), &Executor::method_start_session, 0),
    SD_BUS_METHOD_WITH_ARGS("Connect", SD_BUS_ARGS("a{sv}", client), SD_BUS_RESULT("a{sh}", fds, "a{sv}", details),
                            &Executor::method_connect, 0),
    SD_BUS_METHOD_WITH_ARGS("Disconnect", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, &Executor::method_disconnect, 0),
    SD_BUS_METHOD_WITH_ARGS("Terminate", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, &Executor::method_terminate, 0),
    SD_BUS_METHOD_WITH_ARGS("Attach", SD_BUS_ARGS("u", manager_pid), SD_BUS_RESULT("a{sv}", record),
                            &Executor::method_attach, 0),
    SD_BUS_METHOD_WITH_ARGS("SetLimits", SD_BUS_ARGS("a{sv}", limits), SD_BUS_NO_RESULT, &Executor::method_set_limits,
                            0),
    SD_BUS_SIGNAL_WITH_ARGS("StateChanged", SD_BUS_ARGS("a{sv}", record), 0),
    SD_BUS_METHOD_WITH_ARGS("Shadow", SD_BUS_ARGS("a{sv}", params), SD_BUS_RESULT("a{sh}", fds, "a{sv}", details),
                            &Executor::method_shadow, 0),
    SD_BUS_SIGNAL_WITH_ARGS("SessionEnded", SD_BUS_ARGS("s", reason, "b", failed), 0),
    SD_BUS_SIGNAL_WITH_ARGS("ShadowEnded", SD_BUS_ARGS("u", display_number), 0),
    SD_BUS_VTABLE_END,
};

}  // namespace rsm::session
