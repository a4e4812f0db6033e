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

int append_strings_dict_entry(sd_bus_message* m, const char* key, const std::vector<std::string>& values) {
    int r = sd_bus_message_open_container(m, 'e', "sv");
    if (r >= 0) r = sd_bus_message_append_basic(m, 's', key);
    if (r >= 0) r = sd_bus_message_open_container(m, 'v', "as");
    if (r >= 0) r = sd_bus_message_open_container(m, 'a', "s");
    for (const auto& v : values)
        if (r >= 0) r = sd_bus_message_append_basic(m, 's', v.c_str());
    if (r >= 0) r = sd_bus_message_close_container(m);
    if (r >= 0) r = sd_bus_message_close_container(m);
    if (r >= 0) r = sd_bus_message_close_container(m);
    return r;
}

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

    BusPtr bus = bus::make_server(std::move(ours), event);
    return std::make_unique<ExecutorLink>(Token{}, pid, std::move(bus), std::move(callbacks));
}

ExecutorLink::ExecutorLink(Token, pid_t pid, BusPtr bus, Callbacks callbacks)
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
    start_processing_ = bus::process_until_running(bus_.get(), sd_bus_get_event(bus_.get()));
}

ExecutorLink::~ExecutorLink() {
    // Drop slots before the bus so no callback can reach a half-destroyed link.
    start_processing_.reset();
    login_slot_.reset();
    disconnect_slot_.reset();
    object_slot_.reset();
    pending_converse_.reset();
    bus_.reset();
}

void ExecutorLink::detach() {
    callbacks_ = {};
    login_done_ = nullptr;
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
    std::vector<char*> strv;
    strv.reserve(answers.size() + 1);
    for (const auto& a : answers) strv.push_back(const_cast<char*>(a.c_str()));
    strv.push_back(nullptr);
    if (sd_bus_message_append_strv(reply.get(), strv.data()) < 0) return;
    (void)sd_bus_send(bus_.get(), reply.get(), nullptr);
}

void ExecutorLink::fail_conversation(const char* error_name, const std::string& message) {
    MessagePtr call = std::move(pending_converse_);
    if (call) (void)sd_bus_reply_method_errorf(call.get(), error_name, "%s", message.c_str());
}

void ExecutorLink::login(const LoginRequest& req, std::function<void(LoginResult)> done) {
    sd_bus_message* raw = nullptr;
    bus::check(sd_bus_message_new_method_call(bus_.get(), &raw, nullptr, names::executor_path,
                                              names::executor_interface, "Login"),
               "new Login call");
    MessagePtr m{raw};
    int r = sd_bus_message_append(m.get(), "sss", req.mode.c_str(), req.user.c_str(), req.password.c_str());
    if (r >= 0) r = sd_bus_message_open_container(m.get(), 'a', "{sv}");
    if (r >= 0) r = sd_bus_message_append(m.get(), "{sv}", "service", "s", req.pam_service.c_str());
    if (r >= 0 && !req.rhost.empty()) r = sd_bus_message_append(m.get(), "{sv}", "rhost", "s", req.rhost.c_str());
    if (r >= 0 && !req.gateway.empty())
        r = sd_bus_message_append(m.get(), "{sv}", "gateway", "s", req.gateway.c_str());
    if (r >= 0 && req.mode == "account") r = sd_bus_message_append(m.get(), "{sv}", "uid", "u", req.uid);
    if (r >= 0 && req.conversation_timeout_usec)
        r = sd_bus_message_append(m.get(), "{sv}", "conversation_timeout_usec", "t", req.conversation_timeout_usec);
    const config::Access& a = req.access;
    if (r >= 0) r = sd_bus_message_append(m.get(), "{sv}", "allow_root", "b", static_cast<int>(a.allow_root));
    if (r >= 0) r = append_strings_dict_entry(m.get(), "allowed_users", a.allowed_users);
    if (r >= 0) r = append_strings_dict_entry(m.get(), "denied_users", a.denied_users);
    if (r >= 0) r = append_strings_dict_entry(m.get(), "allowed_groups", a.allowed_groups);
    if (r >= 0) r = append_strings_dict_entry(m.get(), "denied_groups", a.denied_groups);
    if (r >= 0) r = sd_bus_message_close_container(m.get());
    bus::check(r, "building Login call");

    sd_bus_slot* slot = nullptr;
    // No D-Bus timeout: the gateway connection's login deadline bounds the
    // whole login and drops this link when it passes.
    bus::check(sd_bus_call_async(bus_.get(), &slot, m.get(), &ExecutorLink::on_login_reply, this, UINT64_MAX),
               "sending Login");
    login_slot_.reset(slot);
    login_done_ = std::move(done);
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
