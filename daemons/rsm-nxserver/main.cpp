// rsm-nxserver: the nxserver an NX client speaks to over SSH (issue #15,
// docs/nx.md). It runs with the client's stream on stdin/stdout: as the
// login shell (or ForceCommand) of the `nx` account, whose password is
// public as NoMachine's and Neatx's is, or run directly by tests. The
// dialogue (dialogue.*) logs the user in through rsm as a trusted gateway
// (the `nx` account is in group rsm-gateway), lists, starts, restores and
// terminates the user's nxagent sessions, and after "bye" the stream is
// relayed to the session's nxagent through ConnectSession's fd
// (stream_relay.*), in this process: no netcat.
//
// Bad input never hangs it: lines are bounded (nx_protocol's LineReader),
// input that piles up while rsm answers is bounded, and the whole dialogue
// has a deadline (--timeout). Nothing goes to stdout but the dialogue:
// logs go to the journal (stderr only when there is none).
//
//   rsm-nxserver [--socket PATH] [--timeout SECONDS]
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <string>
#include <string_view>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <systemd/sd-event.h>
#include <termios.h>
#include <unistd.h>

#include "dialogue.hpp"
#include "nx_protocol.hpp"
#include "rsm_link.hpp"
#include "stream_relay.hpp"
#include "util/handles.hpp"
#include "util/log.hpp"

namespace rsm::nx {
namespace {

constexpr std::size_t max_pending_input = 64 * 1024;  // lines held back while rsm answers

// The SSH client's address: the first word of SSH_CONNECTION, if it is an
// address ("" when run locally).
std::string ssh_client_address() {
    const char* c = std::getenv("SSH_CONNECTION");
    if (!c) return {};
    const std::string_view s{c};
    const std::string addr{s.substr(0, s.find(' '))};
    unsigned char buf[16];
    if (inet_pton(AF_INET, addr.c_str(), buf) == 1 || inet_pton(AF_INET6, addr.c_str(), buf) == 1) return addr;
    return {};
}

class Server {
public:
    Server(sd_event* event, std::string socket, std::uint64_t timeout_usec, Dialogue::Settings settings)
        : event_{event}, dialogue_{settings}, link_{event, std::move(socket)}, address_{ssh_client_address()} {
        sd_event_source* s = nullptr;
        if (sd_event_add_io(event_, &s, STDIN_FILENO, EPOLLIN, &Server::on_input, this) < 0)
            throw std::runtime_error("stdin cannot be watched");
        in_.reset(s);
        if (sd_event_add_io(event_, &s, STDOUT_FILENO, 0, &Server::on_output, this) < 0)
            throw std::runtime_error("stdout cannot be watched");
        out_.reset(s);
        std::uint64_t now = 0;
        sd_event_now(event_, CLOCK_MONOTONIC, &now);
        if (sd_event_add_time(event_, &s, CLOCK_MONOTONIC, now + timeout_usec, 0, &Server::on_deadline, this) < 0)
            throw std::runtime_error("no timer");
        deadline_.reset(s);
        send(dialogue_.greeting());
    }

    int exit_code = 0;

private:
    static int on_input(sd_event_source*, int, std::uint32_t, void* self) {
        static_cast<Server*>(self)->read_input();
        return 0;
    }
    static int on_output(sd_event_source*, int, std::uint32_t, void* self) {
        static_cast<Server*>(self)->flush();
        return 0;
    }
    static int on_deadline(sd_event_source*, std::uint64_t, void* self) {
        auto* s = static_cast<Server*>(self);
        log::notice("NX dialogue deadline passed", {{"RSM_USER", s->dialogue_.user()}});
        s->send(reply(500, "Error: the dialogue took too long") + reply(999, "Bye."));
        s->quit(1);
        return 0;
    }

    void read_input() {
        char buf[4096];
        const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n <= 0) {
            // The client went: nothing more to say to it.
            in_.reset();
            return finish(0);
        }
        if (!reader_.feed({buf, static_cast<std::size_t>(n)})) {
            send(reply(500, "Error: line too long") + reply(999, "Bye."));
            return quit(1);
        }
        pump();
    }

    void pump() {
        while (!quitting_ && !dialogue_.busy()) {
            auto line = reader_.next();
            if (!line) break;
            handle(dialogue_.on_line(*line));
            explicit_bzero(line->data(), line->size());  // it may have been the password
        }
        // While rsm answers, lines wait in the reader, within a bound.
        if (in_) sd_event_source_set_enabled(in_.get(), reader_.buffered() < max_pending_input ? SD_EVENT_ON : SD_EVENT_OFF);
    }

    void handle(Output out) {
        send(out.text);
        if (out.quit) {
            relay_ = out.relay;
            return quit(0);
        }
        switch (out.request.kind) {
        case RequestKind::none: return;
        case RequestKind::login:
            user_ = out.request.user;
            link_.login(out.request.user, std::move(out.request.password), address_,
                        [this](Dialogue::LoginResult r, std::string error) {
                            if (r == Dialogue::LoginResult::ok)
                                log::info("NX login", {{"RSM_USER", user_}, {"RSM_CLIENT_ADDRESS", address_}});
                            else
                                log::notice("NX login refused", {{"RSM_USER", user_}, {"RSM_ERROR", error}});
                            answered(dialogue_.on_login(r));
                        });
            explicit_bzero(out.request.password.data(), out.request.password.size());
            return;
        case RequestKind::list:
            link_.list([this](bool ok, std::vector<SessionRow> rows, std::string error) {
                answered(ok ? dialogue_.on_list(rows) : dialogue_.on_failure(failed(error)));
            });
            return;
        case RequestKind::start:
            link_.start(out.request.width, out.request.height, [this](Connected c) { connected(std::move(c)); });
            return;
        case RequestKind::restore:
            link_.restore(out.request.session_id, [this](Connected c) { connected(std::move(c)); });
            return;
        case RequestKind::shadow:
            link_.shadow(out.request.session_id, [this](Connected c) { connected(std::move(c)); });
            return;
        case RequestKind::terminate: {
            const std::string id = out.request.session_id;
            link_.terminate(id, [this, id](bool ok, std::string error) {
                if (ok) log::info("NX session terminated", {{"RSM_USER", user_}, {"RSM_SESSION_ID", id}});
                answered(ok ? dialogue_.on_terminated(id) : dialogue_.on_failure(failed(error)));
            });
            return;
        }
        }
    }

    std::string failed(const std::string& error) {
        log::notice("NX request failed", {{"RSM_USER", user_}, {"RSM_ERROR", error}});
        return error;
    }

    void connected(Connected c) {
        if (!c.ok) return answered(dialogue_.on_failure(failed(c.error)));
        log::info("NX session ready", {{"RSM_USER", user_}, {"RSM_SESSION_ID", c.info.id},
                                       {"RSM_DISPLAY", ":" + std::to_string(c.info.display)}});
        session_id_ = c.info.id;
        display_ = std::move(c.display);
        control_ = std::move(c.control);
        answered(dialogue_.on_session(c.info));
    }

    void answered(Output out) {
        handle(std::move(out));
        pump();
    }

    void send(std::string_view text) {
        if (output_.size() + text.size() > 1024 * 1024) return quit(1);  // a client that never reads
        output_ += text;
        flush();
    }

    void flush() {
        while (!output_.empty()) {
            const ssize_t n = ::write(STDOUT_FILENO, output_.data(), output_.size());
            if (n > 0) {
                output_.erase(0, static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
            out_.reset();
            return finish(1);
        }
        if (out_) sd_event_source_set_io_events(out_.get(), output_.empty() ? 0u : static_cast<std::uint32_t>(EPOLLOUT));
        if (output_.empty() && quitting_) after_dialogue();
    }

    void quit(int code) {
        if (quitting_) return;
        quitting_ = true;
        exit_code = code;
        in_.reset();
        deadline_.reset();
        flush();
    }

    // Everything said: the relay, or the end.
    void after_dialogue() {
        if (relay_started_) return;
        relay_started_ = true;
        out_.reset();
        if (!relay_ || !display_) return finish(exit_code);
        log::info("NX client connected to its session", {{"RSM_USER", user_}, {"RSM_SESSION_ID", session_id_}});
        relay_obj_ = std::make_unique<StreamRelay>(event_, STDIN_FILENO, STDOUT_FILENO, display_.get(),
                                                   reader_.take_rest(), [this](std::string why) {
                                                       log::info("NX client disconnected from its session",
                                                                 {{"RSM_USER", user_}, {"RSM_SESSION_ID", session_id_},
                                                                  {"RSM_REASON", why}});
                                                       finish(0);
                                                   });
    }

    void finish(int code) {
        exit_code = code;
        sd_event_exit(event_, code);
    }

    sd_event* event_;
    Dialogue dialogue_;
    RsmLink link_;
    std::string address_, user_, session_id_;
    LineReader reader_;
    std::string output_;
    EventSourcePtr in_, out_, deadline_;
    bool quitting_ = false, relay_ = false, relay_started_ = false;
    UniqueFd display_, control_;  // control_ stays open while the relay runs
    std::unique_ptr<StreamRelay> relay_obj_;
};

// Under sshd, stderr is the SSH channel's: the client would read rsm-nxserver's
// diagnostics. Send them to the journal instead (a journal stream as stderr,
// named in JOURNAL_STREAM so util/log writes structured entries), as
// "rsm-nxserver" also when run as a login shell ("-rsm-nxserver").
void log_to_journal(char* argv0) {
    if (argv0 && argv0[0] == '-') program_invocation_short_name = argv0 + 1;
    const int fd = sd_journal_stream_fd(program_invocation_short_name, LOG_INFO, 0);
    if (fd < 0) return;  // no journal (a test outside systemd): stderr stays
    struct stat st {};
    if (fstat(fd, &st) == 0 && dup2(fd, STDERR_FILENO) == STDERR_FILENO) {
        const std::string stream = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
        setenv("JOURNAL_STREAM", stream.c_str(), 1);
    }
    close(fd);
}

bool nonblocking(int fd) {
    const int flags = fcntl(fd, F_GETFL);
    return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

}  // namespace
}  // namespace rsm::nx

int main(int argc, char** argv) {
    using namespace rsm;
    nx::log_to_journal(argc > 0 ? argv[0] : nullptr);
    std::string socket = "/run/rsm/gateway.sock";
    unsigned long timeout = 120;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--socket" && i + 1 < argc) {
            socket = argv[++i];
        } else if (a == "--timeout" && i + 1 < argc) {
            char* end = nullptr;
            timeout = std::strtoul(argv[++i], &end, 10);
            if (*end || timeout == 0 || timeout > 3600) {
                std::fprintf(stderr, "rsm-nxserver: --timeout takes 1..3600 seconds\n");
                return 2;
            }
        } else if (a == "-c") {
            // Run as a login shell with a command (ssh nx@host CMD): the
            // command is ignored; this account runs nothing else.
            ++i;
        } else {
            std::fprintf(stderr, "usage: rsm-nxserver [--socket PATH] [--timeout SECONDS]\n");
            return 2;
        }
    }
    if (!nx::nonblocking(STDIN_FILENO) || !nx::nonblocking(STDOUT_FILENO)) {
        std::fprintf(stderr, "rsm-nxserver: stdin/stdout: %s\n", std::strerror(errno));
        return 1;
    }
    // On a terminal the password must not echo (NX clients use no pty).
    termios saved{};
    const bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (tty) {
        termios t = saved;
        t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        tcsetattr(STDIN_FILENO, TCSANOW, &t);
    }
    signal(SIGPIPE, SIG_IGN);
    sd_event* e = nullptr;
    if (sd_event_default(&e) < 0) return 1;
    EventPtr event{e};
    char host[256] = {};
    nx::Dialogue::Settings settings;
    if (gethostname(host, sizeof host - 1) == 0) settings.host_name = host;
    int code = 1;
    try {
        nx::Server server{e, socket, timeout * 1'000'000ull, settings};
        const int r = sd_event_loop(e);
        code = r < 0 ? 1 : server.exit_code;
    } catch (const std::exception& ex) {
        log::error(std::string{"rsm-nxserver: "} + ex.what());
    }
    if (tty) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    return code;
}
