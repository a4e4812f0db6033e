#include "agent_query.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "broker/agent_output.hpp"
#include "broker/authkey.hpp"

namespace rsm::broker {

namespace {

constexpr std::size_t max_stderr = 4096;

std::string agent_key_path(const BrokerConfig& c) {
    if (!c.agent_key.empty()) return c.agent_key;
    const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
    return dir && *dir ? std::string(dir) + "/agent_key" : std::string();
}

std::string first_line(const std::string& s) {
    std::string l = s.substr(0, s.find('\n'));
    for (char& c : l)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return l.substr(0, 200);
}

}  // namespace

std::vector<std::string> AgentQuery::command_line(const BrokerConfig& c, const AgentTarget& t, const std::string& user,
                                                  const std::vector<std::string>& args) {
    std::string remote = c.agent_command + " " + user;
    for (const auto& a : args) remote += " " + agent_shell_word(a);
    const unsigned connect_sec = std::max(1u, c.agent_timeout_ms / 1000);
    return {c.ssh_program, "-F", "none", "-T", "-x", "-a",
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", "UserKnownHostsFile=" + c.known_hosts, "-o", "GlobalKnownHostsFile=none",
            "-o", "UpdateHostKeys=no", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
            "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no",
            "-o", "ConnectTimeout=" + std::to_string(connect_sec), "-o", "LogLevel=ERROR",
            "-i", agent_key_path(c), "-p", std::to_string(t.port), "-l", c.agent_user, "--", t.address, remote};
}

AgentQuery::AgentQuery(sd_event* event, const BrokerConfig& config, AgentTarget target, std::string user,
                       std::vector<std::string> args, Done done)
    : event_{event}, config_{config}, target_{std::move(target)}, user_{std::move(user)}, args_{std::move(args)},
      done_{std::move(done)} {
    sd_event_source* s = nullptr;
    if (const int r = sd_event_add_defer(event_, &s, &AgentQuery::on_start, this); r < 0)
        throw std::runtime_error(std::string("sd_event_add_defer: ") + std::strerror(-r));
    start_.reset(s);
    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

AgentQuery::~AgentQuery() { kill_child(); }

void AgentQuery::kill_child() {
    out_io_.reset();
    err_io_.reset();
    exit_io_.reset();
    deadline_.reset();
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        // Bounded: a killed child is reaped as soon as the kernel has ended it.
        while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
    }
}

int AgentQuery::on_start(sd_event_source*, void* self) {
    static_cast<AgentQuery*>(self)->start();
    return 0;
}

void AgentQuery::start() {
    if (!valid_agent_user(user_)) return fail("invalid user name for the agent");
    for (const auto& a : args_)
        if (!valid_session_name(a) && !valid_authorized_key_line(a) && !valid_authorized_keys_path(a))
            return fail("invalid agent argument");
    if (agent_key_path(config_).empty()) return fail("no agent key: set [hosts] agent_key or LoadCredential=agent_key:…");
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) < 0) return fail(std::string("pipe2: ") + std::strerror(errno));
    UniqueFd out_r{out[0]}, out_w{out[1]};
    if (::pipe2(err, O_CLOEXEC) < 0) return fail(std::string("pipe2: ") + std::strerror(errno));
    UniqueFd err_r{err[0]}, err_w{err[1]};
    ::fcntl(out_r.get(), F_SETFL, O_NONBLOCK);
    ::fcntl(err_r.get(), F_SETFL, O_NONBLOCK);

    const auto argv_s = command_line(config_, target_, user_, args_);
    std::vector<char*> argv;
    for (const auto& a : argv_s) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    char path_env[] = "PATH=/usr/bin:/bin";
    char lc_env[] = "LC_ALL=C";
    char* envp[] = {path_env, lc_env, nullptr};

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
    posix_spawn_file_actions_adddup2(&fa, err_w.get(), 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);  // the loop blocks signals; ssh must not inherit that
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    const int r = ::posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (r != 0) return fail(std::string("cannot run ssh: ") + std::strerror(r));
    pid_ = pid;
    out_w.reset();
    err_w.reset();

    pidfd_ = UniqueFd{static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0))};
    if (!pidfd_) return fail(std::string("pidfd_open: ") + std::strerror(errno));
    sd_event_source* s = nullptr;
    out_fd_ = std::move(out_r);
    err_fd_ = std::move(err_r);
    if (sd_event_add_io(event_, &s, out_fd_.get(), EPOLLIN, &AgentQuery::on_stdout, this) < 0) return fail("sd_event_add_io");
    out_io_.reset(s);
    out_open_ = true;
    if (sd_event_add_io(event_, &s, err_fd_.get(), EPOLLIN, &AgentQuery::on_stderr, this) < 0) return fail("sd_event_add_io");
    err_io_.reset(s);
    err_open_ = true;
    if (sd_event_add_io(event_, &s, pidfd_.get(), EPOLLIN, &AgentQuery::on_exit, this) < 0) return fail("sd_event_add_io");
    exit_io_.reset(s);
    std::uint64_t now = 0;
    sd_event_now(event_, CLOCK_MONOTONIC, &now);
    if (sd_event_add_time(event_, &s, CLOCK_MONOTONIC, now + std::uint64_t{config_.agent_timeout_ms} * 1000, 0,
                          &AgentQuery::on_deadline, this) < 0)
        return fail("sd_event_add_time");
    deadline_.reset(s);
}

// Reads what is there; false when the output is over its bound.
bool AgentQuery::drain(int fd, std::string& into, std::size_t limit, bool& open) {
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            if (into.size() + static_cast<std::size_t>(n) > limit) return false;
            into.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return true;
        open = false;  // EOF or error
        return true;
    }
}

int AgentQuery::on_stdout(sd_event_source*, int fd, std::uint32_t, void* self) {
    auto* q = static_cast<AgentQuery*>(self);
    if (!q->drain(fd, q->out_, max_agent_output, q->out_open_)) {
        q->fail("the agent's output is longer than 64 KiB");
        return 0;
    }
    if (!q->out_open_) q->out_io_.reset();
    q->maybe_finish();
    return 0;
}

int AgentQuery::on_stderr(sd_event_source*, int fd, std::uint32_t, void* self) {
    auto* q = static_cast<AgentQuery*>(self);
    std::string more;
    bool open = true;
    const bool fits = q->drain(fd, more, 65536, open);
    if (q->err_.size() < max_stderr) q->err_ += more.substr(0, max_stderr - q->err_.size());
    if (!fits) open = false;  // keep what fits; the rest is noise
    q->err_open_ = open;
    if (!open) q->err_io_.reset();
    q->maybe_finish();
    return 0;
}

int AgentQuery::on_exit(sd_event_source*, int, std::uint32_t, void* self) {
    auto* q = static_cast<AgentQuery*>(self);
    int status = 0;
    if (::waitpid(q->pid_, &status, WNOHANG) == q->pid_) {
        q->pid_ = -1;
        q->exited_ = true;
        q->status_ = status;
        q->exit_io_.reset();
    }
    q->maybe_finish();
    return 0;
}

int AgentQuery::on_deadline(sd_event_source*, std::uint64_t, void* self) {
    auto* q = static_cast<AgentQuery*>(self);
    q->fail("no answer within " + std::to_string(q->config_.agent_timeout_ms) + " ms");
    return 0;
}

void AgentQuery::maybe_finish() {
    if (!exited_ || out_open_ || err_open_) return;
    deadline_.reset();
    if (!WIFEXITED(status_) || WEXITSTATUS(status_) != 0) {
        const std::string how = WIFEXITED(status_) ? "exited with status " + std::to_string(WEXITSTATUS(status_))
                                                   : "was killed by signal " + std::to_string(WTERMSIG(status_));
        return fail("ssh " + how + (err_.empty() ? "" : ": " + first_line(err_)));
    }
    if (auto d = std::exchange(done_, nullptr)) d(std::move(out_), {});
}

void AgentQuery::fail(std::string why) {
    kill_child();
    if (auto d = std::exchange(done_, nullptr)) d(std::nullopt, std::move(why));
}

}  // namespace rsm::broker
