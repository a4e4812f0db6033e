#include "util/event_loop.hpp"

#include <csignal>
#include <system_error>

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

}  // namespace rsm
