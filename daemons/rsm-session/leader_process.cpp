#include "leader_process.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <map>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <security/pam_appl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>
#include <utility>
#include <vector>

#include "companion_process.hpp"
#include "user_process.hpp"
#include "util/log.hpp"
#include "xauthority.hpp"

namespace rsm::session::leader {
namespace {

constexpr int leader_signals[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1};
// User processes get this long after SIGTERM before SIGKILL.
constexpr auto stop_grace = std::chrono::seconds(5);
// After SIGKILL only a process stuck in the kernel (state D, a hung NFS
// mount) takes longer: the PAM session is closed anyway, the manager's sweep
// of the cgroups (docs/design-notes.md, "How a session ends") does the rest.
constexpr auto kill_grace = std::chrono::seconds(2);
// Members of a group that are not our children are looked at this often;
// SIGCHLD wakes us for the rest (the leader is their subreaper).
constexpr auto group_poll_interval = std::chrono::milliseconds(100);
// How long a display server gets to exit after SIGTERM when the session
// program died first (then SIGKILL).
constexpr auto display_exit_grace = std::chrono::milliseconds(500);
constexpr std::size_t max_display_line = 32;
// How often the leader looks whether a companion listens yet.
constexpr auto companion_poll_interval = std::chrono::milliseconds(50);

using Clock = std::chrono::steady_clock;

// Reasons go on one line.
std::string one_line(std::string s) {
    std::replace_if(s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    return s;
}

[[noreturn]] void throw_errno(int e, const std::string& what) {
    throw std::system_error(e, std::generic_category(), what);
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

// The display server ended because we asked it to (SIGTERM: X servers exit
// 0), rather than of its own accord.
bool ended_by_us(int status, bool sent_kill) {
    if (WIFEXITED(status)) return WEXITSTATUS(status) == 0;
    return WIFSIGNALED(status) && (WTERMSIG(status) == SIGTERM || (sent_kill && WTERMSIG(status) == SIGKILL));
}

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
    enum class Role { display_server, session_program, reconnect_command, companion };
    struct Child {
        pid_t pid;
        Role role;
        UniqueFd error;  // the spawn error pipe
        std::string program;
    };
    struct Exit {
        Child child;
        int status;
    };

    static const char* to_string(Role r) {
        switch (r) {
        case Role::display_server: return "display server";
        case Role::session_program: return "session program";
        case Role::reconnect_command: return "reconnect command";
        case Role::companion: return "companion";
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
    void spawn(Role role, const std::vector<std::string>& argv, int fd3,
               const std::vector<std::string>* env = nullptr);
    void start_display_server();
    void start_companions();
    void wait_for_companions();
    void wait(bool starting);
    bool read_display_number();
    void handle_signals();
    void reap();
    std::vector<Exit> collect_exits() noexcept;
    void on_child_exit(Child child, int status);
    std::optional<Exit> end_display_server();
    void run_reconnect_command();
    void sleep_until_signal(Clock::time_point deadline) noexcept;
    bool wait_for_groups(Clock::time_point deadline) noexcept;
    void stop_children() noexcept;
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
    pid_t display_pid_ = 0;  // the display server the leader started (0: none)
    std::map<pid_t, std::string> companion_names_;  // running companions
};

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
        start_companions();
        if (!spec_.session_argv.empty()) spawn(Role::session_program, spec_.session_argv, -1);
        wait_for_companions();

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

void Leader::spawn(Role role, const std::vector<std::string>& argv, int fd3, const std::vector<std::string>* env) {
    std::string ident = spec_.syslog_identifier;
    if (ident.empty()) {
        ident = argv.front();
        if (auto slash = ident.rfind('/'); slash != std::string::npos) ident.erase(0, slash + 1);
    }
    SpawnedProcess p = spawn_user_process(SpawnRequest{who_, argv, env ? *env : env_, ident, fd3});
    // Tracked before anything else can throw, so the end stops it.
    groups_.push_back(p.pid);
    children_.push_back(Child{p.pid, role, std::move(p.error), argv.front()});
    log::info(std::string("Started ") + to_string(role) + " " + argv.front(), fields(children_.back()));
}

// Companions (session/companion.hpp) start once the display is ready: they
// are its clients (chansrv opens DISPLAY). One that cannot start is logged
// and left out; the session does not depend on it.
void Leader::start_companions() {
    for (const auto& c : spec_.companions) {
        const auto env = merge_environment(env_, c.environment);
        try {
            spawn(Role::companion, c.argv, -1, &env);
            companion_names_[children_.back().pid] = c.name;
        } catch (const std::exception& e) {
            auto f = fields();
            f.push_back({"RSM_COMPANION", c.name});
            log::warning("Cannot start companion " + c.name + ": " + e.what(), f);
        }
    }
}

// "ready" goes out only when every running companion listens on its ready
// socket (companion::listens_on: asked of /proc, nothing under the path is
// touched), so that a gateway told "ready" finds it answering; or when its
// ready_timeout is over (logged). A companion that exits meanwhile is
// reaped by handle_signals() and no longer waited for. Polled every
// companion_poll_interval: a socket appearing raises no signal we could wait on.
void Leader::wait_for_companions() {
    struct Wait {
        pid_t pid;
        const CompanionCommand* c;
        Clock::time_point deadline;
    };
    std::vector<Wait> waits;
    const auto start = Clock::now();
    for (const auto& [pid, name] : companion_names_)
        for (const auto& c : spec_.companions)
            if (c.name == name && !c.ready_socket.empty())
                waits.push_back({pid, &c, start + std::chrono::microseconds(c.ready_timeout_usec)});
    while (!waits.empty()) {
        std::erase_if(waits, [&](const Wait& w) {
            auto f = fields();
            f.push_back({"RSM_COMPANION", w.c->name});
            f.push_back({"RSM_CHILD_PID", std::to_string(w.pid)});
            if (!std::any_of(children_.begin(), children_.end(), [&](const Child& ch) { return ch.pid == w.pid; }))
                return true;  // exited: on_child_exit logged it
            if (companion::listens_on(w.pid, w.c->ready_socket)) {
                const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
                log::info("Companion " + w.c->name + " listens on " + w.c->ready_socket + " after " +
                              std::to_string(ms) + " ms",
                          f);
                return true;
            }
            if (Clock::now() >= w.deadline) {
                log::warning("Companion " + w.c->name + " does not listen on " + w.c->ready_socket +
                                 " in time; the session is reported ready without it",
                             f);
                return true;
            }
            return false;
        });
        if (waits.empty()) break;
        pollfd pfd{sigfd_.get(), POLLIN, 0};
        if (poll(&pfd, 1, static_cast<int>(companion_poll_interval.count())) > 0) handle_signals();
    }
}

void Leader::start_display_server() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) throw_errno(errno, "pipe2");
    UniqueFd read_end{p[0]}, write_end{p[1]};
    if (fcntl(read_end.get(), F_SETFL, O_NONBLOCK) < 0) throw_errno(errno, "fcntl(O_NONBLOCK)");
    const auto env = merge_environment(env_, spec_.display_env);
    spawn(Role::display_server, spec_.display_argv, write_end.get(), &env);
    // The process that will listen on the display socket (display servers
    // do not fork): the executor checks every connection's peer against it.
    display_pid_ = children_.back().pid;
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

// Every exit there is now, of children we track; orphans we adopted as their
// subreaper are reaped and forgotten.
std::vector<Leader::Exit> Leader::collect_exits() noexcept {
    std::vector<Exit> exited;
    for (;;) {
        int status = 0;
        const pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) break;  // 0: nothing more now; -1/ECHILD: no children
        auto it = std::find_if(children_.begin(), children_.end(), [pid](const Child& c) { return c.pid == pid; });
        if (it == children_.end()) continue;
        exited.push_back(Exit{std::move(*it), status});
        children_.erase(it);
    }
    return exited;
}

// Collects every exit there is, then acts in order of importance: when the
// display server dies, its clients (the session program) die of it, often
// before the leader wakes up, and the cause is the better reason.
void Leader::reap() {
    std::vector<Exit> exited = collect_exits();
    // Role's order is the priority.
    std::stable_sort(exited.begin(), exited.end(),
                     [](const Exit& a, const Exit& b) { return a.child.role < b.child.role; });
    for (auto& e : exited) on_child_exit(std::move(e.child), e.status);
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
        // zombie (the kernel closes its sockets first). So the display
        // server is ended first and waited for, and when it turns out to
        // have died of its own accord, its death is the better reason.
        if (!clean)
            if (auto display = end_display_server()) on_child_exit(std::move(display->child), display->status);
        end(what, !clean);
    }
    case Role::companion:
        // Not restarted (sesman does not either): the session goes on
        // without it; its group is still stopped at the end.
        log::notice("The " + what, f);
        companion_names_.erase(child.pid);
        return;
    case Role::reconnect_command:
        // Not the session's business any more: what it left running stays.
        std::erase(groups_, child.pid);
        log::write(WIFEXITED(status) && WEXITSTATUS(status) == 0 ? LOG_INFO : LOG_WARNING, "The " + what, f);
        return;
    }
}

// Ends the display server (SIGTERM; SIGKILL at display_exit_grace) and waits
// for its exit, reaping (and dropping) other children's exits meanwhile: the
// session is ending. Returns the exit when it died of its own accord (dead
// before we asked, or of something our signals do not cause), else nullopt.
std::optional<Leader::Exit> Leader::end_display_server() {
    auto it = std::find_if(children_.begin(), children_.end(),
                           [](const Child& c) { return c.role == Role::display_server; });
    if (it == children_.end()) return std::nullopt;
    const pid_t pid = it->pid;
    std::optional<Exit> found;
    auto look = [&] {
        for (auto& e : collect_exits())
            if (e.child.pid == pid) found = std::move(e);
        return found.has_value();
    };
    if (look()) return found;
    (void)kill(pid, SIGTERM);
    (void)kill(pid, SIGCONT);
    bool sent_kill = false;
    auto deadline = Clock::now() + display_exit_grace;
    while (!look()) {
        if (Clock::now() < deadline) {
            sleep_until_signal(deadline);
            continue;
        }
        if (sent_kill) {
            log::warning("The display server is still there " + std::to_string(kill_grace.count()) +
                             " s after SIGKILL",
                         fields());
            return std::nullopt;
        }
        log::warning("The display server did not exit within " + std::to_string(display_exit_grace.count()) +
                         " ms of SIGTERM, killing it",
                     fields());
        (void)kill(pid, SIGKILL);
        sent_kill = true;
        deadline = Clock::now() + kill_grace;
    }
    if (ended_by_us(found->status, sent_kill)) return std::nullopt;
    return found;
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

// Waits for a signal (SIGCHLD, mostly) or `deadline`, at most
// group_poll_interval; what arrived is dropped: only the end matters now.
void Leader::sleep_until_signal(Clock::time_point deadline) noexcept {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() > 0) {
        pollfd pfd{sigfd_.get(), POLLIN, 0};
        (void)poll(&pfd, 1, static_cast<int>(std::min(left, group_poll_interval).count()) + 1);
    }
    signalfd_siginfo si{};
    while (read(sigfd_.get(), &si, sizeof si) > 0) {
    }
}

// Reaps and waits until no tracked child and no process of a tracked group
// is left (true), or until `deadline` (false). Groups are looked at only
// while they exist: a pid (and so a group id) is not reused while a group
// member, a zombie included, is alive.
bool Leader::wait_for_groups(Clock::time_point deadline) noexcept {
    for (;;) {
        (void)collect_exits();
        std::erase_if(groups_, [](pid_t pg) { return kill(-pg, 0) < 0 && errno == ESRCH; });
        if (children_.empty() && groups_.empty()) return true;
        if (Clock::now() >= deadline) return false;
        sleep_until_signal(deadline);
    }
}

// SIGTERM to every process group, up to stop_grace for them to go, then
// SIGKILL and up to kill_grace more. Never waits without a deadline.
void Leader::stop_children() noexcept {
    auto signal_all = [this](int sig) {
        for (pid_t pg : groups_) (void)kill(-pg, sig);
        // A child that has not reached setsid() yet is in the leader's group.
        for (const Child& c : children_) (void)kill(c.pid, sig);
    };
    if (wait_for_groups(Clock::now())) return;
    signal_all(SIGTERM);
    signal_all(SIGCONT);  // a stopped process would not see the SIGTERM
    if (wait_for_groups(Clock::now() + stop_grace)) return;
    try {
        log::warning("User processes still running " + std::to_string(stop_grace.count()) + " s after SIGTERM, killing them",
                     fields());
    } catch (...) {
    }
    signal_all(SIGKILL);
    if (wait_for_groups(Clock::now() + kill_grace)) return;
    try {
        log::warning("User processes still there " + std::to_string(kill_grace.count()) +
                         " s after SIGKILL (stuck in the kernel?); closing the session anyway",
                     fields());
    } catch (...) {
    }
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

void run(pam::Handle& pam, LeaderSpec spec, UniqueFd status, pid_t executor) noexcept {
    close_inherited_fds(spec.manager_link_fd, status.get());
    Leader leader{pam, std::move(spec), std::move(status), executor};
    leader.run();
}

}  // namespace rsm::session::leader
