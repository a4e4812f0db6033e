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

#include "bus/quiet_attachment.hpp"
#include "child_reaper.hpp"
#include "record_dict.hpp"
#include "config/config.hpp"
#include "protocol/login_request.hpp"
#include "session/companion.hpp"
#include "session/record.hpp"
#include "util/fd.hpp"
#include "util/handles.hpp"
#include "util/secret_string.hpp"

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
    protocol::LoginMode mode = protocol::LoginMode::password;
    std::string user;  // empty in account mode (uid is used)
    util::SecretString password;  // wiped when the request goes
    uint32_t uid = 0;  // account mode only
    // Account mode only: peer_credentials (LoginWithCredentials, which needs
    // access.allow_peer_credentials) or session (a new session of a
    // connection that logged in already, by whatever kind of login).
    protocol::LoginPurpose purpose = protocol::LoginPurpose::peer_credentials;
    std::string pam_service;
    std::string rhost;
    std::string gateway;
    uint64_t conversation_timeout_usec = 0;
    // Access rules the executor applies (NSS lookups run there, never here).
    config::Access access;
};

// What the manager sends with StartSession (see dbus/org.rsm.Executor1.xml).
struct StartSessionParams {
    std::string type, protocol;
    std::vector<std::string> display_argv;
    unsigned display_number = 0;
    std::string display_socket, xauthority;
    std::vector<std::string> session_argv, reconnect_argv;
    std::vector<std::string> display_env;                // "NAME=value" for the display server only
    std::string display_client_socket;                   // [display.*] client_socket, expanded; "" = unused
    std::string display_ready_line, display_suspend_line;  // [display.*] ready_line, suspend_line
    std::string display_start_line;                        // [display.*] start_line
    std::string display_resume_line;                       // [display.*] resume_line
    uint32_t display_port = 0;                           // nxagent: its loopback listen port
    std::string nx_options, nx_options_file;             // nxagent: display string options, their file
    std::vector<session::CompanionCommand> companions;  // started once the display is ready
    std::string desktop;          // the desktop entry's name (XDG_SESSION_DESKTOP); "" = the start script
    std::string current_desktop;  // its DesktopNames, ':'-joined (XDG_CURRENT_DESKTOP); "" = desktop
    bool wayland = false;         // the entry is a Wayland session (wayland-sessions; the null type only)
    uint32_t width = 0, height = 0, depth = 0;
    std::string client_address, client_name;
    uint64_t startup_timeout_usec = 0, idle_timeout_usec = 0, disconnected_timeout_usec = 0,
             max_lifetime_usec = 0;
};

// What the manager sends with Shadow (see dbus/org.rsm.Executor1.xml):
// the shadowing nxagent's command line and files, and whether to ask the
// session's owner first.
struct ShadowParams {
    std::string requester;       // the user who asks (for the consent dialog and the journal)
    std::string client_address;  // where they are, if a trusted gateway said so
    bool ask_consent = true;
    std::vector<std::string> consent_argv;  // expanded; run as the owner on the session's display
    uint64_t consent_timeout_usec = 0;
    std::vector<std::string> argv;  // the shadowing nxagent, expanded
    uint32_t display_number = 0;    // its own display
    uint32_t port = 0;              // its loopback listen port
    std::string nx_options;         // nx/nx,...,listen=<port>,loopback=1,accept=127.0.0.1
    std::string nx_options_file, xauthority;  // in the user's socket directory
    std::string ready_line;
    uint64_t startup_timeout_usec = 0;
};

// The reply to a session call: ok, or a D-Bus error (name, message). For
// calls that return a record, `record` holds the executor's fields.
struct ExecutorReply {
    bool ok = false;
    std::string error_name, error_message;
    session::Record record;
    MessagePtr message;  // the reply itself (Connect: fds and details to pass on)
};

class ExecutorLink {
public:
    struct Callbacks {
        // A conversation round. Answer later with answer_conversation() or
        // fail_conversation(); exactly one of them per round.
        std::function<void(std::vector<PamMessage>)> on_conversation;
        // The link closed (executor exited or crashed).
        std::function<void()> on_disconnect;
        // The executor's StateChanged signal: its whole current record.
        std::function<void(const session::Record&)> on_state_changed;
        // The executor's SessionEnded signal (it exits right after).
        std::function<void(const std::string& reason, bool failed)> on_session_ended;
        // The executor's ShadowEnded signal: the shadowing nxagent on this
        // display number is gone (the number is free again).
        std::function<void(uint32_t display_number)> on_shadow_ended;
    };

    // Starts `executable` with the link on fd 3. Throws std::system_error.
    static std::unique_ptr<ExecutorLink> spawn(sd_event* event, ChildReaper& reaper,
                                               const std::string& executable, Callbacks callbacks);
    // A link to an executor this manager did not start (after a restart): a
    // server connection on `fd`, which the caller has resynchronised
    // (bus/link_resync.hpp). Throws std::system_error.
    static std::unique_ptr<ExecutorLink> adopt(sd_event* event, UniqueFd fd, pid_t pid, Callbacks callbacks);
    ~ExecutorLink();
    ExecutorLink(const ExecutorLink&) = delete;
    ExecutorLink& operator=(const ExecutorLink&) = delete;

    pid_t pid() const { return pid_; }
    // The link's socket (for the fd store); owned by the link.
    int fd() const;
    void set_callbacks(Callbacks callbacks) { callbacks_ = std::move(callbacks); }
    // Forgets every callback into the owner (which is going away); the link
    // stays open until the ExecutorLink is destroyed.
    void detach();

    // Sends Login; `done` runs once with the result (also if the link dies).
    void login(const LoginRequest& request, std::function<void(LoginResult)> done);
    void answer_conversation(const std::vector<std::string>& answers);
    void fail_conversation(const char* error_name, const std::string& message);
    bool conversation_pending() const { return static_cast<bool>(pending_converse_); }
    // A Login sent and not answered yet: the executor may be blocked in PAM
    // or NSS, where closing its link does not reach it.
    bool login_pending() const { return static_cast<bool>(login_done_); }

    // Session calls; `done` runs once (also with an error if the link dies).
    void start_session(const std::string& session_id, const StartSessionParams& p, uint64_t timeout_usec,
                       std::function<void(ExecutorReply)> done);
    void connect(const std::string& client_address, const std::string& client_name,
                 std::function<void(ExecutorReply)> done);
    void attach(std::function<void(ExecutorReply)> done);
    // Shadow (executor_link_shadow.cpp): answered once the owner agreed and
    // the shadowing nxagent listens, or with an error.
    void shadow(const ShadowParams& p, std::function<void(ExecutorReply)> done);
    // Fire and forget.
    void disconnect();
    void terminate();
    // The [session] time limits after a reload (Executor1.SetLimits).
    void set_limits(uint64_t max_lifetime_usec, uint64_t disconnected_timeout_usec, uint64_t idle_timeout_usec);

    // Use spawn(); public only for std::make_unique.
    struct Token {};
    ExecutorLink(Token, sd_event* event, pid_t pid, BusPtr bus, Callbacks callbacks);

private:
    static const sd_bus_vtable manager_vtable[];
    static int on_converse(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int on_login_reply(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int on_disconnected(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int on_state_changed_signal(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int on_session_ended_signal(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int on_call_reply(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int on_shadow_ended_signal(sd_bus_message* m, void* userdata, sd_bus_error* error);

    struct PendingCall {
        ExecutorLink* link;
        SlotPtr slot;
        bool wants_record;
        std::function<void(ExecutorReply)> done;
    };
    void call(const char* method, const std::function<int(sd_bus_message*)>& append, uint64_t timeout_usec,
              bool wants_record, std::function<void(ExecutorReply)> done);
    void setup();

    pid_t pid_;
    BusPtr bus_;
    Callbacks callbacks_;
    SlotPtr object_slot_;
    SlotPtr disconnect_slot_;
    SlotPtr login_slot_;
    // Idle links cost nothing per loop iteration (bus/quiet_attachment.hpp).
    std::unique_ptr<bus::QuietAttachment> attachment_;
    MessagePtr pending_converse_;
    std::function<void(LoginResult)> login_done_;
    SlotPtr state_slot_, ended_slot_, shadow_ended_slot_;
    std::vector<std::unique_ptr<PendingCall>> calls_;
};

}  // namespace rsm::manager
