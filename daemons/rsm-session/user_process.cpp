#include "user_process.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <system_error>
#include <systemd/sd-journal.h>
#include <unistd.h>

extern char** environ;

namespace rsm::session {
namespace {

// What the child reports on the error pipe before it exits 127.
enum class Step : std::int32_t { signals, setsid, initgroups, setgid, setuid, keeps_root, devnull, fds, exec };

struct ErrorRecord {
    std::int32_t step;
    std::int32_t error;
};

constexpr int first_spare_fd = 10;  // fds are moved up here before they are put in place

std::string describe_step(Step step, const std::string& program) {
    switch (step) {
    case Step::signals: return "resetting signals";
    case Step::setsid: return "setsid";
    case Step::initgroups: return "initgroups";
    case Step::setgid: return "setgid";
    case Step::setuid: return "setuid";
    case Step::keeps_root: return "dropping privileges (setuid(0) still works)";
    case Step::devnull: return "opening /dev/null";
    case Step::fds: return "setting up file descriptors";
    case Step::exec: return "execvp(" + program + ")";
    }
    return "starting";
}

// In the child after fork: only syscalls and what was prepared before fork.
// (The leader is single-threaded, so the child may allocate.)
[[noreturn]] void fail_child(int error_fd, Step step, int error, const char* program) noexcept {
    const ErrorRecord rec{static_cast<std::int32_t>(step), error};
    (void)!::write(error_fd, &rec, sizeof rec);
    // stderr is the journal stream once set up, the leader's stderr before.
    try {
        const std::string what = describe_step(step, program);
        dprintf(STDERR_FILENO, "rsm-session: cannot start %s: %s: %s\n", program, what.c_str(), strerror(error));
    } catch (...) {
    }
    _exit(127);
}

[[noreturn]] void run_child(const SpawnRequest& r, char* const* argv, char* const* envp, int error_fd) noexcept {
    auto fail = [&](Step step, int error) { fail_child(error_fd, step, error, argv[0]); };
    // Default dispositions (the leader ignores SIGPIPE) and nothing blocked
    // (the leader blocks the signals it waits for). Fork cleared pending signals.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) (void)sigaction(sig, &dfl, nullptr);  // fails for KILL/STOP/glibc's own: fine
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, nullptr) < 0) fail(Step::signals, errno);

    // Its own session and process group: the leader signals the group.
    if (setsid() < 0) fail(Step::setsid, errno);

    const UserIdentity& who = r.who;
    if (initgroups(who.user.c_str(), who.gid) < 0) fail(Step::initgroups, errno);
    if (setgid(who.gid) < 0) fail(Step::setgid, errno);
    if (setuid(who.uid) < 0) fail(Step::setuid, errno);
    if (getuid() != who.uid || geteuid() != who.uid || getgid() != who.gid || getegid() != who.gid)
        fail(Step::keeps_root, EPERM);
    if (who.uid != 0 && setuid(0) == 0) fail(Step::keeps_root, EPERM);

    if (who.home.empty() || chdir(who.home.c_str()) < 0) (void)!chdir("/");

    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (null_fd < 0) fail(Step::devnull, errno);
    // Connected as the user, so the journal records the user's uid for these lines.
    int log_fd = sd_journal_stream_fd(r.journal_identifier.c_str(), LOG_INFO, 0);
    if (log_fd < 0) log_fd = null_fd;

    // Move everything above the target numbers first, so no dup2 below
    // overwrites a descriptor that is still to be placed.
    const int hi_null = fcntl(null_fd, F_DUPFD_CLOEXEC, first_spare_fd);
    const int hi_log = fcntl(log_fd, F_DUPFD_CLOEXEC, first_spare_fd);
    const int hi_fd3 = r.fd3 >= 0 ? fcntl(r.fd3, F_DUPFD_CLOEXEC, first_spare_fd) : -1;
    const int hi_error = fcntl(error_fd, F_DUPFD_CLOEXEC, first_spare_fd);
    const int hi_err = r.stderr_fd >= 0 ? fcntl(r.stderr_fd, F_DUPFD_CLOEXEC, first_spare_fd) : hi_log;
    if (hi_null < 0 || hi_log < 0 || (r.fd3 >= 0 && hi_fd3 < 0) || hi_error < 0 || hi_err < 0)
        fail(Step::fds, errno);
    error_fd = hi_error;
    // dup2 clears FD_CLOEXEC on the target.
    if (dup2(hi_null, STDIN_FILENO) < 0 || dup2(hi_log, STDOUT_FILENO) < 0 || dup2(hi_err, STDERR_FILENO) < 0)
        fail(Step::fds, errno);
    if (hi_fd3 >= 0 && dup2(hi_fd3, 3) < 0) fail(Step::fds, errno);
    // Everything else goes, except the error pipe (CLOEXEC: exec closes it).
    const unsigned first = hi_fd3 >= 0 ? 4 : 3;
    const auto err = static_cast<unsigned>(error_fd);
    if ((err > first && close_range(first, err - 1, 0) < 0) || close_range(err + 1, ~0U, 0) < 0)
        fail(Step::fds, errno);

    // execvp looks argv[0] up in the PATH of `environ`.
    environ = const_cast<char**>(envp);
    execvp(argv[0], argv);
    fail_child(error_fd, Step::exec, errno, argv[0]);
}

std::vector<char*> c_strings(const std::vector<std::string>& v) {
    std::vector<char*> out;
    out.reserve(v.size() + 1);
    for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
    out.push_back(nullptr);
    return out;
}

}  // namespace

SpawnedProcess spawn_user_process(const SpawnRequest& request) {
    if (request.argv.empty()) throw std::invalid_argument("spawn_user_process: empty argv");
    // Everything the child needs is built before fork.
    const auto argv = c_strings(request.argv);
    const auto envp = c_strings(request.env);

    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    UniqueFd error_read{p[0]}, error_write{p[1]};

    const pid_t pid = fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) run_child(request, argv.data(), envp.data(), error_write.get());

    error_write.reset();
    if (fcntl(error_read.get(), F_SETFL, O_NONBLOCK) < 0)
        throw std::system_error(errno, std::generic_category(), "fcntl(O_NONBLOCK)");
    return SpawnedProcess{pid, std::move(error_read)};
}

std::optional<std::string> spawn_failure(int error_fd, const std::string& program) {
    if (error_fd < 0) return std::nullopt;
    ErrorRecord rec{};
    ssize_t n;
    do n = ::read(error_fd, &rec, sizeof rec);
    while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(sizeof rec)) return std::nullopt;
    return describe_step(static_cast<Step>(rec.step), program) + ": " + strerror(rec.error);
}

void reset_login_limits() noexcept {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > login_nofile_soft_limit) {
        rl.rlim_cur = std::min<rlim_t>(login_nofile_soft_limit, rl.rlim_max);
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    try {
        // /etc/login.defs is root's: not a path a user can influence.
        std::ifstream in{"/etc/login.defs"};
        std::stringstream text;
        text << in.rdbuf();
        umask(login_defs_umask(text.str()));
    } catch (...) {
        umask(022);
    }
}

mode_t login_defs_umask(const std::string& login_defs_text, mode_t fallback) {
    std::istringstream in{login_defs_text};
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words{line};
        std::string key, value;
        if (!(words >> key >> value) || key != "UMASK") continue;
        // An octal number (login.defs writes "022" or "0022").
        mode_t mask = 0;
        bool ok = !value.empty() && value.size() <= 4;
        for (char c : value) {
            if (c < '0' || c > '7') ok = false;
            mask = static_cast<mode_t>(mask * 8 + static_cast<mode_t>(c - '0'));
        }
        return ok ? (mask & 0777) : fallback;
    }
    return fallback;
}

std::string describe_wait_status(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        const char* name = sigabbrev_np(WTERMSIG(status));
        std::string s = "killed by signal " + (name ? "SIG" + std::string(name) : std::to_string(WTERMSIG(status)));
        if (WCOREDUMP(status)) s += " (core dumped)";
        return s;
    }
    return "ended with wait status " + std::to_string(status);
}

}  // namespace rsm::session
