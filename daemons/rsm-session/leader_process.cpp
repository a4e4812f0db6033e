#include "leader.hpp"

#include <pthread.h>

#include "pam/session_call_slot.hpp"
#include "rsm-build-config.h"

namespace rsm::session::leader {

// Reasons go on one line.
std::string one_line(std::string s) {
    std::replace_if(s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    return s;
}

[[noreturn]] void throw_errno(int e, const std::string& what) {
    throw std::system_error(e, std::generic_category(), what);
}

// The display server ended because we asked it to (SIGTERM: X servers exit
// 0), rather than of its own accord.
bool ended_by_us(int status, bool sent_kill) {
    if (WIFEXITED(status)) return WEXITSTATUS(status) == 0;
    return WIFSIGNALED(status) && (WTERMSIG(status) == SIGTERM || (sent_kill && WTERMSIG(status) == SIGKILL));
}

namespace {

// How long a leader waits for one of the slots that bound the PAM session
// calls running at once (pam/session_call_slot.hpp); then it goes on without.
constexpr std::chrono::milliseconds session_call_wait{10'000};

pam::SessionCallSlot session_call_slot() {
    return pam::SessionCallSlot::take(RSM_RUNTIME_DIR "/pam-slots", session_call_wait);
}

// What the leader inherited from the executor and must not keep: every copy
// of the manager link (same socket as `link_fd`: otherwise a dead executor's
// link would not reach EOF at the manager while the leader lives), and the
// executor's event-loop machinery (sd-event's epoll, signalfd and timerfds,
// the pidfd watching the manager). Anything else stays: descriptors the
// libraries keep for themselves (libsystemd's journal socket, a PAM module's
// connection to its daemon) are not ours to close, and a library that kept
// using a closed number would one day write into an unrelated file.
void close_inherited_fds(int link_fd, int keep) noexcept {
    struct stat link {};
    const bool have_link = link_fd >= 0 && fstat(link_fd, &link) == 0 && S_ISSOCK(link.st_mode);
    DIR* dir = opendir("/proc/self/fd");
    if (!dir) return;
    std::vector<int> doomed;
    while (const dirent* e = readdir(dir)) {
        int fd = -1;
        const char* end = e->d_name + std::strlen(e->d_name);
        if (std::from_chars(e->d_name, end, fd).ptr != end || fd <= STDERR_FILENO || fd == keep || fd == dirfd(dir))
            continue;
        struct stat st {};
        if (fstat(fd, &st) < 0) continue;
        if (have_link && st.st_dev == link.st_dev && st.st_ino == link.st_ino) {
            doomed.push_back(fd);
            continue;
        }
        char target[64] = {};
        const std::string path = "/proc/self/fd/" + std::string(e->d_name);
        const ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
        if (n <= 0) continue;
        const std::string_view t{target, static_cast<std::size_t>(n)};
        if (t == "anon_inode:[eventpoll]" || t == "anon_inode:[signalfd]" || t == "anon_inode:[timerfd]" ||
            t == "anon_inode:[pidfd]")
            doomed.push_back(fd);
    }
    closedir(dir);
    for (int fd : doomed) (void)close(fd);
}

}  // namespace

void Leader::run() noexcept {
    try {
        setup_signals();
        // Orphans of the session (what a dying session program leaves, the
        // second child of a double fork) become our children, so their
        // exits wake us (SIGCHLD) while the session ends, instead of polls.
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) throw_errno(errno, "prctl(PR_SET_CHILD_SUBREAPER)");
        handle_signals();  // a terminate() that came before anything was opened
        // What a login starts from, before pam_limits and pam_umask adjust it.
        reset_login_limits();
        open_pam_session();
        const char* sid = pam_getenv(pam_.get(), "XDG_SESSION_ID");
        const std::string logind_session = sid ? sid : "";
        // Told at once, so that the manager can end the logind session even
        // if this process is killed before the display is ready.
        if (!logind_session.empty()) send_line(std::string(opened_word) + " " + logind_session + "\n");
        if (!spec_.xauthority.empty()) {
            cookie_ = xauth::new_cookie();
            xauth::write_file(spec_.xauthority, spec_.uid, spec_.gid, spec_.display_number, cookie_);
            xauth_written_ = true;
        }
        if (!spec_.nx_options_file.empty()) {
            // nxagent's display string with the cookie (session/nx_display.hpp).
            xauth::write_user_file(spec_.nx_options_file, spec_.uid, spec_.gid,
                                   nx_options_file_text(spec_.nx_options, xauth::to_hex(cookie_), spec_.display_number));
            nx_options_written_ = true;
        }
        watch_executor();
        build_environment();
        // A terminate() that came while PAM worked: do not start anything.
        handle_signals();

        if (!spec_.display_argv.empty()) {
            start_display_server();
            wait(true);
            if (!spec_.display_ready_socket.empty()) wait_for_display_socket();
        } else if (x11_) {
            display_ = display_name();  // a display somebody else provides
        }
        // A server that takes X clients only once its own client came
        // (nxagent: after "Session: Session started") gets them then
        // (read_display_output()); the session is ready before.
        if (spec_.start_line.empty()) start_session_programs();

        auto f = fields();
        if (!display_.empty()) f.push_back({"RSM_DISPLAY", display_});
        if (!logind_session.empty()) f.push_back({"RSM_LOGIND_SESSION", logind_session});
        log::info("Session of user '" + spec_.user + "' is running", f);
        send_line(std::string(ready_word) + " " + field(display_) + " " + field(logind_session) + " " +
                  field(xauth::to_hex(cookie_)) + " " + field(display_pid_ > 0 ? std::to_string(display_pid_) : "") +
                  "\n");
        wait(false);
        end("session leader stopped waiting", true);  // not reached
    } catch (const std::exception& e) {
        end(std::string("session leader failed: ") + e.what(), true);
    } catch (...) {
        end("session leader failed", true);
    }
}

namespace {

// Every child the leader forks, also those PAM modules fork (pam_exec's
// command, a mount helper), starts with nothing blocked and SIGPIPE at its
// default: the leader's mask (its signalfd's signals) and its ignored
// SIGPIPE are inherited across exec, and a pam_exec command that blocks
// SIGTERM outlives the session's stop (its scope's SIGTERM reaches it).
// fork() runs this in the child (glibc's atfork handlers).
void reset_signals_in_child() {
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    (void)sigaction(SIGPIPE, &dfl, nullptr);
}

}  // namespace

// Everything the leader waits for arrives through one signalfd. The mask was
// set at fork (all blocked); narrow it to what the leader waits for, so that
// PAM modules keep SIGALRM and friends, and survive a closed status pipe.
void Leader::setup_signals() {
    if (pthread_atfork(nullptr, nullptr, &reset_signals_in_child) != 0) throw_errno(ENOMEM, "pthread_atfork");
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : leader_signals) sigaddset(&mask, sig);
    if (sigprocmask(SIG_SETMASK, &mask, nullptr) < 0) throw_errno(errno, "sigprocmask");
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &ign, nullptr) < 0) throw_errno(errno, "sigaction(SIGPIPE)");
    sigfd_.reset(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!sigfd_) throw_errno(errno, "signalfd");
}

void Leader::open_pam_session() {
    pam_handle_t* h = pam_.get();
    auto check = [&](int r, const char* what) {
        if (r != PAM_SUCCESS) end(std::string(what) + " failed: " + pam_strerror(h, r), true);
    };
    // What pam_systemd reads to register the session with logind.
    const std::string type = spec_.xdg_session_type.empty() ? "tty" : spec_.xdg_session_type;
    check(pam_putenv(h, ("XDG_SESSION_TYPE=" + type).c_str()), "pam_putenv");
    check(pam_putenv(h, "XDG_SESSION_CLASS=user"), "pam_putenv");
    if (!spec_.desktop.empty()) check(pam_putenv(h, ("XDG_SESSION_DESKTOP=" + spec_.desktop).c_str()), "pam_putenv");
    if (x11_) {
        check(pam_.set_item(PAM_TTY, display_name()), "pam_set_item(PAM_TTY)");
        check(pam_.set_item(PAM_XDISPLAY, display_name()), "pam_set_item(PAM_XDISPLAY)");
    }
    // Nobody is there to read module messages: PAM_SILENT (the conversation
    // was dropped after the login anyway).
    // pam_systemd connects to the system bus here (CreateSession): one of
    // the slots that keep such connections within dbus-daemon's limits.
    pam::SessionCallSlot slot = session_call_slot();
    check(pam_.establish_cred(PAM_SILENT), "pam_setcred");
    check(pam_.open_session(PAM_SILENT), "pam_open_session");
    slot.release();
    log::debug("PAM session opened", fields());
}

// If the executor dies, nobody could end this session any more (and with
// pam_systemd the leader lives in logind's scope, outside the executor's):
// end it as if terminated. Set only now because every change of the
// (filesystem) uid clears it, and PAM modules and the Xauthority file do that.
void Leader::watch_executor() {
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0) throw_errno(errno, "prctl(PR_SET_PDEATHSIG)");
    if (getppid() != executor_) kill(getpid(), SIGTERM);  // already gone: the signalfd sees it
}

void Leader::build_environment() {
    std::vector<std::pair<std::string, std::string>> vars;
    auto set = [&vars](const std::string& name, const std::string& value) {
        for (auto& [n, v] : vars)
            if (n == name) {
                v = value;
                return;
            }
        vars.emplace_back(name, value);
    };
    auto has = [&vars](const std::string& name) {
        return std::any_of(vars.begin(), vars.end(), [&](const auto& p) { return p.first == name; });
    };
    // The stack's environment (pam_env, pam_systemd's XDG_RUNTIME_DIR and
    // XDG_SESSION_ID, what was pam_putenv'ed above) ...
    for (const auto& entry : pam_.getenvlist()) {
        const auto eq = entry.find('=');
        if (eq == std::string::npos || eq == 0) continue;
        set(entry.substr(0, eq), entry.substr(eq + 1));
    }
    // ... and the session's own, which wins.
    set("HOME", spec_.home.empty() ? "/" : spec_.home);
    set("USER", spec_.user);
    set("LOGNAME", spec_.user);
    set("SHELL", spec_.shell.empty() ? "/bin/sh" : spec_.shell);
    if (!has("PATH")) set("PATH", "/usr/local/bin:/usr/bin:/bin");
    if (x11_) set("DISPLAY", display_name());
    if (!spec_.xauthority.empty()) set("XAUTHORITY", spec_.xauthority);
    set("XDG_SESSION_TYPE", spec_.xdg_session_type.empty() ? "tty" : spec_.xdg_session_type);
    set("XDG_SESSION_CLASS", "user");
    if (!spec_.display_type.empty()) set("RSM_DISPLAY_TYPE", spec_.display_type);
    if (!spec_.desktop.empty()) {
        set("XDG_SESSION_DESKTOP", spec_.desktop);
        set("XDG_CURRENT_DESKTOP", spec_.current_desktop.empty() ? spec_.desktop : spec_.current_desktop);
    }
    env_.clear();
    env_.reserve(vars.size());
    for (const auto& [n, v] : vars) env_.push_back(n + "=" + v);
}

void Leader::spawn(Role role, const std::vector<std::string>& argv, int fd3, const std::vector<std::string>* env,
                   int stderr_fd) {
    std::string ident = spec_.syslog_identifier;
    if (ident.empty()) {
        ident = argv.front();
        if (auto slash = ident.rfind('/'); slash != std::string::npos) ident.erase(0, slash + 1);
    }
    SpawnedProcess p = spawn_user_process(SpawnRequest{who_, argv, env ? *env : env_, ident, fd3, stderr_fd});
    // Tracked before anything else can throw, so the end stops it.
    groups_.push_back(p.pid);
    children_.push_back(Child{p.pid, role, std::move(p.error), argv.front()});
    log::info(std::string("Started ") + to_string(role) + " " + argv.front(), fields(children_.back()));
}

// Companions and the session program, once: at ready, or for a display
// server with a start_line when it prints that.
void Leader::start_session_programs() {
    programs_started_ = true;
    start_companions();
    if (!spec_.session_argv.empty()) spawn(Role::session_program, spec_.session_argv, -1);
    wait_for_companions();
}

// Stops everything, closes the PAM session on this (the opening) handle,
// reports, exits. Never returns, never throws.
void Leader::end(const std::string& reason, bool failed) noexcept {
    try {
        auto f = fields();
        f.push_back({"RSM_REASON", reason});
        log::write(failed ? LOG_NOTICE : LOG_INFO, "Ending the session: " + reason, f);
    } catch (...) {
    }
    stop_children();
    if (xauth_written_) {
        if (int r = xauth::remove_file(spec_.xauthority, spec_.uid, spec_.gid); r < 0 && r != -ENOENT) try {
                auto f = fields();
                f.push_back({"RSM_ERROR", std::strerror(-r)});
                log::warning("Cannot remove " + spec_.xauthority + ": " + std::strerror(-r), f);
            } catch (...) {
            }
    }
    if (nx_options_written_) (void)xauth::remove_file(spec_.nx_options_file, spec_.uid, spec_.gid);
    // pam_close_session, pam_setcred(PAM_DELETE_CRED), pam_end: what
    // succeeded. pam_systemd connects to the system bus again (ReleaseSession):
    // in a slot, so that a thousand sessions ending at once stay within
    // dbus-daemon's connection limits.
    {
        pam::SessionCallSlot slot = session_call_slot();
        pam_.end();
    }
    try {
        send_line(std::string(exit_word) + " " + (failed ? "1" : "0") + " " + one_line(reason) + "\n");
    } catch (...) {
        send_line("exit 1 session ended\n");
    }
    _exit(0);
}

void Leader::send_line(const std::string& line) noexcept {
    std::size_t done = 0;
    while (done < line.size()) {
        const ssize_t n = write(status_.get(), line.data() + done, line.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;  // the executor is gone (EPIPE: SIGPIPE is ignored)
        }
        done += static_cast<std::size_t>(n);
    }
}

void run(pam::Handle& pam, LeaderSpec spec, UniqueFd status, pid_t executor) noexcept {
    close_inherited_fds(spec.manager_link_fd, status.get());
    Leader leader{pam, std::move(spec), std::move(status), executor};
    leader.run();
}

}  // namespace rsm::session::leader
