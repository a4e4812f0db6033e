#include "session_leader.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <security/pam_appl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <system_error>
#include <time.h>
#include <unistd.h>
#include <utility>

#include "user_process.hpp"
#include "util/log.hpp"
#include "xauthority.hpp"

namespace rsm::session {
namespace {

// ---------------------------------------------------------------------------
// Both sides: the status pipe's lines.

constexpr std::string_view ready_word = "ready";
constexpr std::string_view exit_word = "exit";

// A field of a "ready" line: "-" stands for empty.
std::string field(const std::string& s) { return s.empty() ? "-" : s; }
std::string unfield(std::string_view s) { return s == "-" ? std::string{} : std::string{s}; }

// Reasons go on one line.
std::string one_line(std::string s) {
    std::replace_if(s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    return s;
}

[[noreturn]] void throw_errno(int e, const std::string& what) {
    throw std::system_error(e, std::generic_category(), what);
}

// ---------------------------------------------------------------------------
// The leader: the forked child. It never touches the executor's sd-event or
// sd-bus objects (they are the parent's); it waits with a signalfd and poll.

constexpr int leader_signals[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1};
constexpr auto stop_grace = std::chrono::seconds(5);
constexpr auto group_poll_interval = std::chrono::milliseconds(100);
constexpr auto display_exit_grace = std::chrono::milliseconds(500);
constexpr std::size_t max_display_line = 32;

using Clock = std::chrono::steady_clock;

class Leader {
public:
    Leader(pam::Handle& pam, LeaderSpec spec, UniqueFd status, pid_t executor)
        : pam_{pam},
          spec_{std::move(spec)},
          who_{spec_.uid, spec_.gid, spec_.user, spec_.home},
          status_{std::move(status)},
          executor_{executor},
          x11_{spec_.xdg_session_type == "x11"} {}

    [[noreturn]] void run() noexcept;

private:
    // In order of importance (see reap()).
    enum class Role { display_server, session_program, reconnect_command };
    struct Child {
        pid_t pid;
        Role role;
        UniqueFd error;  // the spawn error pipe
        std::string program;
    };

    static const char* to_string(Role r) {
        switch (r) {
        case Role::display_server: return "display server";
        case Role::session_program: return "session program";
        case Role::reconnect_command: return "reconnect command";
        }
        return "process";
    }

    log::Fields fields() const {
        return {{"RSM_SESSION_ID", spec_.session_id}, {"RSM_USER", spec_.user}, {"RSM_UID", std::to_string(spec_.uid)}};
    }
    log::Fields fields(const Child& c) const {
        auto f = fields();
        f.push_back({"RSM_CHILD", to_string(c.role)});
        f.push_back({"RSM_CHILD_PID", std::to_string(c.pid)});
        return f;
    }

    std::string display_name() const { return ":" + std::to_string(spec_.display_number); }

    void setup_signals();
    void open_pam_session();
    void watch_executor();
    void build_environment();
    void spawn(Role role, const std::vector<std::string>& argv, int fd3);
    void start_display_server();
    void wait(bool starting);
    bool read_display_number();
    void handle_signals();
    void reap();
    void on_child_exit(Child child, int status);
    std::optional<std::pair<Child, int>> display_server_exit_within(std::chrono::milliseconds grace);
    void run_reconnect_command();
    void stop_children() noexcept;
    void reap_quietly() noexcept;
    [[noreturn]] void end(const std::string& reason, bool failed) noexcept;
    void send_line(const std::string& line) noexcept;

    pam::Handle& pam_;
    LeaderSpec spec_;
    UserIdentity who_;
    UniqueFd status_;
    pid_t executor_;
    bool x11_;
    UniqueFd sigfd_;
    bool xauth_written_ = false;
    std::vector<std::uint8_t> cookie_;
    std::vector<std::string> env_;
    std::vector<Child> children_;
    // Process groups (= pids of the group leaders) to stop at the end: those of
    // the display server and the session program, which may outlive their
    // leader for the moment between its exit and the end, and of running
    // reconnect commands.
    std::vector<pid_t> groups_;
    UniqueFd ready_;  // read end of the display server's readiness pipe
    std::string ready_buffer_;
    std::string display_;
};

void Leader::run() noexcept {
    try {
        setup_signals();
        handle_signals();  // a terminate() that came before anything was opened
        open_pam_session();
        if (!spec_.xauthority.empty()) {
            cookie_ = xauth::new_cookie();
            xauth::write_file(spec_.xauthority, spec_.uid, spec_.gid, spec_.display_number, cookie_);
            xauth_written_ = true;
        }
        watch_executor();
        build_environment();
        // A terminate() that came while PAM worked: do not start anything.
        handle_signals();

        if (!spec_.display_argv.empty()) {
            start_display_server();
            wait(true);
        } else if (x11_) {
            display_ = display_name();  // a display somebody else provides
        }
        if (!spec_.session_argv.empty()) spawn(Role::session_program, spec_.session_argv, -1);

        const char* sid = pam_getenv(pam_.get(), "XDG_SESSION_ID");
        const std::string logind_session = sid ? sid : "";
        auto f = fields();
        if (!display_.empty()) f.push_back({"RSM_DISPLAY", display_});
        if (!logind_session.empty()) f.push_back({"RSM_LOGIND_SESSION", logind_session});
        log::info("Session of user '" + spec_.user + "' is running", f);
        send_line(std::string(ready_word) + " " + field(display_) + " " + field(logind_session) + " " +
                  field(xauth::to_hex(cookie_)) + "\n");
        wait(false);
        end("session leader stopped waiting", true);  // not reached
    } catch (const std::exception& e) {
        end(std::string("session leader failed: ") + e.what(), true);
    } catch (...) {
        end("session leader failed", true);
    }
}

// Everything the leader waits for arrives through one signalfd. The mask was
// set at fork (all blocked); narrow it to what the leader waits for, so that
// PAM modules keep SIGALRM and friends, and survive a closed status pipe.
void Leader::setup_signals() {
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
    check(pam_.establish_cred(PAM_SILENT), "pam_setcred");
    check(pam_.open_session(PAM_SILENT), "pam_open_session");
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
    if (!spec_.desktop.empty()) {
        set("XDG_SESSION_DESKTOP", spec_.desktop);
        set("XDG_CURRENT_DESKTOP", spec_.desktop);
    }
    env_.clear();
    env_.reserve(vars.size());
    for (const auto& [n, v] : vars) env_.push_back(n + "=" + v);
}

void Leader::spawn(Role role, const std::vector<std::string>& argv, int fd3) {
    std::string ident = spec_.syslog_identifier;
    if (ident.empty()) {
        ident = argv.front();
        if (auto slash = ident.rfind('/'); slash != std::string::npos) ident.erase(0, slash + 1);
    }
    SpawnedProcess p = spawn_user_process(SpawnRequest{who_, argv, env_, ident, fd3});
    // Tracked before anything else can throw, so the end stops it.
    groups_.push_back(p.pid);
    children_.push_back(Child{p.pid, role, std::move(p.error), argv.front()});
    log::info(std::string("Started ") + to_string(role) + " " + argv.front(), fields(children_.back()));
}

void Leader::start_display_server() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) throw_errno(errno, "pipe2");
    UniqueFd read_end{p[0]}, write_end{p[1]};
    if (fcntl(read_end.get(), F_SETFL, O_NONBLOCK) < 0) throw_errno(errno, "fcntl(O_NONBLOCK)");
    spawn(Role::display_server, spec_.display_argv, write_end.get());
    // Only the display server holds the write end now: EOF means it closed it (or died).
    write_end.reset();
    ready_ = std::move(read_end);
}

// Waits for signals, and while `starting` for the display number; returns
// once the display is ready. Ends the session (never returns) on anything else.
void Leader::wait(bool starting) {
    for (;;) {
        pollfd fds[2] = {{sigfd_.get(), POLLIN, 0}, {ready_.get(), POLLIN, 0}};
        const nfds_t n = starting && ready_ ? 2 : 1;
        if (poll(fds, n, -1) < 0) {
            if (errno == EINTR) continue;
            throw_errno(errno, "poll");
        }
        if (fds[0].revents) handle_signals();
        if (n == 2 && fds[1].revents && read_display_number()) return;
    }
}

// True once the display server wrote its number and a newline.
bool Leader::read_display_number() {
    char buf[64];
    const ssize_t n = read(ready_.get(), buf, sizeof buf);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return false;
        throw_errno(errno, "read(display readiness pipe)");
    }
    if (n == 0) {
        // Usually it died: its exit (SIGCHLD) says how. Otherwise the
        // executor's startup timeout ends this.
        log::warning("The display server closed its readiness pipe without naming a display", fields());
        ready_.reset();
        return false;
    }
    ready_buffer_.append(buf, static_cast<std::size_t>(n));
    const auto nl = ready_buffer_.find('\n');
    if (nl == std::string::npos) {
        if (ready_buffer_.size() > max_display_line)
            end("display server wrote an invalid display number: " + one_line(ready_buffer_), true);
        return false;
    }
    const std::string number = ready_buffer_.substr(0, nl);
    if (number.empty() || number.size() > 9 ||
        !std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; }))
        end("display server wrote an invalid display number: '" + one_line(number) + "'", true);
    if (x11_ && std::stoul(number) != spec_.display_number)
        end("display server reported display :" + number + ", expected " + display_name(), true);
    display_ = ":" + number;
    ready_.reset();
    return true;
}

void Leader::handle_signals() {
    bool children = false, terminate = false;
    int reconnects = 0, terminating_signal = 0;
    signalfd_siginfo si{};
    for (;;) {
        const ssize_t n = read(sigfd_.get(), &si, sizeof si);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            throw_errno(errno, "read(signalfd)");
        }
        if (n != static_cast<ssize_t>(sizeof si)) break;
        switch (si.ssi_signo) {
        case SIGCHLD: children = true; break;
        case SIGUSR1: ++reconnects; break;
        default:
            terminate = true;
            terminating_signal = static_cast<int>(si.ssi_signo);
            break;
        }
    }
    if (terminate) {
        auto f = fields();
        f.push_back({"RSM_SIGNAL", std::string("SIG") + sigabbrev_np(terminating_signal)});
        if (getppid() != executor_)
            log::warning("The executor is gone, ending the session", f);
        else
            log::info(std::string("Received SIG") + sigabbrev_np(terminating_signal) + ", ending the session", f);
        end("terminated", false);
    }
    if (children) reap();
    for (; reconnects > 0; --reconnects) run_reconnect_command();
}

// Collects every exit there is, then acts in order of importance: when the
// display server dies, its clients (the session program) die of it, often
// before the leader wakes up, and the cause is the better reason.
void Leader::reap() {
    std::vector<std::pair<Child, int>> exited;
    for (;;) {
        int status = 0;
        const pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) break;  // 0: nothing more now; -1/ECHILD: no children
        auto it = std::find_if(children_.begin(), children_.end(), [pid](const Child& c) { return c.pid == pid; });
        if (it == children_.end()) continue;
        exited.emplace_back(std::move(*it), status);
        children_.erase(it);
    }
    // Role's order is the priority.
    std::stable_sort(exited.begin(), exited.end(),
                     [](const auto& a, const auto& b) { return a.first.role < b.first.role; });
    for (auto& [child, status] : exited) on_child_exit(std::move(child), status);
}

void Leader::on_child_exit(Child child, int status) {
    std::string how;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        if (auto why = spawn_failure(child.error.get(), child.program)) how = "could not be started: " + *why;
    if (how.empty()) how = describe_wait_status(status);
    const std::string what = std::string(to_string(child.role)) + " " + how;

    auto f = fields(child);
    if (WIFEXITED(status)) f.push_back({"RSM_EXIT_STATUS", std::to_string(WEXITSTATUS(status))});
    if (WIFSIGNALED(status))
        f.push_back({"RSM_EXIT_SIGNAL", std::string("SIG") + sigabbrev_np(WTERMSIG(status))});

    switch (child.role) {
    case Role::display_server:
        log::notice("The " + what, f);
        end(what, true);
    case Role::session_program: {
        const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        log::write(clean ? LOG_INFO : LOG_NOTICE, "The " + what, f);
        // A display server's clients see it die a moment before it is a
        // zombie (the kernel closes its sockets first): give it that moment,
        // its death is the better reason.
        if (!clean)
            if (auto display = display_server_exit_within(display_exit_grace))
                on_child_exit(std::move(display->first), display->second);
        end(what, !clean);
    }
    case Role::reconnect_command:
        // Not the session's business any more: what it left running stays.
        std::erase(groups_, child.pid);
        log::write(WIFEXITED(status) && WEXITSTATUS(status) == 0 ? LOG_INFO : LOG_WARNING, "The " + what, f);
        return;
    }
}

// Reaps the display server if it exits within `grace`.
std::optional<std::pair<Leader::Child, int>> Leader::display_server_exit_within(std::chrono::milliseconds grace) {
    auto it = std::find_if(children_.begin(), children_.end(),
                           [](const Child& c) { return c.role == Role::display_server; });
    if (it == children_.end()) return std::nullopt;
    const pid_t pid = it->pid;
    const auto deadline = Clock::now() + grace;
    for (;;) {
        int status = 0;
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            it = std::find_if(children_.begin(), children_.end(), [pid](const Child& c) { return c.pid == pid; });
            std::pair<Child, int> out{std::move(*it), status};
            children_.erase(it);
            return out;
        }
        if (r < 0 || Clock::now() >= deadline) return std::nullopt;
        const timespec step{0, 20 * 1000 * 1000};
        nanosleep(&step, nullptr);
    }
}

void Leader::run_reconnect_command() {
    if (spec_.reconnect_argv.empty()) {
        log::debug("No reconnect command to run", fields());
        return;
    }
    try {
        spawn(Role::reconnect_command, spec_.reconnect_argv, -1);
    } catch (const std::exception& e) {
        auto f = fields();
        f.push_back({"RSM_ERROR", e.what()});
        log::warning(std::string("Cannot run the reconnect command: ") + e.what(), f);
    }
}

void Leader::reap_quietly() noexcept {
    for (;;) {
        int status = 0;
        const pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) return;
        std::erase_if(children_, [pid](const Child& c) { return c.pid == pid; });
    }
}

// SIGTERM to every process group, up to stop_grace for them to go, then
// SIGKILL. Groups are signalled only while they exist: a pid (and so a group
// id) is not reused while a group member is alive.
void Leader::stop_children() noexcept {
    auto signal_all = [this](int sig) {
        for (pid_t pg : groups_) (void)kill(-pg, sig);
        // A child that has not reached setsid() yet is in the leader's group.
        for (const Child& c : children_) (void)kill(c.pid, sig);
    };
    auto prune = [this] {
        std::erase_if(groups_, [](pid_t pg) { return kill(-pg, 0) < 0 && errno == ESRCH; });
    };
    reap_quietly();
    prune();
    if (children_.empty() && groups_.empty()) return;
    signal_all(SIGTERM);
    signal_all(SIGCONT);  // a stopped process would not see the SIGTERM

    const auto deadline = Clock::now() + stop_grace;
    for (;;) {
        reap_quietly();
        prune();
        if (children_.empty() && groups_.empty()) return;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) break;
        // SIGCHLD wakes us for children; other group members are polled.
        pollfd pfd{sigfd_.get(), POLLIN, 0};
        (void)poll(&pfd, 1, static_cast<int>(std::min(left, std::chrono::milliseconds(group_poll_interval)).count()));
        signalfd_siginfo si{};
        while (read(sigfd_.get(), &si, sizeof si) > 0) {
        }  // nothing but the end matters now
    }
    try {
        log::warning("User processes still running " + std::to_string(stop_grace.count()) + " s after SIGTERM, killing them",
                     fields());
    } catch (...) {
    }
    signal_all(SIGKILL);
    for (const Child& c : children_) (void)waitpid(c.pid, nullptr, 0);
    children_.clear();
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
    // pam_close_session, pam_setcred(PAM_DELETE_CRED), pam_end: what succeeded.
    pam_.end();
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

}  // namespace

// ---------------------------------------------------------------------------
// The executor's side.

std::unique_ptr<SessionLeader> SessionLeader::start(sd_event* event, pam::Handle& pam, LeaderSpec spec,
                                                    Callbacks callbacks) {
    // sd_event_add_child needs SIGCHLD blocked; the executor blocks it, make sure.
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &chld, nullptr) < 0) throw_errno(errno, "sigprocmask(SIGCHLD)");

    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) throw_errno(errno, "pipe2");
    UniqueFd read_end{p[0]}, write_end{p[1]};
    if (fcntl(read_end.get(), F_SETFL, O_NONBLOCK) < 0) throw_errno(errno, "fcntl(O_NONBLOCK)");
    const bool has_reconnect = !spec.reconnect_argv.empty();

    // Everything blocked across fork: a SIGTERM or SIGUSR1 sent to the new
    // pid before the leader set up its signalfd stays pending instead of
    // killing it with the default action.
    sigset_t all, old;
    sigfillset(&all);
    if (sigprocmask(SIG_SETMASK, &all, &old) < 0) throw_errno(errno, "sigprocmask");
    const pid_t executor = getpid();
    const pid_t pid = fork();
    if (pid == 0) {
        read_end.reset();
        Leader leader{pam, std::move(spec), std::move(write_end), executor};
        leader.run();  // never returns
    }
    const int fork_errno = errno;
    (void)sigprocmask(SIG_SETMASK, &old, nullptr);
    if (pid < 0) throw_errno(fork_errno, "fork");
    write_end.reset();
    // The leader owns the PAM transaction now.
    pam.hand_over();

    auto leader = std::make_unique<SessionLeader>(Token{}, pid, std::move(read_end), event, std::move(callbacks));
    leader->has_reconnect_ = has_reconnect;
    sd_event_source* src = nullptr;
    int r = sd_event_add_io(event, &src, leader->status_fd_.get(), EPOLLIN, &SessionLeader::on_status, leader.get());
    if (r >= 0) {
        leader->status_source_.reset(src);
        r = sd_event_add_child(event, &src, pid, WEXITED, &SessionLeader::on_child, leader.get());
        if (r >= 0) leader->child_source_.reset(src);
    }
    if (r < 0) {
        // The leader ends its session on SIGTERM; its zombie is reaped when
        // the executor exits.
        (void)kill(pid, SIGTERM);
        throw_errno(-r, "sd_event_add_io/sd_event_add_child");
    }
    return leader;
}

SessionLeader::SessionLeader(Token, pid_t pid, UniqueFd status, sd_event* event, Callbacks callbacks)
    : pid_{pid}, status_fd_{std::move(status)}, event_{event}, callbacks_{std::move(callbacks)} {}

SessionLeader::~SessionLeader() { *alive_ = false; }

void SessionLeader::terminate() {
    if (!reaped_) (void)kill(pid_, SIGTERM);
}

void SessionLeader::run_reconnect_command() {
    if (!reaped_ && has_reconnect_) (void)kill(pid_, SIGUSR1);
}

bool SessionLeader::read_status() {
    char buf[512];
    for (;;) {
        const ssize_t n = read(status_fd_.get(), buf, sizeof buf);
        if (n > 0) {
            buffer_.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n == 0) return true;
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return false;
        // Cannot happen with a pipe; stop watching rather than spin.
        log::warning(std::string("Cannot read the session leader's status: ") + strerror(errno));
        return true;
    }
}

bool SessionLeader::handle_lines() {
    const auto alive = alive_;
    std::size_t nl;
    while ((nl = buffer_.find('\n')) != std::string::npos) {
        const std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        const std::string_view v{line};
        const auto sp = v.find(' ');
        const std::string_view word = v.substr(0, sp);
        const std::string_view rest = sp == std::string_view::npos ? std::string_view{} : v.substr(sp + 1);
        if (word == ready_word) {
            // <display> <logind session> <cookie hex>
            std::vector<std::string_view> f;
            std::size_t pos = 0;
            while (pos <= rest.size() && f.size() < 3) {
                const auto end = std::min(rest.find(' ', pos), rest.size());
                f.push_back(rest.substr(pos, end - pos));
                pos = end + 1;
            }
            LeaderReady ready;
            if (f.size() != 3 || !xauth::from_hex(unfield(f[2]), ready.xauth_cookie)) {
                log::warning("Malformed line from the session leader: " + line);
                continue;
            }
            ready.display = unfield(f[0]);
            ready.logind_session = unfield(f[1]);
            if (ready_sent_) continue;
            ready_sent_ = true;
            if (callbacks_.on_ready) {
                const auto on_ready = callbacks_.on_ready;  // survives the object
                on_ready(ready);
                if (!*alive) return false;
            }
        } else if (word == exit_word && (rest.starts_with("0 ") || rest.starts_with("1 "))) {
            exit_line_ = true;
            exit_failed_ = rest[0] == '1';
            exit_reason_ = std::string(rest.substr(2));
        } else {
            log::warning("Malformed line from the session leader: " + line);
        }
    }
    return true;
}

int SessionLeader::on_status(sd_event_source*, int, uint32_t, void* userdata) noexcept {
    auto* self = static_cast<SessionLeader*>(userdata);
    try {
        // At EOF the leader is (about to be) gone; on_child finishes.
        if (self->read_status()) self->status_source_.reset();
        self->handle_lines();
    } catch (const std::exception& e) {
        log::error(std::string("Session leader status: ") + e.what());
    }
    return 0;
}

int SessionLeader::on_child(sd_event_source*, const siginfo_t* si, void* userdata) noexcept {
    auto* self = static_cast<SessionLeader*>(userdata);
    try {
        self->reaped_ = true;  // sd-event reaps it after this callback
        // The exit line was written before the leader exited: it is in the pipe.
        self->read_status();
        self->status_source_.reset();
        if (!self->handle_lines()) return 0;
        std::string reason = self->exit_reason_;
        bool failed = self->exit_failed_;
        if (!self->exit_line_) {
            int status = 0;
            if (si->si_code == CLD_EXITED)
                status = W_EXITCODE(si->si_status, 0);
            else
                status = W_EXITCODE(0, si->si_status) | (si->si_code == CLD_DUMPED ? WCOREFLAG : 0);
            reason = "session leader died: " + describe_wait_status(status);
            failed = true;
            log::error("Session leader " + std::to_string(self->pid_) + " died without a report: " +
                       describe_wait_status(status));
        }
        self->child_source_.reset();
        if (self->callbacks_.on_exit) {
            auto on_exit = std::move(self->callbacks_.on_exit);
            on_exit(reason, failed);  // may destroy self
        }
    } catch (const std::exception& e) {
        log::error(std::string("Session leader exit: ") + e.what());
    }
    return 0;
}

}  // namespace rsm::session
