#include "session_leader.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>
#include <utility>

#include "leader_process.hpp"
#include "user_process.hpp"
#include "util/log.hpp"
#include "xauthority.hpp"

namespace rsm::session {
namespace {

using leader::exit_word;
using leader::opened_word;
using leader::ready_word;
using leader::unfield;

[[noreturn]] void throw_errno(int e, const std::string& what) {
    throw std::system_error(e, std::generic_category(), what);
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
    const uid_t uid = spec.uid;
    const gid_t gid = spec.gid;

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
        leader::run(pam, std::move(spec), std::move(write_end), executor);  // never returns
    }
    const int fork_errno = errno;
    (void)sigprocmask(SIG_SETMASK, &old, nullptr);
    if (pid < 0) throw_errno(fork_errno, "fork");
    write_end.reset();
    // The leader owns the PAM transaction now.
    pam.hand_over();

    auto leader = std::make_unique<SessionLeader>(Token{}, pid, std::move(read_end), event, std::move(callbacks));
    leader->has_reconnect_ = has_reconnect;
    leader->uid_ = uid;
    leader->gid_ = gid;
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
            // <display> <logind session> <cookie hex> <display server pid>
            std::vector<std::string_view> f;
            std::size_t pos = 0;
            while (pos <= rest.size() && f.size() < 4) {
                const auto end = std::min(rest.find(' ', pos), rest.size());
                f.push_back(rest.substr(pos, end - pos));
                pos = end + 1;
            }
            LeaderReady ready;
            const std::string pid_text = f.size() == 4 ? unfield(f[3]) : std::string{"?"};
            const char* pid_end = pid_text.data() + pid_text.size();
            int pid = 0;
            if (f.size() != 4 || !xauth::from_hex(unfield(f[2]), ready.xauth_cookie) ||
                (!pid_text.empty() && (std::from_chars(pid_text.data(), pid_end, pid).ptr != pid_end || pid <= 0))) {
                log::warning("Malformed line from the session leader: " + line);
                continue;
            }
            ready.display_server_pid = static_cast<pid_t>(pid);
            ready.uid = uid_;
            ready.gid = gid_;
            ready.display = unfield(f[0]);
            ready.logind_session = unfield(f[1]);
            if (ready_sent_) continue;
            ready_sent_ = true;
            if (callbacks_.on_ready) {
                const auto on_ready = callbacks_.on_ready;  // survives the object
                on_ready(ready);
                if (!*alive) return false;
            }
        } else if (word == opened_word && !rest.empty() && rest.find(' ') == std::string_view::npos) {
            if (callbacks_.on_opened) {
                const auto on_opened = callbacks_.on_opened;  // survives the object
                on_opened(std::string(rest));
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
