// The leader's children: companions started and waited for, signals
// (SIGCHLD, SIGTERM, SIGUSR1 for the reconnect command), exits reaped in
// order of importance, and at the end every process group the session
// started stopped (docs/design-notes.md, "How a session ends").
#include "leader.hpp"

namespace rsm::session::leader {

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
// socket (unix_sockets::listens_on: asked of /proc, nothing under the path is
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
            if (unix_sockets::listens_on(w.pid, w.c->ready_socket)) {
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

}  // namespace rsm::session::leader
