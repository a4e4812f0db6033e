#include "display_peer_watch.hpp"

#include <sys/epoll.h>
#include <system_error>

namespace rsm::session {

DisplayPeerWatch::DisplayPeerWatch(sd_event* event, UniqueFd display,
                                   std::function<void(const std::string& why)> on_closed)
    : fd_{std::move(display)}, on_closed_{std::move(on_closed)} {
    sd_event_source* s = nullptr;
    // Not EPOLLIN: the bytes are the gateway's, and readable data would wake us for nothing.
    const int r = sd_event_add_io(event, &s, fd_.get(), EPOLLRDHUP, &DisplayPeerWatch::on_event, this);
    if (r < 0) throw std::system_error(-r, std::generic_category(), "sd_event_add_io(display peer)");
    source_.reset(s);
}

int DisplayPeerWatch::on_event(sd_event_source* s, int, uint32_t revents, void* userdata) noexcept {
    auto* self = static_cast<DisplayPeerWatch*>(userdata);
    // Level-triggered: once is enough.
    sd_event_source_set_enabled(s, SD_EVENT_OFF);
    const std::string why = (revents & EPOLLERR) ? "the display server's connection failed"
                                                 : "the display server closed the gateway's connection";
    if (self->on_closed_) self->on_closed_(why);
    return 0;
}

}  // namespace rsm::session
