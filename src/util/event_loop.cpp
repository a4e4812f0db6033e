#include "util/event_loop.hpp"

#include <csignal>
#include <cstring>
#include <stdexcept>
#include <sys/socket.h>
#include <system_error>
#include <systemd/sd-daemon.h>

#include "util/log.hpp"

namespace rsm {

namespace {
void check(int r, const char* what) {
    if (r < 0) throw std::system_error(-r, std::generic_category(), what);
}
}  // namespace

EventPtr loop_ended_by_signals() {
    std::signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    check(sigprocmask(SIG_BLOCK, &mask, nullptr) < 0 ? -errno : 0, "sigprocmask");
    sd_event* e = nullptr;
    check(sd_event_default(&e), "sd_event_default");
    EventPtr event{e};
    // A nullptr handler makes the loop exit on the signal.
    check(sd_event_add_signal(e, nullptr, SIGTERM, nullptr, nullptr), "sd_event_add_signal(SIGTERM)");
    check(sd_event_add_signal(e, nullptr, SIGINT, nullptr, nullptr), "sd_event_add_signal(SIGINT)");
    return event;
}

std::vector<UniqueFd> passed_listeners(const std::string& unit) {
    const int n = sd_listen_fds(1);
    if (n <= 0) throw std::runtime_error("socket-activated: no listening sockets passed (" + unit + ")");
    std::vector<UniqueFd> fds;
    for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; ++fd) fds.emplace_back(fd);
    for (const auto& fd : fds)
        if (sd_is_socket(fd.get(), AF_UNSPEC, SOCK_STREAM, 1) <= 0)
            throw std::runtime_error("passed fd " + std::to_string(fd.get()) + " is not a listening stream socket");
    return fds;
}

int serve_until_signal(sd_event* event, const std::string& status) {
    sd_notify(0, ("READY=1\nSTATUS=" + status).c_str());
    const int r = sd_event_loop(event);
    sd_notify(0, "STOPPING=1");
    if (r < 0) {
        log::error("event loop failed", {{"RSM_ERRNO", std::strerror(-r)}});
        return 1;
    }
    return 0;
}

}  // namespace rsm
