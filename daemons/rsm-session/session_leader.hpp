// The session leader: the process that opens the PAM session and parents the
// user's processes, so that the executor itself stays in rsm-session-<id>.scope.
//
// Why a separate process: pam_systemd moves the process that calls
// pam_open_session into logind's session-<n>.scope (a process lives in one
// cgroup). The executor forks the leader; the leader (root, with a copy of the
// authenticated PAM handle) calls pam_setcred(PAM_ESTABLISH_CRED) and
// pam_open_session, then starts the display server and the session program as
// the user, waits for them, and on the way out stops them and calls
// pam_close_session / pam_setcred(PAM_DELETE_CRED) on the *same* handle (without
// that close a logind session lingers in State=closing). Without pam_systemd in
// the stack everything simply stays in the executor's scope. The leader is
// the subreaper of what it starts and keeps none of the executor's
// descriptors; what escapes its process groups (setsid daemons) is swept by
// the manager through the cgroups ("How a session ends" in
// docs/design-notes.md). The child's side is in leader_process.cpp.
//
// The executor talks to the leader through a status pipe (leader -> executor,
// one line per event, read in the executor's sd-event loop) and signals
// (executor -> leader: SIGTERM ends the session, SIGUSR1 runs the reconnect
// command). See docs/design-notes.md.
//
// Status pipe, one line per event (fields separated by one space, "-" for an
// empty field):
//   opened <logind-session-id>      right after pam_open_session, with pam_systemd
//   ready <display> <logind-session-id> <cookie-hex> <display-server-pid>
//                                                   e.g. "ready :57 c3 9f... 4711"
//   exit <failed 0|1> <reason up to the end of the line>
// The leader's death without an exit line is reported as "session leader
// died: ..." with failed=true.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <signal.h>
#include <string>
#include <sys/types.h>
#include <systemd/sd-event.h>
#include <vector>

#include "pam/pam_handle.hpp"
#include "session/companion.hpp"
#include "util/fd.hpp"
#include "util/handles.hpp"

namespace rsm::session {

// Everything the leader needs; built by the executor from StartSession.
struct LeaderSpec {
    std::string session_id;  // 32 hex digits
    uid_t uid = 0;
    gid_t gid = 0;
    std::string user;
    std::string home;
    std::string shell;
    // "x11" (Xvnc, Xvfb, Xorg) or "" for the null type: goes to
    // XDG_SESSION_TYPE ("x11", or "tty" for null).
    std::string xdg_session_type;
    std::string desktop;          // XDG_SESSION_DESKTOP (the desktop entry's name); may be empty
    std::string current_desktop;  // XDG_CURRENT_DESKTOP (its DesktopNames); "" = desktop
    // Display server argv, fully expanded, or empty for the null type. It is
    // started with the write end of a readiness pipe on fd 3 (the templates
    // say "-displayfd 3"); the display number it writes there marks it ready.
    std::vector<std::string> display_argv;
    unsigned display_number = 0;  // DISPLAY=:N, PAM_XDISPLAY; unused for null
    std::string xauthority;       // file the leader creates for the user (0600) with a fresh cookie; "" for null
    std::vector<std::string> session_argv;    // started once the display is ready
    std::vector<std::string> reconnect_argv;  // run (as the user, in the session's env) on SIGUSR1; may be empty
    std::vector<std::string> display_env;     // "NAME=value" set over the session's env for the display server
    // Readiness from the display server's stderr (display_readiness.hpp)
    // instead of fd 3 when not empty; on suspend_line the leader sends the
    // server SIGHUP (nxagent: listen again for the next client).
    std::string ready_line;
    std::string suspend_line;
    // nxagent's line saying it acts on that SIGHUP; until it comes the
    // leader repeats the SIGHUP (leader_display.cpp). "" = one SIGHUP.
    std::string resume_line;
    // When not empty, the session program and companions start only once a
    // stderr line holds this (nxagent takes X clients only after its first
    // NX client connected: "Session: Session started"); "ready" comes before.
    std::string start_line;
    // nxagent: the leader writes nx_options + the cookie to nx_options_file
    // (as the user, 0600; session/nx_display.hpp) before starting it, and
    // removes it at the end. Both "" for other types.
    std::string nx_options;
    std::string nx_options_file;
    // A unix socket the display server listens on once it serves, some
    // time after it wrote its display number (xpra: its socket comes up
    // after its X server). "ready" then waits until the display server's
    // own process listens there (util/unix_sockets.hpp). "" = the display
    // number alone marks it ready.
    std::string display_ready_socket;
    std::string display_type;  // "xvnc", "xpra", ...: RSM_DISPLAY_TYPE in the session's environment
    // Started as the user once the display is ready; "ready" waits for their
    // ready sockets (util/unix_sockets.hpp). Stopped with the session.
    std::vector<CompanionCommand> companions;
    std::string syslog_identifier;            // for the user processes' stdout/stderr in the journal
    // One descriptor of the executor's link to the manager: the leader closes
    // every copy of that socket right after the fork (-1: none).
    int manager_link_fd = -1;
};

// What the leader reported once the session runs.
struct LeaderReady {
    std::string display;         // ":N", or "" for the null type
    std::string logind_session;  // XDG_SESSION_ID from the PAM environment; "" without pam_systemd
    std::vector<uint8_t> xauth_cookie;  // the MIT-MAGIC-COOKIE-1 data written to spec.xauthority
    // The display server process the leader started (0: none, the null
    // type), which must be the peer of every display connection handed out,
    // and the identity it runs with (the session's user: spec.uid/gid).
    pid_t display_server_pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
};

class SessionLeader {
public:
    struct Callbacks {
        // pam_systemd registered the session with logind (its id). At most
        // once, before on_ready; may be empty (not called).
        std::function<void(const std::string& logind_session)> on_opened;
        // The display is ready and the session program started. At most once.
        std::function<void(const LeaderReady&)> on_ready;
        // The leader has exited (everything it started is gone and the PAM
        // session is closed). `reason` is human readable, e.g. "display server
        // exited with status 1", "session program exited with status 0",
        // "pam_open_session failed: ...", "terminated". `failed` is false only for
        // an orderly end (terminate(), or the session program exiting 0 after
        // ready). Called exactly once; the object may be destroyed inside it.
        std::function<void(const std::string& reason, bool failed)> on_exit;
    };

    // Forks the leader. `pam` must be the handle of the successful login (the
    // leader uses its copy; the executor must not close the session on its own
    // copy: start() calls pam.hand_over(), so the executor's copy only ever
    // does pam_end(PAM_DATA_SILENT)). Blocks SIGCHLD in the calling thread
    // (sd_event_add_child needs it). Throws std::system_error if fork, the
    // pipe or the event sources fail.
    static std::unique_ptr<SessionLeader> start(sd_event* event, pam::Handle& pam, LeaderSpec spec,
                                                Callbacks callbacks);
    ~SessionLeader();  // does not kill the leader; call terminate() first
    SessionLeader(const SessionLeader&) = delete;
    SessionLeader& operator=(const SessionLeader&) = delete;

    pid_t pid() const noexcept { return pid_; }
    // Asks the leader to end the session (SIGTERM). on_exit follows.
    void terminate();
    // Asks the leader to run spec.reconnect_argv (no-op if it is empty).
    void run_reconnect_command();

    struct Token {};
    SessionLeader(Token, pid_t pid, UniqueFd status, sd_event* event, Callbacks callbacks);

private:
    static int on_status(sd_event_source* s, int fd, uint32_t revents, void* userdata) noexcept;
    static int on_child(sd_event_source* s, const siginfo_t* si, void* userdata) noexcept;
    // Reads what the pipe holds now into buffer_; true at EOF (stop watching).
    bool read_status();
    // Acts on the complete lines in buffer_; false when a callback destroyed the object.
    bool handle_lines();

    pid_t pid_;
    UniqueFd status_fd_;
    sd_event* event_;
    Callbacks callbacks_;
    EventSourcePtr status_source_;
    EventSourcePtr child_source_;
    std::string buffer_;
    bool has_reconnect_ = false;
    uid_t uid_ = 0;
    gid_t gid_ = 0;
    bool ready_sent_ = false;
    bool exit_line_ = false;  // the leader reported how the session ended
    bool reaped_ = false;     // the leader process is gone: never signal pid_ again
    std::string exit_reason_;
    bool exit_failed_ = true;
    // False once the object is destroyed: callbacks may destroy it.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace rsm::session
