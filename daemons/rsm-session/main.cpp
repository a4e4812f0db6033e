// rsm-session: one executor per login (and, later, per session).
//
// Started by rsm-manager with fd 3 connected to it (a socketpair; the
// manager is the D-Bus server). Serves org.rsm.Executor1 on that link and
// runs PAM here, never in the manager. Exits 0 when the link closes (that
// is how the manager logs a user out) or on SIGTERM/SIGINT, ending the PAM
// transaction on the way out.
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <fcntl.h>
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

// userdata is the link. sd-bus flushes it when the loop exits, and a flush
// waits for the SASL exchange to finish: a peer that never authenticated
// would hold us until sd-bus's auth timeout, so close such a link first.
int on_signal(sd_event_source* s, const struct signalfd_siginfo* si, void* userdata) noexcept {
    rsm::log::info(std::string("Received SIG") + sigabbrev_np(static_cast<int>(si->ssi_signo)) + ", exiting");
    auto* bus = static_cast<sd_bus*>(userdata);
    if (bus && sd_bus_is_ready(bus) <= 0) sd_bus_close(bus);
    return sd_event_exit(sd_event_source_get_event(s), 0);
}

// userdata is the loop: sd-bus has already let go of it when this runs.
int on_disconnected(sd_bus_message*, void* userdata, sd_bus_error*) noexcept {
    rsm::log::debug("Link to the manager closed, exiting");
    return sd_event_exit(static_cast<sd_event*>(userdata), 0);
}

int run() {
    using rsm::bus::check;

    struct stat st {};
    if (fstat(link_fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        rsm::log::error("fd 3 is not a socket: rsm-session is started by rsm-manager");
        return EXIT_FAILURE;
    }
    // Nothing we run (PAM helpers, later the session) may inherit the link.
    check(fcntl(link_fd, F_SETFD, FD_CLOEXEC) < 0 ? -errno : 0, "fcntl(FD_CLOEXEC)");

    // Signals go through the loop; they must be blocked before sd-event takes them.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    check(sigprocmask(SIG_BLOCK, &mask, nullptr) < 0 ? -errno : 0, "sigprocmask");

    sd_event* raw_event = nullptr;
    check(sd_event_new(&raw_event), "sd_event_new");
    rsm::EventPtr event{raw_event};

    rsm::BusPtr bus = rsm::bus::make_client(rsm::UniqueFd{link_fd}, event.get());
    // Our own match instead of sd_bus_set_exit_on_disconnect, which exits
    // with EXIT_FAILURE: a closed link is the normal end here.
    sd_bus_slot* raw_slot = nullptr;
    check(sd_bus_match_signal(bus.get(), &raw_slot, nullptr, nullptr, "org.freedesktop.DBus.Local", "Disconnected",
                              on_disconnected, event.get()),
          "sd_bus_match_signal(Disconnected)");
    rsm::SlotPtr disconnected{raw_slot};

    sd_event_source* raw_src = nullptr;
    check(sd_event_add_signal(event.get(), &raw_src, SIGTERM, on_signal, bus.get()), "sd_event_add_signal(SIGTERM)");
    rsm::EventSourcePtr sigterm{raw_src};
    check(sd_event_add_signal(event.get(), &raw_src, SIGINT, on_signal, bus.get()), "sd_event_add_signal(SIGINT)");
    rsm::EventSourcePtr sigint{raw_src};

    // Declared last, destroyed first: the PAM handle ends while bus and loop still exist.
    rsm::session::Executor executor{bus.get()};
    rsm::log::debug("rsm-session " RSM_VERSION " serving the executor link");

    return check(sd_event_loop(event.get()), "sd_event_loop");
}

}  // namespace

int main() {
    try {
        return run();
    } catch (const std::exception& e) {
        rsm::log::error(std::string("rsm-session failed: ") + e.what());
        return EXIT_FAILURE;
    }
}
