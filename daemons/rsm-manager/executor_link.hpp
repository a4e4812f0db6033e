// One rsm-session executor as the manager sees it: the child process and the
// private peer-to-peer D-Bus link (org.rsm.Executor1) over a socketpair.
//
// Destroying an ExecutorLink closes the link; an executor that holds no
// session exits when its link closes (that is how a login is dropped). The
// process itself is reaped by the ChildReaper, whatever happens to the link.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "child_reaper.hpp"
#include "config/config.hpp"
#include "util/handles.hpp"

namespace rsm::manager {

// One PAM message: style (PAM_PROMPT_ECHO_OFF=1 ... PAM_TEXT_INFO=4) and text.
struct PamMessage {
    uint32_t style;
    std::string text;
};

// The outcome of Executor1.Login: the user, or a D-Bus error (name, message).
struct LoginResult {
    bool ok = false;
    uint32_t uid = 0;
    std::string user;
    std::vector<PamMessage> messages;
    std::string error_name;
    std::string error_message;
};

// Options for one Login call (see dbus/org.rsm.Executor1.xml).
struct LoginRequest {
    std::string mode;  // "password", "conversation", "account"
    std::string user;  // empty in "account" mode (uid is used)
    std::string password;
    uint32_t uid = 0;  // "account" mode only
    std::string pam_service;
    std::string rhost;
    std::string gateway;
    uint64_t conversation_timeout_usec = 0;
    // Access rules the executor applies before PAM (NSS lookups run there).
    config::Access access;
};

class ExecutorLink {
public:
    struct Callbacks {
        // A conversation round. Answer later with answer_conversation() or
        // fail_conversation(); exactly one of them per round.
        std::function<void(std::vector<PamMessage>)> on_conversation;
        // The link closed (executor exited or crashed).
        std::function<void()> on_disconnect;
    };

    // Starts `executable` with the link on fd 3. Throws std::system_error.
    static std::unique_ptr<ExecutorLink> spawn(sd_event* event, ChildReaper& reaper,
                                               const std::string& executable, Callbacks callbacks);
    ~ExecutorLink();
    ExecutorLink(const ExecutorLink&) = delete;
    ExecutorLink& operator=(const ExecutorLink&) = delete;

    pid_t pid() const { return pid_; }
    // Forgets every callback into the owner (which is going away); the link
    // stays open until the ExecutorLink is destroyed.
    void detach();

    // Sends Login; `done` runs once with the result (also if the link dies).
    void login(const LoginRequest& request, std::function<void(LoginResult)> done);
    void answer_conversation(const std::vector<std::string>& answers);
    void fail_conversation(const char* error_name, const std::string& message);
    bool conversation_pending() const { return static_cast<bool>(pending_converse_); }

    // Use spawn(); public only for std::make_unique.
    struct Token {};
    ExecutorLink(Token, pid_t pid, BusPtr bus, Callbacks callbacks);

private:
    static const sd_bus_vtable manager_vtable[];
    static int on_converse(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int on_login_reply(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int on_disconnected(sd_bus_message* m, void* userdata, sd_bus_error* error);

    pid_t pid_;
    BusPtr bus_;
    Callbacks callbacks_;
    SlotPtr object_slot_;
    SlotPtr disconnect_slot_;
    SlotPtr login_slot_;
    EventSourcePtr start_processing_;
    MessagePtr pending_converse_;
    std::function<void(LoginResult)> login_done_;
};

}  // namespace rsm::manager
