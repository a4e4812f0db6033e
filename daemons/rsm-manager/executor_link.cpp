#include "executor_link.hpp"

#include <csignal>
#include <spawn.h>
#include <sys/socket.h>
#include <system_error>

#include "bus/connection.hpp"
#include "bus/error.hpp"
#include "bus/names.hpp"
#include "util/fd.hpp"
#include "util/log.hpp"

extern char** environ;

namespace rsm::manager {
namespace {

// The fd number the executor finds its link on (see rsm-session's main).
constexpr int executor_link_fd = 3;

struct SpawnFileActions {
    posix_spawn_file_actions_t actions;
    SpawnFileActions() { posix_spawn_file_actions_init(&actions); }
    ~SpawnFileActions() { posix_spawn_file_actions_destroy(&actions); }
};

struct SpawnAttributes {
    posix_spawnattr_t attr;
    SpawnAttributes() { posix_spawnattr_init(&attr); }
    ~SpawnAttributes() { posix_spawnattr_destroy(&attr); }
};

int read_messages(sd_bus_message* m, std::vector<PamMessage>& out) {
    int r = sd_bus_message_enter_container(m, 'a', "(us)");
    if (r < 0) return r;
    for (;;) {
        uint32_t style = 0;
        const char* text = nullptr;
        r = sd_bus_message_read(m, "(us)", &style, &text);
        if (r < 0) return r;
        if (r == 0) break;
        out.push_back({style, text});
    }
    return sd_bus_message_exit_container(m);
}

}  // namespace

const sd_bus_vtable ExecutorLink::manager_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS("Converse", SD_BUS_ARGS("a(us)", prompts), SD_BUS_RESULT("as", answers),
                            &ExecutorLink::on_converse, 0),
    SD_BUS_VTABLE_END,
};

std::unique_ptr<ExecutorLink> ExecutorLink::spawn(sd_event* event, ChildReaper& reaper,
                                                  const std::string& executable, Callbacks callbacks) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        throw std::system_error(errno, std::generic_category(), "socketpair");
    UniqueFd ours{sv[0]}, theirs{sv[1]};

    SpawnFileActions fa;
    // dup2 onto fd 3 clears close-on-exec for the child's copy only.
    posix_spawn_file_actions_adddup2(&fa.actions, theirs.get(), executor_link_fd);
    SpawnAttributes attr;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    // The manager blocks signals for sd-event; the executor starts clean.
    posix_spawnattr_setsigmask(&attr.attr, &none);
    posix_spawnattr_setsigdefault(&attr.attr, &all);
    posix_spawnattr_setflags(&attr.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::string arg0 = executable;
    char* argv[] = {arg0.data(), nullptr};
    pid_t pid = 0;
    int r = posix_spawn(&pid, executable.c_str(), &fa.actions, &attr.attr, argv, environ);
    if (r != 0) throw std::system_error(r, std::generic_category(), "posix_spawn " + executable);
    theirs.reset();
    reaper.watch(pid, "rsm-session");

    // Not attached to the loop: the link's QuietAttachment watches it.
    BusPtr bus = bus::make_server(std::move(ours), nullptr);
    return std::make_unique<ExecutorLink>(Token{}, event, pid, std::move(bus), std::move(callbacks));
}

ExecutorLink::ExecutorLink(Token, sd_event* event, pid_t pid, BusPtr bus, Callbacks callbacks)
    : pid_(pid), bus_(std::move(bus)), callbacks_(std::move(callbacks)) {
    sd_bus_slot* slot = nullptr;
    bus::check(sd_bus_add_object_vtable(bus_.get(), &slot, names::executor_manager_path,
                                        names::executor_manager_interface, manager_vtable, this),
               "sd_bus_add_object_vtable");
    object_slot_.reset(slot);
    slot = nullptr;
    bus::check(sd_bus_match_signal(bus_.get(), &slot, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                   "org.freedesktop.DBus.Local", "Disconnected", &ExecutorLink::on_disconnected, this),
               "sd_bus_match_signal");
    disconnect_slot_.reset(slot);
    slot = nullptr;
    bus::check(sd_bus_match_signal(bus_.get(), &slot, nullptr, names::executor_path, names::executor_interface,
                                   "StateChanged", &ExecutorLink::on_state_changed_signal, this),
               "sd_bus_match_signal(StateChanged)");
    state_slot_.reset(slot);
    slot = nullptr;
    bus::check(sd_bus_match_signal(bus_.get(), &slot, nullptr, names::executor_path, names::executor_interface,
                                   "SessionEnded", &ExecutorLink::on_session_ended_signal, this),
               "sd_bus_match_signal(SessionEnded)");
    ended_slot_.reset(slot);
    slot = nullptr;
    bus::check(sd_bus_match_signal(bus_.get(), &slot, nullptr, names::executor_path, names::executor_interface,
                                   "ShadowEnded", &ExecutorLink::on_shadow_ended_signal, this),
               "sd_bus_match_signal(ShadowEnded)");
    shadow_ended_slot_.reset(slot);
    attachment_ = std::make_unique<bus::QuietAttachment>(bus_.get(), event);
}

std::unique_ptr<ExecutorLink> ExecutorLink::adopt(sd_event* event, UniqueFd fd, pid_t pid, Callbacks callbacks) {
    BusPtr bus = bus::make_server(std::move(fd), nullptr);
    return std::make_unique<ExecutorLink>(Token{}, event, pid, std::move(bus), std::move(callbacks));
}

int ExecutorLink::fd() const { return sd_bus_get_fd(bus_.get()); }

ExecutorLink::~ExecutorLink() {
    // Leave the loop while the bus still holds the fd (see QuietAttachment),
    // then drop slots before the bus so no callback can reach a
    // half-destroyed link.
    attachment_.reset();
    calls_.clear();
    state_slot_.reset();
    ended_slot_.reset();
    shadow_ended_slot_.reset();
    login_slot_.reset();
    disconnect_slot_.reset();
    object_slot_.reset();
    pending_converse_.reset();
    bus_.reset();
}

void ExecutorLink::detach() {
    callbacks_ = {};
    login_done_ = nullptr;
    calls_.clear();
}

int ExecutorLink::on_converse(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<ExecutorLink*>(userdata);
    return bus::reply_errors(error, [&] {
        if (self->pending_converse_)
            throw bus::BusError(names::error::failed, "a conversation round is already pending");
        std::vector<PamMessage> prompts;
        if (read_messages(m, prompts) < 0 || prompts.empty() || prompts.size() > 32)
            throw bus::BusError(names::error::invalid_argument, "Converse needs 1 to 32 prompts");
        self->pending_converse_ = ref_message(m);
        if (self->callbacks_.on_conversation) self->callbacks_.on_conversation(std::move(prompts));
        return 1;  // answered later
    });
}

void ExecutorLink::answer_conversation(const std::vector<std::string>& answers) {
    MessagePtr call = std::move(pending_converse_);
    if (!call) return;
    sd_bus_message* raw = nullptr;
    if (sd_bus_message_new_method_return(call.get(), &raw) < 0) return;
    MessagePtr reply{raw};
    // Answers are secrets: sd-bus erases the message's buffers when it is freed.
    (void)sd_bus_message_sensitive(reply.get());
    std::vector<char*> strv;
    strv.reserve(answers.size() + 1);
    for (const auto& a : answers) strv.push_back(const_cast<char*>(a.c_str()));
    strv.push_back(nullptr);
    if (sd_bus_message_append_strv(reply.get(), strv.data()) < 0) return;
    (void)sd_bus_send(bus_.get(), reply.get(), nullptr);
    attachment_->refresh();
}

void ExecutorLink::fail_conversation(const char* error_name, const std::string& message) {
    MessagePtr call = std::move(pending_converse_);
    if (call) (void)sd_bus_reply_method_errorf(call.get(), error_name, "%s", message.c_str());
    attachment_->refresh();
}

void ExecutorLink::login(const LoginRequest& req, std::function<void(LoginResult)> done) {
    sd_bus_message* raw = nullptr;
    bus::check(sd_bus_message_new_method_call(bus_.get(), &raw, nullptr, names::executor_path,
                                              names::executor_interface, "Login"),
               "new Login call");
    MessagePtr m{raw};
    // It carries the password: sd-bus erases the message's buffers when it
    // is freed (and marks the reply the same way).
    (void)sd_bus_message_sensitive(m.get());
    const bool account = req.mode == protocol::LoginMode::account;
    int r = sd_bus_message_append(m.get(), "sss", protocol::to_string(req.mode), req.user.c_str(), req.password.c_str());
    if (r >= 0) r = sd_bus_message_open_container(m.get(), 'a', "{sv}");
    if (r >= 0) r = sd_bus_message_append(m.get(), "{sv}", "service", "s", req.pam_service.c_str());
    if (r >= 0 && !req.rhost.empty()) r = sd_bus_message_append(m.get(), "{sv}", "rhost", "s", req.rhost.c_str());
    if (r >= 0 && !req.gateway.empty())
        r = sd_bus_message_append(m.get(), "{sv}", "gateway", "s", req.gateway.c_str());
    if (r >= 0 && account) r = sd_bus_message_append(m.get(), "{sv}", "uid", "u", req.uid);
    if (r >= 0 && account) r = sd_bus_message_append(m.get(), "{sv}", "purpose", "s", protocol::to_string(req.purpose));
    if (r >= 0 && req.conversation_timeout_usec)
        r = sd_bus_message_append(m.get(), "{sv}", "conversation_timeout_usec", "t", req.conversation_timeout_usec);
    const config::Access& a = req.access;
    if (r >= 0) r = sd_bus_message_append(m.get(), "{sv}", "allow_root", "b", static_cast<int>(a.allow_root));
    if (r >= 0) r = append_strings_dict_entry(m.get(), "allowed_users", a.allowed_users);
    if (r >= 0) r = append_strings_dict_entry(m.get(), "denied_users", a.denied_users);
    if (r >= 0) r = append_strings_dict_entry(m.get(), "allowed_groups", a.allowed_groups);
    if (r >= 0) r = append_strings_dict_entry(m.get(), "denied_groups", a.denied_groups);
    if (r >= 0)
        r = sd_bus_message_append(m.get(), "{sv}", "allow_peer_credentials", "b",
                                  static_cast<int>(a.allow_peer_credentials));
    if (r >= 0) r = append_strings_dict_entry(m.get(), "peer_credential_groups", a.peer_credential_groups);
    if (r >= 0)
        r = sd_bus_message_append(m.get(), "{sv}", "allow_system_accounts", "b",
                                  static_cast<int>(a.allow_system_accounts));
    if (r >= 0)
        r = sd_bus_message_append(m.get(), "{sv}", "allow_any_shell", "b", static_cast<int>(a.allow_any_shell));
    if (r >= 0) r = sd_bus_message_close_container(m.get());
    bus::check(r, "building Login call");

    sd_bus_slot* slot = nullptr;
    // No D-Bus timeout: a connection's login (password, peer credentials) is
    // bounded by its login deadline, which drops this link when it passes; a
    // new session's account check by the start's deadline, which kills the
    // executor (start_deadline.hpp). Either covers the whole login.
    bus::check(sd_bus_call_async(bus_.get(), &slot, m.get(), &ExecutorLink::on_login_reply, this, UINT64_MAX),
               "sending Login");
    login_slot_.reset(slot);
    login_done_ = std::move(done);
    attachment_->refresh();
}

int ExecutorLink::on_login_reply(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* self = static_cast<ExecutorLink*>(userdata);
    LoginResult result;
    if (const sd_bus_error* e = sd_bus_message_get_error(m)) {
        std::string name = e->name ? e->name : names::error::failed;
        // Errors of the bus itself (the executor died, the link broke) are
        // internal failures for the gateway; rsm's own errors pass through.
        if (name.rfind("org.rsm.Error.", 0) != 0) {
            result.error_name = names::error::failed;
            result.error_message = std::string("login process failed: ") + (e->message ? e->message : name);
        } else {
            result.error_name = std::move(name);
            result.error_message = e->message ? e->message : "";
        }
    } else {
        const char* user = nullptr;
        int r = sd_bus_message_read(m, "us", &result.uid, &user);
        if (r >= 0) {
            result.user = user;
            r = read_messages(m, result.messages);
        }
        if (r < 0) {
            result.error_name = names::error::failed;
            result.error_message = "malformed Login reply from the login process";
        } else {
            result.ok = true;
        }
    }
    // `done` may destroy this link; nothing below touches `self`.
    auto done = std::move(self->login_done_);
    if (done) done(std::move(result));
    return 1;
}

int ExecutorLink::on_disconnected(sd_bus_message*, void* userdata, sd_bus_error*) {
    auto* self = static_cast<ExecutorLink*>(userdata);
    log::debug("Executor link closed", {{"RSM_CHILD_PID", std::to_string(self->pid_)}});
    if (self->callbacks_.on_disconnect) self->callbacks_.on_disconnect();
    return 0;
}

}  // namespace rsm::manager

namespace rsm::manager {

namespace {

int append_strv_entry(sd_bus_message* m, const char* key, const std::vector<std::string>& v) {
    return append_strings_dict_entry(m, key, v);
}

template <class T>
int append_entry(sd_bus_message* m, const char* key, const char* type, T value) {
    return sd_bus_message_append(m, "{sv}", key, type, value);
}

}  // namespace

void ExecutorLink::call(const char* method, const std::function<int(sd_bus_message*)>& append, uint64_t timeout_usec,
                        bool wants_record, std::function<void(ExecutorReply)> done) {
    sd_bus_message* raw = nullptr;
    bus::check(sd_bus_message_new_method_call(bus_.get(), &raw, nullptr, names::executor_path,
                                              names::executor_interface, method),
               method);
    MessagePtr m{raw};
    if (append) bus::check(append(m.get()), method);
    auto pending = std::make_unique<PendingCall>(PendingCall{this, nullptr, wants_record, std::move(done)});
    sd_bus_slot* slot = nullptr;
    bus::check(sd_bus_call_async(bus_.get(), &slot, m.get(), &ExecutorLink::on_call_reply, pending.get(),
                                 timeout_usec),
               method);
    pending->slot.reset(slot);
    calls_.push_back(std::move(pending));
    // Arms the reply deadline and EPOLLOUT if the call is still queued.
    attachment_->refresh();
}

int ExecutorLink::on_call_reply(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* pending = static_cast<PendingCall*>(userdata);
    ExecutorLink* self = pending->link;
    ExecutorReply reply;
    if (const sd_bus_error* e = sd_bus_message_get_error(m)) {
        std::string name = e->name ? e->name : names::error::failed;
        if (name.rfind("org.rsm.Error.", 0) != 0) {
            reply.error_name = names::error::failed;
            reply.error_message = std::string("session process failed: ") + (e->message ? e->message : name);
        } else {
            reply.error_name = std::move(name);
            reply.error_message = e->message ? e->message : "";
        }
    } else {
        reply.ok = true;
        reply.message = ref_message(m);
        if (pending->wants_record) {
            try {
                read_record_dict(m, reply.record);
            } catch (const std::exception& ex) {
                reply.ok = false;
                reply.error_name = names::error::failed;
                reply.error_message = ex.what();
            }
        }
    }
    auto done = std::move(pending->done);
    // Forget the call before running `done`, which may destroy the link.
    for (auto it = self->calls_.begin(); it != self->calls_.end(); ++it)
        if (it->get() == pending) {
            // sd-bus holds its own reference while this callback runs.
            self->calls_.erase(it);
            break;
        }
    if (done) done(std::move(reply));
    return 1;
}

void ExecutorLink::start_session(const std::string& session_id, const StartSessionParams& p, uint64_t timeout_usec,
                                 std::function<void(ExecutorReply)> done) {
    call("StartSession", [&](sd_bus_message* m) {
        int r = sd_bus_message_append(m, "s", session_id.c_str());
        if (r >= 0) r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0) r = append_entry(m, "type", "s", p.type.c_str());
        if (r >= 0) r = append_entry(m, "protocol", "s", p.protocol.c_str());
        if (r >= 0) r = append_strv_entry(m, "display_argv", p.display_argv);
        if (r >= 0) r = append_entry(m, "display_number", "u", p.display_number);
        if (r >= 0) r = append_entry(m, "display_socket", "s", p.display_socket.c_str());
        if (r >= 0) r = append_entry(m, "xauthority", "s", p.xauthority.c_str());
        if (r >= 0) r = append_strv_entry(m, "session_argv", p.session_argv);
        if (r >= 0) r = append_strv_entry(m, "reconnect_argv", p.reconnect_argv);
        if (r >= 0 && !p.display_env.empty()) r = append_strv_entry(m, "display_env", p.display_env);
        if (r >= 0 && !p.display_client_socket.empty())
            r = append_entry(m, "display_client_socket", "s", p.display_client_socket.c_str());
        if (r >= 0 && !p.display_ready_line.empty())
            r = append_entry(m, "display_ready_line", "s", p.display_ready_line.c_str());
        if (r >= 0 && !p.display_suspend_line.empty())
            r = append_entry(m, "display_suspend_line", "s", p.display_suspend_line.c_str());
        if (r >= 0 && !p.display_start_line.empty())
            r = append_entry(m, "display_start_line", "s", p.display_start_line.c_str());
        if (r >= 0 && !p.display_resume_line.empty())
            r = append_entry(m, "display_resume_line", "s", p.display_resume_line.c_str());
        if (r >= 0 && p.display_port) r = append_entry(m, "display_port", "u", p.display_port);
        if (r >= 0 && !p.nx_options_file.empty()) {
            r = append_entry(m, "nx_options", "s", p.nx_options.c_str());
            if (r >= 0) r = append_entry(m, "nx_options_file", "s", p.nx_options_file.c_str());
        }
        if (r >= 0 && !p.companions.empty()) r = session::append_companions_entry(m, p.companions);
        if (r >= 0) r = append_entry(m, "desktop", "s", p.desktop.c_str());
        if (r >= 0 && !p.current_desktop.empty())
            r = append_entry(m, "current_desktop", "s", p.current_desktop.c_str());
        if (r >= 0 && p.wayland) r = append_entry(m, "xdg_session_type", "s", "wayland");
        if (r >= 0) r = append_entry(m, "width", "u", p.width);
        if (r >= 0) r = append_entry(m, "height", "u", p.height);
        if (r >= 0) r = append_entry(m, "depth", "u", p.depth);
        if (r >= 0) r = append_entry(m, "client_address", "s", p.client_address.c_str());
        if (r >= 0) r = append_entry(m, "client_name", "s", p.client_name.c_str());
        if (r >= 0) r = append_entry(m, "startup_timeout_usec", "t", p.startup_timeout_usec);
        if (r >= 0) r = append_entry(m, "idle_timeout_usec", "t", p.idle_timeout_usec);
        if (r >= 0) r = append_entry(m, "disconnected_timeout_usec", "t", p.disconnected_timeout_usec);
        if (r >= 0) r = append_entry(m, "max_lifetime_usec", "t", p.max_lifetime_usec);
        if (r >= 0) r = append_entry(m, "manager_pid", "u", static_cast<uint32_t>(getpid()));
        if (r >= 0) r = sd_bus_message_close_container(m);
        return r;
    }, timeout_usec, true, std::move(done));
}

void ExecutorLink::connect(const std::string& client_address, const std::string& client_name,
                           std::function<void(ExecutorReply)> done) {
    call("Connect", [&](sd_bus_message* m) {
        int r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && !client_address.empty()) r = append_entry(m, "client_address", "s", client_address.c_str());
        if (r >= 0 && !client_name.empty()) r = append_entry(m, "client_name", "s", client_name.c_str());
        if (r >= 0) r = sd_bus_message_close_container(m);
        return r;
    }, 30'000'000, false, std::move(done));
}

void ExecutorLink::attach(std::function<void(ExecutorReply)> done) {
    call("Attach", [](sd_bus_message* m) { return sd_bus_message_append(m, "u", static_cast<uint32_t>(getpid())); },
         30'000'000, true, std::move(done));
}

void ExecutorLink::disconnect() {
    try {
        call("Disconnect", nullptr, 30'000'000, false, nullptr);
    } catch (const std::exception& e) {
        log::warning("Could not ask an executor to disconnect", {{"RSM_ERROR", e.what()}});
    }
}

void ExecutorLink::set_limits(uint64_t max_lifetime_usec, uint64_t disconnected_timeout_usec,
                              uint64_t idle_timeout_usec) {
    try {
        call(
            "SetLimits",
            [&](sd_bus_message* m) {
                int r = sd_bus_message_open_container(m, 'a', "{sv}");
                if (r >= 0) r = append_entry(m, "max_lifetime_usec", "t", max_lifetime_usec);
                if (r >= 0) r = append_entry(m, "disconnected_timeout_usec", "t", disconnected_timeout_usec);
                if (r >= 0) r = append_entry(m, "idle_timeout_usec", "t", idle_timeout_usec);
                if (r >= 0) r = sd_bus_message_close_container(m);
                return r;
            },
            30'000'000, false, nullptr);
    } catch (const std::exception& e) {
        log::warning("Could not send an executor the reloaded time limits", {{"RSM_ERROR", e.what()}});
    }
}

void ExecutorLink::terminate() {
    try {
        call("Terminate", nullptr, 30'000'000, false, nullptr);
    } catch (const std::exception& e) {
        log::warning("Could not ask an executor to terminate", {{"RSM_ERROR", e.what()}});
    }
}

int ExecutorLink::on_state_changed_signal(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* self = static_cast<ExecutorLink*>(userdata);
    session::Record r;
    try {
        read_record_dict(m, r);
    } catch (const std::exception& e) {
        log::warning("Ignoring a malformed StateChanged from an executor", {{"RSM_ERROR", e.what()}});
        return 0;
    }
    if (self->callbacks_.on_state_changed) self->callbacks_.on_state_changed(r);
    return 0;
}

int ExecutorLink::on_session_ended_signal(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* self = static_cast<ExecutorLink*>(userdata);
    const char* reason = nullptr;
    int failed = 0;
    if (sd_bus_message_read(m, "sb", &reason, &failed) < 0) return 0;
    if (self->callbacks_.on_session_ended) self->callbacks_.on_session_ended(reason, failed != 0);
    return 0;
}

}  // namespace rsm::manager
