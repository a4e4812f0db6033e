// Starting a process as the session's user, from the (root) session leader.
//
// The child becomes a session and process-group leader (setsid), takes the
// user's groups, gid and uid (and checks it cannot get root back), changes to
// the home directory (else /), gets exactly the environment given, default
// signal dispositions and an empty signal mask, stdin from /dev/null,
// stdout/stderr to the journal (sd_journal_stream_fd; /dev/null without a
// journal), optionally a readiness pipe on fd 3, and no other descriptor.
// A failure before or at exec is reported precisely through a CLOEXEC error
// pipe (the step and errno), and the child exits 127.
#pragma once

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "util/fd.hpp"

namespace rsm::session {

struct UserIdentity {
    uid_t uid = 0;
    gid_t gid = 0;
    std::string user;
    std::string home;
};

struct SpawnRequest {
    const UserIdentity& who;
    const std::vector<std::string>& argv;  // argv[0] is looked up in the environment's PATH
    const std::vector<std::string>& env;   // "NAME=value"
    std::string journal_identifier;        // SYSLOG_IDENTIFIER of its stdout/stderr
    int fd3 = -1;                          // becomes fd 3 in the child when >= 0
    int stderr_fd = -1;                    // the child's stderr when >= 0 (else the journal, as stdout)
};

struct SpawnedProcess {
    pid_t pid = -1;
    // Read end of the error pipe (non-blocking): empty at EOF when exec
    // succeeded; see spawn_failure().
    UniqueFd error;
};

// Forks and starts the process. Throws std::system_error if fork or the
// error pipe fail. Must be called from a single-threaded process.
SpawnedProcess spawn_user_process(const SpawnRequest& request);

// After the child exited: why it could not be started ("execvp(Xvfb): No such
// file or directory", "setuid(1001): Operation not permitted"), or nullopt
// if it got as far as exec. Reads the error pipe without blocking.
std::optional<std::string> spawn_failure(int error_fd, const std::string& program);

// What a login starts from, set in the (root) session leader before
// pam_open_session, so that pam_limits (limits.conf) and pam_umask, when the
// stack has them, still decide: the soft RLIMIT_NOFILE back to 1024 (never
// above the hard limit, which stays; the manager raised its soft limit for
// epoll, and select()-based programs break above 1024, which is why systemd
// does the same for its children), and the umask from UMASK in
// /etc/login.defs (022 without one). Never throws.
void reset_login_limits() noexcept;
inline constexpr unsigned long login_nofile_soft_limit = 1024;

// UMASK from a login.defs text ("UMASK 027"); `fallback` when it has none or
// an invalid one.
mode_t login_defs_umask(const std::string& login_defs_text, mode_t fallback = 022);

// "exited with status 1", "killed by signal SIGKILL", "killed by signal SIGSEGV (core dumped)".
std::string describe_wait_status(int status);

}  // namespace rsm::session
