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

#include "access/access_policy.hpp"
#include "bus/connection.hpp"
#include "bus/error.hpp"
#include "bus/names.hpp"
#include "login_conversation.hpp"
#include "pam/login_request.hpp"
#include "pam/pam_error.hpp"
#include "protocol/validate.hpp"
#include "session/session_id.hpp"
#include "util/log.hpp"

namespace rsm::session {
namespace {

using bus::BusError;
namespace err = names::error;

constexpr std::uint64_t default_conversation_timeout_usec = 120ULL * 1000 * 1000;

// Login's items (a{sv}); see dbus/org.rsm.Executor1.xml.
struct Items {
    std::string service;
    std::string rhost;
    std::string gateway;
    std::uint64_t conversation_timeout_usec = default_conversation_timeout_usec;
    std::optional<std::uint32_t> uid;  // "account" mode: the peer's uid
    config::Access access;             // rsm's access rules, applied here (NSS runs here, not in the manager)
};

// Free text that ends up in PAM items and logs: printable ASCII, bounded.
bool valid_text_item(std::string_view s) {
    if (s.empty() || s.size() > 255) return false;
    for (char c : s)
        if (c < 0x21 || c > 0x7e) return false;
    return true;
}

std::string read_variant_string(sd_bus_message* m, const std::string& key) {
    if (sd_bus_message_enter_container(m, 'v', "s") <= 0)
        throw BusError(err::invalid_argument, "Item '" + key + "' must be a string");
    std::string v = bus::read_string(m);
    bus::check(sd_bus_message_exit_container(m), "exit variant");
    if (!valid_text_item(v))
        throw BusError(err::invalid_argument, "Item '" + key + "' must be 1-255 printable ASCII characters");
    return v;
}

std::vector<std::string> read_variant_names(sd_bus_message* m, const std::string& key) {
    if (sd_bus_message_enter_container(m, 'v', "as") <= 0)
        throw BusError(err::invalid_argument, "Item '" + key + "' must be a string array");
    char** raw = nullptr;
    if (sd_bus_message_read_strv(m, &raw) < 0) throw BusError(err::invalid_argument, "Item '" + key + "' unreadable");
    std::vector<std::string> out;
    for (char** p = raw; p && *p; ++p) {
        out.emplace_back(*p);
        free(*p);
    }
    free(raw);
    bus::check(sd_bus_message_exit_container(m), "exit variant");
    // User and group names from rsm.toml, already validated by the config
    // loader; group names are the more liberal rule and cover both.
    for (const auto& n : out)
        if (auto e = protocol::validate_group_name(n))
            throw BusError(err::invalid_argument, "Item '" + key + "': " + *e);
    return out;
}

Items read_items(sd_bus_message* m) {
    Items items;
    if (sd_bus_message_enter_container(m, 'a', "{sv}") <= 0)
        throw BusError(err::invalid_argument, "expected items a{sv}");
    int r;
    while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
        const std::string key = bus::read_string(m);
        if (key == "service") {
            items.service = read_variant_string(m, key);
        } else if (key == "rhost") {
            items.rhost = read_variant_string(m, key);
        } else if (key == "gateway") {
            items.gateway = read_variant_string(m, key);
        } else if (key == "conversation_timeout_usec") {
            if (sd_bus_message_enter_container(m, 'v', "t") <= 0 ||
                sd_bus_message_read_basic(m, 't', &items.conversation_timeout_usec) <= 0)
                throw BusError(err::invalid_argument, "Item '" + key + "' must be a uint64 (t)");
            bus::check(sd_bus_message_exit_container(m), "exit variant");
            if (items.conversation_timeout_usec == 0) items.conversation_timeout_usec = default_conversation_timeout_usec;
        } else if (key == "uid") {
            std::uint32_t uid = 0;
            if (sd_bus_message_enter_container(m, 'v', "u") <= 0 || sd_bus_message_read_basic(m, 'u', &uid) <= 0)
                throw BusError(err::invalid_argument, "Item 'uid' must be a uint32 (u)");
            bus::check(sd_bus_message_exit_container(m), "exit variant");
            items.uid = uid;
        } else if (key == "allow_root") {
            int b = 0;
            if (sd_bus_message_enter_container(m, 'v', "b") <= 0 || sd_bus_message_read_basic(m, 'b', &b) <= 0)
                throw BusError(err::invalid_argument, "Item 'allow_root' must be a boolean (b)");
            bus::check(sd_bus_message_exit_container(m), "exit variant");
            items.access.allow_root = b;
        } else if (key == "allowed_users") {
            items.access.allowed_users = read_variant_names(m, key);
        } else if (key == "denied_users") {
            items.access.denied_users = read_variant_names(m, key);
        } else if (key == "allowed_groups") {
            items.access.allowed_groups = read_variant_names(m, key);
        } else if (key == "denied_groups") {
            items.access.denied_groups = read_variant_names(m, key);
        } else {
            throw BusError(err::invalid_argument, "Unknown item '" + key + "'");
        }
        bus::check(sd_bus_message_exit_container(m), "exit dict entry");
    }
    bus::check(r, "read items");
    bus::check(sd_bus_message_exit_container(m), "exit items");
    if (items.service.empty()) throw BusError(err::invalid_argument, "Item 'service' is required");
    if (!pam::valid_service_name(items.service))
        throw BusError(err::invalid_argument, "Invalid PAM service name '" + items.service + "'");
    return items;
}

// Throws LoginDenied when rsm's [access] rules refuse `user`.
void enforce_access(const config::Access& rules, const access::UserInfo& user, const log::Fields& fields) {
    if (auto why = access::check_login_allowed(rules, user)) {
        auto logged = fields;
        logged.push_back({"RSM_ERROR", *why});
        log::notice("Login refused by access rules: " + *why, logged);
        throw BusError(err::login_denied, *why);
    }
}

// Wipes the password argument's copy however Login ends.
struct WipeString {
    std::string& s;
    ~WipeString() { pam::wipe(s); }
};

}  // namespace

// ---------------------------------------------------------------------------
// Login

int Executor::method_login(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept {
    return bus::reply_errors(error, [&] { return static_cast<Executor*>(userdata)->login(m); });
}

int Executor::login(sd_bus_message* m) {
    // Read.
    const std::string mode_name = bus::read_string(m);
    std::string user = bus::read_string(m);
    std::string password = bus::read_string(m);
    WipeString wipe_password{password};
    const Items items = read_items(m);

    // Validate.
    if (login_called_) throw BusError(err::failed, "executor already serves a login");
    login_called_ = true;
    const auto mode = pam::login_mode_from_string(mode_name);
    if (!mode) throw BusError(err::invalid_argument, "Unknown login mode '" + mode_name + "'");
    // The account as NSS knows it (nullopt for an unknown name).
    std::optional<access::UserInfo> known;
    if (*mode == pam::LoginMode::account) {
        // Peer-credential login: the manager knows the uid; the name is ours to find.
        if (!items.uid || !user.empty())
            throw BusError(err::invalid_argument, "Mode 'account' takes item 'uid' and an empty user");
        known = access::lookup_user(static_cast<uid_t>(*items.uid));
        if (!known)
            throw BusError(err::no_such_user, "uid " + std::to_string(*items.uid) + " has no passwd entry");
        user = known->name;
    } else if (items.uid) {
        throw BusError(err::invalid_argument, "Item 'uid' is only for mode 'account'");
    }
    if (auto e = protocol::validate_user_name(user)) throw BusError(err::invalid_argument, "user: " + *e);
    if (auto e = protocol::validate_password(password)) throw BusError(err::invalid_argument, "password: " + *e);
    if (*mode != pam::LoginMode::password && !password.empty())
        throw BusError(err::invalid_argument, std::string("A password makes no sense in mode '") + mode_name + "'");

    log::Fields fields{{"RSM_USER", user},
                       {"RSM_PAM_SERVICE", items.service},
                       {"RSM_LOGIN_MODE", mode_name}};
    if (!items.rhost.empty()) fields.push_back({"RSM_CLIENT_ADDRESS", items.rhost});
    if (!items.gateway.empty()) fields.push_back({"RSM_GATEWAY", items.gateway});

    // Authorize: rsm's own rules before PAM, so a refused user's password
    // is never checked (no oracle). An unknown user goes on to PAM and fails
    // there exactly like a wrong password (no enumeration).
    if (!known) known = access::lookup_user(user);
    if (known) enforce_access(items.access, *known, fields);

    // Act: run the stack. The conversation lives for this call only; the
    // handle forgets it before it is kept.
    LoginConversation conv{*mode, std::move(password), sd_bus_message_get_bus(m), items.conversation_timeout_usec};
    const bool conversing = *mode == pam::LoginMode::conversation;
    auto failed = [&](pam::Step step, int status) {
        pam::Failure f = pam::map_failure(step, status, user, conversing);
        if (conv.failure()) {
            std::string detail = std::move(f.detail);
            f = *conv.failure();
            f.detail = std::move(detail);
        }
        auto logged = fields;
        logged.push_back({"RSM_PAM_STEP", pam::to_string(step)});
        logged.push_back({"RSM_ERROR", f.detail});
        logged.push_back({"RSM_ERROR_NAME", f.name});
        log::notice("Login of user '" + user + "' failed at pam_" + pam::to_string(step) + ": " + f.detail, logged);
        return BusError(f.name, f.message);
    };

    std::optional<pam::Handle> h;
    try {
        h.emplace(items.service, user, [&conv](const std::vector<pam::Prompt>& round) { return conv(round); });
    } catch (const std::runtime_error& e) {
        auto logged = fields;
        logged.push_back({"RSM_ERROR", e.what()});
        log::error("Cannot start PAM", logged);
        throw BusError(err::failed, e.what());
    }
    if (!items.rhost.empty())
        if (int r = h->set_item(PAM_RHOST, items.rhost); r != PAM_SUCCESS) throw failed(pam::Step::start, r);

    if (*mode != pam::LoginMode::account) {
        // A remote login never gets in on an empty password.
        if (int r = h->authenticate(PAM_DISALLOW_NULL_AUTHTOK); r != PAM_SUCCESS)
            throw failed(pam::Step::authenticate, r);
    }
    if (int r = h->acct_mgmt(); r != PAM_SUCCESS) {
        if (r != PAM_NEW_AUTHTOK_REQD || !conversing) throw failed(pam::Step::acct_mgmt, r);
        log::info("Password of user '" + user + "' expired, asking for a new one", fields);
        if (int c = h->chauthtok_expired(); c != PAM_SUCCESS) throw failed(pam::Step::chauthtok, c);
    }

    std::string canonical = h->user();
    if (canonical.empty()) canonical = user;
    if (protocol::validate_user_name(canonical))
        throw failed(pam::Step::authenticate, PAM_USER_UNKNOWN);  // a module renamed the user to garbage
    // A module may have mapped the name (PAM_USER): the rules apply to the
    // account really logged in.
    const auto account = access::lookup_user(canonical);
    if (!account) {
        log::error("Authenticated user has no passwd entry", fields);
        throw BusError(err::no_such_user, "User '" + canonical + "' has no passwd entry");
    }
    if (canonical != user) enforce_access(items.access, *account, fields);
    h->set_conversation(nullptr);
    pam_ = std::move(h);
    uid_ = static_cast<std::uint32_t>(account->uid);
    user_ = canonical;

    // Reply.
    fields.push_back({"RSM_UID", std::to_string(account->uid)});
    log::info("Login of user '" + canonical + "' succeeded", fields);
    sd_bus_message* raw = nullptr;
    bus::check(sd_bus_message_new_method_return(m, &raw), "sd_bus_message_new_method_return");
    MessagePtr reply{raw};
    bus::check(sd_bus_message_append(reply.get(), "us", static_cast<std::uint32_t>(account->uid), canonical.c_str()),
               "append reply");
    bus::check(sd_bus_message_open_container(reply.get(), 'a', "(us)"), "open a(us)");
    for (const auto& p : conv.messages())
        bus::check(sd_bus_message_append(reply.get(), "(us)", static_cast<std::uint32_t>(p.style), p.text.c_str()),
                   "append message");
    bus::check(sd_bus_message_close_container(reply.get()), "close a(us)");
    return sd_bus_send(nullptr, reply.get(), nullptr);
}

}  // namespace rsm::session

// ---------------------------------------------------------------------------
// Helpers for the session

namespace rsm::session {
namespace {

std::string seconds_text(uint64_t usec) {
    const uint64_t s = usec / 1000000ULL;
    return std::to_string(s) + (s == 1 ? " second" : " seconds");
}

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

// A new connection to the display server's socket. A local connect never
// blocks for long; a full backlog fails at once (O_NONBLOCK) instead of
// stalling the loop. The gateway gets a blocking socket.
UniqueFd connect_display(const std::string& path) {
    UniqueFd fd{socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (!fd) throw BusError(err::failed, std::string("socket(): ") + std::strerror(errno));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    path.copy(sa.sun_path, sizeof(sa.sun_path) - 1);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) < 0)
        throw BusError(err::failed,
                       "Cannot connect to the display server at " + path + ": " + std::strerror(errno));
    const int flags = fcntl(fd.get(), F_GETFL);
    if (flags < 0 || fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) < 0)
        throw BusError(err::failed, std::string("fcntl(): ") + std::strerror(errno));
    return fd;
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
    spec.shell = account->shell;
    spec.xdg_session_type = params_.has_display() ? "x11" : "";
    spec.desktop = params_.desktop;
    spec.display_argv = params_.display_argv;
    spec.display_number = params_.display_number;
    spec.xauthority = params_.xauthority;
    spec.session_argv = params_.session_argv;
    spec.reconnect_argv = params_.reconnect_argv;
    spec.syslog_identifier = "rsm-session-" + id;

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

    f.push_back({"RSM_LEADER_PID", std::to_string(leader_->pid())});
    log::info("Starting session " + id + " for user '" + user_ + "'", f);
    return 1;  // the reply waits for the display (on_leader_ready / on_leader_exit)
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
// Connect, Disconnect, Terminate, Attach

int Executor::method_connect(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept {
    return bus::reply_errors(error, [&] { return static_cast<Executor*>(userdata)->connect(m); });
}

int Executor::connect(sd_bus_message* m) {
    // Read.
    const ClientInfo client = read_client_info(m);

    // Validate.
    require_running("Connect");

    // Act: everything that can fail first, so that a failure leaves the
    // current gateway alone.
    UniqueFd display;
    if (params_.has_display()) display = connect_display(params_.display_socket);
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
        throw BusError(err::failed, std::string("socketpair(): ") + std::strerror(errno));
    UniqueFd ours{pair[0]}, theirs{pair[1]};
    const uint64_t serial = control_serial_ + 1;
    auto channel = std::make_unique<ControlChannel>(
        event_, std::move(ours), record_.id,
        ControlChannel::Callbacks{
            [this, serial](const std::string& why) { on_gateway_disconnect(serial, why); },
            [this, serial] { on_activity(serial); },
            [this](sd_bus_message* reply) { append_record(reply, record_, params_.protocol); },
            [this] { schedule_gc(); }});

    sd_bus_message* raw = nullptr;
    bus::check(sd_bus_message_new_method_return(m, &raw), "sd_bus_message_new_method_return");
    MessagePtr reply{raw};
    bus::check(sd_bus_message_open_container(reply.get(), 'a', "{sh}"), "open fds");
    if (display) bus::check(sd_bus_message_append(reply.get(), "{sh}", "display", display.get()), "append display fd");
    bus::check(sd_bus_message_append(reply.get(), "{sh}", "control", theirs.get()), "append control fd");
    bus::check(sd_bus_message_close_container(reply.get()), "close fds");
    bus::check(sd_bus_message_open_container(reply.get(), 'a', "{sv}"), "open details");
    bus::check(sd_bus_message_append(reply.get(), "{sv}", "protocol", "s", params_.protocol.c_str()), "append");
    bus::check(sd_bus_message_append(reply.get(), "{sv}", "display", "s", record_.display.c_str()), "append");
    if (params_.protocol == "x11" && !ready_.xauth_cookie.empty()) {
        bus::check(sd_bus_message_append(reply.get(), "{sv}", "xauth_name", "s", "MIT-MAGIC-COOKIE-1"), "append");
        bus::check(sd_bus_message_open_container(reply.get(), 'e', "sv"), "open entry");
        bus::check(sd_bus_message_append(reply.get(), "s", "xauth_data"), "append");
        bus::check(sd_bus_message_open_container(reply.get(), 'v', "ay"), "open variant");
        const auto& cookie = ready_.xauth_cookie;
        bus::check(sd_bus_message_append_array(reply.get(), 'y', cookie.data(), cookie.size()), "append cookie");
        bus::check(sd_bus_message_close_container(reply.get()), "close variant");
        bus::check(sd_bus_message_close_container(reply.get()), "close entry");
    }
    bus::check(sd_bus_message_close_container(reply.get()), "close details");

    // The newest connection wins.
    auto f = fields();
    if (!client.address.empty()) f.push_back({"RSM_CLIENT_ADDRESS", client.address});
    if (!client.name.empty()) f.push_back({"RSM_CLIENT_HOST", client.name});
    if (control_) {
        log::info("Session " + record_.id + " taken over by another connection", f);
        retire_control("taken over by another connection");
    }
    control_ = std::move(channel);
    control_serial_ = serial;
    const bool reconnect = connects_ > 0;
    ++connects_;
    record_.state = State::active;
    record_.connected_usec = now_realtime_usec();
    record_.client_address = client.address;
    record_.client_name = client.name;
    timers_->disarm(Timer::disconnected);
    timers_->arm(Timer::idle);
    log::info(std::string(reconnect ? "Gateway reconnected to" : "Gateway connected to") + " session " + record_.id, f);

    const int r = sd_bus_send(nullptr, reply.get(), nullptr);
    emit_state_changed();
    // On every reconnect, never on the first connect (the seed's rule).
    if (reconnect) leader_->run_reconnect_command();
    return r;
}

int Executor::method_disconnect(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept {
    return bus::reply_errors(error, [&] { return static_cast<Executor*>(userdata)->disconnect(m); });
}

int Executor::disconnect(sd_bus_message* m) {
    require_running("Disconnect");
    if (control_) {
        log::info("Disconnecting the gateway from session " + record_.id + " (asked by the manager)", fields());
        retire_control("disconnected by the session manager");
        mark_disconnected();
    }
    return sd_bus_reply_method_return(m, "");
}

int Executor::method_terminate(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept {
    return bus::reply_errors(error, [&] { return static_cast<Executor*>(userdata)->terminate(m); });
}

int Executor::terminate(sd_bus_message* m) {
    const int r = sd_bus_reply_method_return(m, "");
    if (phase_ == Phase::login) {
        log::info("Terminate without a session, exiting", fields());
        exit_when_flushed();
    } else {
        end_session("terminated by the session manager", false);
    }
    return r;
}

int Executor::method_attach(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept {
    return bus::reply_errors(error, [&] { return static_cast<Executor*>(userdata)->attach(m); });
}

int Executor::attach(sd_bus_message* m) {
    uint32_t manager_pid = 0;
    if (sd_bus_message_read_basic(m, 'u', &manager_pid) <= 0)
        throw BusError(err::invalid_argument, "expected manager_pid (u)");
    if (phase_ == Phase::login) throw BusError(err::no_such_session, "This executor has no session");

    link_->watch_manager(static_cast<pid_t>(manager_pid));
    link_->mark_attached();
    auto f = fields();
    f.push_back({"RSM_MANAGER_PID", std::to_string(manager_pid)});
    log::info("Manager (pid " + std::to_string(manager_pid) + ") attached to session " + record_.id, f);

    sd_bus_message* raw = nullptr;
    bus::check(sd_bus_message_new_method_return(m, &raw), "sd_bus_message_new_method_return");
    MessagePtr reply{raw};
    append_record(reply.get(), record_, params_.protocol);
    return sd_bus_send(nullptr, reply.get(), nullptr);
}

// ---------------------------------------------------------------------------
// Control channel and timers

void Executor::retire_control(const std::optional<std::string>& request_reason) {
    if (!control_) return;
    if (request_reason) control_->request_disconnect(*request_reason);
    control_->close();
    retired_.push_back(std::move(control_));
}

void Executor::mark_disconnected() {
    if (phase_ != Phase::running) return;
    record_.state = State::disconnected;
    record_.disconnected_usec = now_realtime_usec();
    timers_->disarm(Timer::idle);
    timers_->arm(Timer::disconnected);
    emit_state_changed();
}

void Executor::on_gateway_disconnect(uint64_t serial, const std::string& why) {
    if (!control_ || serial != control_serial_) return;
    log::info("Session " + record_.id + " disconnected: " + why, fields());
    retire_control(std::nullopt);
    mark_disconnected();
}

void Executor::on_activity(uint64_t serial) {
    if (control_ && serial == control_serial_ && phase_ == Phase::running) timers_->arm(Timer::idle);
}

void Executor::on_timer(Timer t) {
    auto f = fields();
    f.push_back({"RSM_TIMER", to_string(t)});
    f.push_back({"RSM_TIMEOUT_USEC", std::to_string(timers_->limit(t))});
    switch (t) {
    case Timer::startup: {
        const std::string why = "the display was not ready within " + seconds_text(timers_->limit(t));
        log::notice("Session " + record_.id + " failed to start: " + why, f);
        end_session(why, true);
        break;
    }
    case Timer::lifetime:
        log::notice("Session " + record_.id + " reached its maximum lifetime, ending it", f);
        end_session("maximum lifetime reached", false);
        break;
    case Timer::disconnected:
        log::notice("Session " + record_.id + " was disconnected too long, ending it", f);
        end_session("disconnected too long", false);
        break;
    case Timer::idle:
        if (!control_) break;
        log::notice("Session " + record_.id + " was idle too long, disconnecting the gateway", f);
        retire_control("idle");
        mark_disconnected();
        break;
    }
}

void Executor::schedule_gc() {
    if (gc_) {
        sd_event_source_set_enabled(gc_.get(), SD_EVENT_ONESHOT);
        return;
    }
    sd_event_source* s = nullptr;
    if (sd_event_add_defer(event_, &s, &Executor::on_gc, this) >= 0) gc_.reset(s);
}

int Executor::on_gc(sd_event_source*, void* userdata) noexcept {
    auto* self = static_cast<Executor*>(userdata);
    std::erase_if(self->retired_, [](const auto& c) { return c->closed(); });
    return 0;
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
    emit_state_changed();
    leader_->terminate();
}

void Executor::finish(const std::string& reason, bool failed) {
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
    SD_BUS_SIGNAL_WITH_ARGS("StateChanged", SD_BUS_ARGS("a{sv}", record), 0),
    SD_BUS_SIGNAL_WITH_ARGS("SessionEnded", SD_BUS_ARGS("s", reason, "b", failed), 0),
    SD_BUS_VTABLE_END,
};

}  // namespace rsm::session
