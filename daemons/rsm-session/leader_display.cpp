// The leader's display server: started with its readiness pipe (fd 3) or
// its stderr read for a ready line, waited for, told to listen again after
// it suspended itself (nxagent), and ended (docs/design-notes.md, "How a
// session ends").
#include "leader.hpp"

namespace rsm::session::leader {

void Leader::start_display_server() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) throw_errno(errno, "pipe2");
    UniqueFd read_end{p[0]}, write_end{p[1]};
    if (fcntl(read_end.get(), F_SETFL, O_NONBLOCK) < 0) throw_errno(errno, "fcntl(O_NONBLOCK)");
    const auto env = merge_environment(env_, spec_.display_env);
    // With a ready_line the display number is ours (the server gets no fd 3).
    const bool by_line = !spec_.ready_line.empty();
    if (by_line || !spec_.suspend_line.empty()) {
        std::string ident = spec_.syslog_identifier.empty() ? spec_.display_argv.front() : spec_.syslog_identifier;
        if (auto slash = ident.rfind('/'); slash != std::string::npos) ident.erase(0, slash + 1);
        output_.emplace(
            DisplayOutput::Rules{spec_.ready_line, spec_.suspend_line, spec_.start_line, spec_.resume_line}, ident);
    }
    spawn(Role::display_server, spec_.display_argv, by_line ? -1 : write_end.get(), &env,
          output_ ? output_->write_fd() : -1);
    // The process that will listen on the display socket (display servers
    // do not fork): the executor checks every connection's peer against it.
    display_pid_ = children_.back().pid;
    // Only the display server holds the write end now: EOF means it closed it (or died).
    write_end.reset();
    if (output_) output_->close_write_end();
    if (!by_line) ready_ = std::move(read_end);
}

// Waits for signals, and while `starting` for the display number; returns
// once the display is ready. Ends the session (never returns) on anything else.
void Leader::wait(bool starting) {
    for (;;) {
        pollfd fds[3] = {{sigfd_.get(), POLLIN, 0}, {-1, POLLIN, 0}, {-1, POLLIN, 0}};
        if (starting && ready_) fds[1].fd = ready_.get();
        if (output_ && output_->open()) fds[2].fd = output_->read_fd();  // poll() skips fd -1
        int timeout = -1;
        if (relisten_tries_) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(relisten_due_ - Clock::now()).count();
            timeout = static_cast<int>(std::max<decltype(left)>(left, 0));
        }
        if (poll(fds, 3, timeout) < 0) {
            if (errno == EINTR) continue;
            throw_errno(errno, "poll");
        }
        if (fds[0].revents) handle_signals();
        if (fds[2].fd >= 0 && fds[2].revents && read_display_output() && starting) return;
        if (relisten_tries_ && Clock::now() >= relisten_due_) relisten();
        if (fds[1].fd >= 0 && fds[1].revents && read_display_number()) return;
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

// What the display server wrote on stderr (forwarded to the journal by
// DisplayOutput). True when it just said it is ready. A suspend line is
// answered with SIGHUP: nxagent then listens again for the next client, so
// a ConnectSession finds it ready (docs/nx.md).
//
// nxagent's SIGHUP handler only counts the signal; the count is looked at
// in its wakeup handler, when its select() returns (nx-libs Handlers.c
// nxagentWakeupHandler, Reconnect.c nxagentHandleConnectionStates), and its
// block handler does not look. A suspended nxagent has nothing left to wake
// it (its NX link is gone, its X clients may be idle for hours), so a
// SIGHUP that lands between its wakeup handler and its next select() -- the
// one sent at the suspend line, every time here -- waits for some later
// wakeup (an X client's request, a timer: seconds or hours away). A
// second SIGHUP interrupts that select() and both count as one. So the SIGHUP
// goes out at the line and again every relisten_interval until nxagent
// prints resume_line ("Session: Resuming session": it has acted on it, and
// ignores SIGHUP while it resumes), at most relisten_max_tries times.
// Without a resume_line it goes out once.
bool Leader::read_display_output() {
    const DisplayOutput::Events ev = output_->read_available();
    if (ev.resuming && relisten_tries_) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - suspended_at_).count();
        log::info("The display server resumes, " + std::to_string(ms) + " ms after it suspended, after " +
                      std::to_string(relisten_tries_) + " SIGHUP(s)",
                  fields());
        relisten_tries_ = 0;
    }
    if (ev.ready_lines && relisten_sent_) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - suspended_at_).count();
        log::info("The display server listens again, " + std::to_string(ms) + " ms after it suspended", fields());
        relisten_sent_ = false;
    }
    if (ev.suspended && display_server_running()) {
        log::info("The display server suspended itself (its client went away); SIGHUP makes it listen again",
                  fields());
        suspended_at_ = Clock::now();
        relisten_tries_ = 0;
        relisten();
    }
    if (ev.started && !programs_started_) {
        log::info("The display server printed its start line '" + spec_.start_line +
                      "'; starting the session program",
                  fields());
        start_session_programs();
    }
    if (!ev.ready || !display_.empty()) return false;
    display_ = display_name();
    log::info("The display server printed its ready line '" + spec_.ready_line + "'", fields());
    return true;
}

bool Leader::display_server_running() const {
    return display_pid_ > 0 && std::any_of(children_.begin(), children_.end(), [&](const Child& c) {
               return c.role == Role::display_server && c.pid == display_pid_;
           });
}

// One more SIGHUP to a suspended display server (read_display_output()).
void Leader::relisten() {
    if (!display_server_running()) {
        relisten_tries_ = 0;
        return;
    }
    (void)kill(display_pid_, SIGHUP);
    relisten_sent_ = true;
    ++relisten_tries_;
    if (relisten_tries_ == 1) log::info("Sent SIGHUP to the display server", fields());
    if (spec_.resume_line.empty()) {
        relisten_tries_ = 0;
        return;
    }
    if (relisten_tries_ >= relisten_max_tries) {
        log::warning("The display server did not print its resume line '" + spec_.resume_line + "' after " +
                         std::to_string(relisten_tries_) + " SIGHUPs; giving up",
                     fields());
        relisten_tries_ = 0;
        return;
    }
    relisten_due_ = Clock::now() + relisten_interval;
}

// The display server's own process listening on spec_.display_ready_socket
// (asked of /proc, the path is never touched) is its readiness; polled like
// the companions'. Its death ends the session (handle_signals); one that
// never listens runs into the executor's startup timeout.
void Leader::wait_for_display_socket() {
    const auto start = Clock::now();
    while (!unix_sockets::listens_on(display_pid_, spec_.display_ready_socket)) {
        pollfd pfd{sigfd_.get(), POLLIN, 0};
        if (poll(&pfd, 1, static_cast<int>(companion_poll_interval.count())) > 0) handle_signals();
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    log::info("The display server listens on " + spec_.display_ready_socket + " after " + std::to_string(ms) +
                  " ms",
              fields());
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

}  // namespace rsm::session::leader
