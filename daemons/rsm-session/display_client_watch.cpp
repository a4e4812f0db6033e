#include "display_client_watch.hpp"

#include <system_error>

#include "util/unix_sockets.hpp"

namespace rsm::session {

namespace {
uint64_t usec(std::chrono::microseconds d) { return static_cast<uint64_t>(d.count()); }
}  // namespace

DisplayClientWatch::DisplayClientWatch(sd_event* event, pid_t server_pid, std::string socket_path,
                                       std::function<void(const std::string& why)> on_gone)
    : server_pid_(server_pid), path_(std::move(socket_path)), on_gone_(std::move(on_gone)) {
    uint64_t now = 0;
    int r = sd_event_now(event, CLOCK_MONOTONIC, &now);
    if (r < 0) throw std::system_error(-r, std::generic_category(), "sd_event_now");
    grace_end_usec_ = now + usec(arrival_grace);
    sd_event_source* s = nullptr;
    r = sd_event_add_time(event, &s, CLOCK_MONOTONIC, now + usec(interval), 0, &DisplayClientWatch::on_tick, this);
    if (r < 0) throw std::system_error(-r, std::generic_category(), "sd_event_add_time");
    timer_.reset(s);
}

int DisplayClientWatch::on_tick(sd_event_source*, uint64_t now, void* userdata) noexcept {
    static_cast<DisplayClientWatch*>(userdata)->tick(now);
    return 0;
}

void DisplayClientWatch::tick(uint64_t now) {
    const bool connected = unix_sockets::accepted_on(server_pid_, path_) > 0;
    seen_ = seen_ || connected;
    if (!connected && (seen_ || now >= grace_end_usec_)) {
        (void)sd_event_source_set_enabled(timer_.get(), SD_EVENT_OFF);
        on_gone_(seen_ ? "the gateway's connection to the display server on " + path_ + " closed"
                       : "no gateway connected to the display server on " + path_ + " in time");
        return;
    }
    (void)sd_event_source_set_time(timer_.get(), now + usec(interval));
    (void)sd_event_source_set_enabled(timer_.get(), SD_EVENT_ONESHOT);
}

}  // namespace rsm::session
