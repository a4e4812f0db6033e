#include "polkit_agent.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/fd.hpp"

namespace rsm::ctl {

namespace {

constexpr const char* polkit_agent_path = "/usr/bin/pkttyagent";

}  // namespace

void PolkitAgent::start() {
    if (pid_ > 0 || access(polkit_agent_path, X_OK) < 0) return;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return;
    UniqueFd readable{fds[0]}, writable{fds[1]};
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) return;
    if (pid == 0) {
        // The agent tells us it is registered by closing this fd.
        (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(EXIT_FAILURE);
        const int notify = dup(writable.get());  // without O_CLOEXEC
        if (notify < 0) _exit(EXIT_FAILURE);
        const std::string fd_arg = std::to_string(notify);
        // Registered for our process rather than for a login session:
        // the password is asked here even where the caller has no logind
        // session (su, nsenter, a container shell).
        const std::string process_arg = std::to_string(parent);
        execl(polkit_agent_path, polkit_agent_path, "--notify-fd", fd_arg.c_str(), "--fallback", "--process",
              process_arg.c_str(), static_cast<char*>(nullptr));
        _exit(EXIT_FAILURE);
    }
    pid_ = pid;
    writable.reset();
    // Wait (boundedly) until the agent has registered with polkit.
    pollfd p{readable.get(), POLLIN, 0};
    (void)poll(&p, 1, 5000);
}

void PolkitAgent::stop() {
    if (pid_ <= 0) return;
    (void)kill(pid_, SIGTERM);
    (void)kill(pid_, SIGCONT);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
}

}  // namespace rsm::ctl
