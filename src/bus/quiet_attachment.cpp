#include "bus/quiet_attachment.hpp"

#include <memory>
#include <poll.h>
#include <sys/epoll.h>
#include <system_error>

#include "bus/error.hpp"

namespace rsm::bus {

QuietAttachment::QuietAttachment(sd_bus* bus, sd_event* event, int64_t priority)
    : bus_(bus), event_(event), priority_(priority) {
    const int fd = check(sd_bus_get_fd(bus_), "sd_bus_get_fd");
    sd_event_source* s = nullptr;
    check(sd_event_add_io(event_, &s, fd, EPOLLIN, &QuietAttachment::on_io, this), "sd_event_add_io");
    io_.reset(s);
    events_ = EPOLLIN;
    (void)sd_event_source_set_priority(io_.get(), priority_);
    (void)sd_event_source_set_description(io_.get(), "bus-io");
    refresh();
    // sd_bus_start() of a server reads whatever the client sent already
    // (possibly its BEGIN and first call): process once at the next
    // iteration, as nothing on the socket may announce it.
    arm_now();
}

QuietAttachment::~QuietAttachment() {
    if (destroyed_) *destroyed_ = true;
}

void QuietAttachment::detach() {
    detached_ = true;
    io_.reset();
    time_.reset();
}

void QuietAttachment::arm_now() {
    if (detached_) return;
    if (!time_) {
        sd_event_source* s = nullptr;
        check(sd_event_add_time(event_, &s, CLOCK_MONOTONIC, 0, 0, &QuietAttachment::on_time, this),
              "sd_event_add_time");
        time_.reset(s);
        (void)sd_event_source_set_priority(time_.get(), priority_);
        (void)sd_event_source_set_description(time_.get(), "bus-time");
        return;
    }
    (void)sd_event_source_set_time(time_.get(), 0);
    (void)sd_event_source_set_enabled(time_.get(), SD_EVENT_ONESHOT);
}

void QuietAttachment::refresh() {
    if (detached_) return;
    const int ev = sd_bus_get_events(bus_);
    if (ev >= 0) {
        uint32_t want = 0;
        if (ev & POLLIN) want |= EPOLLIN;
        if (ev & POLLOUT) want |= EPOLLOUT;
        // A bus always listens: a peer's hang-up is how a link ends.
        if (want == 0) want = EPOLLIN;
        if (want != events_ && sd_event_source_set_io_events(io_.get(), want) >= 0) events_ = want;
    }
    uint64_t until = UINT64_MAX;
    // A closing bus (a write failed) reports 0: it wants processing now.
    if (sd_bus_get_timeout(bus_, &until) < 0) until = 0;
    if (until == UINT64_MAX) {
        if (time_) (void)sd_event_source_set_enabled(time_.get(), SD_EVENT_OFF);
        return;
    }
    if (until == 0) {
        arm_now();
        return;
    }
    if (!time_) {
        sd_event_source* s = nullptr;
        check(sd_event_add_time(event_, &s, CLOCK_MONOTONIC, until, 0, &QuietAttachment::on_time, this),
              "sd_event_add_time");
        time_.reset(s);
        (void)sd_event_source_set_priority(time_.get(), priority_);
        (void)sd_event_source_set_description(time_.get(), "bus-time");
        return;
    }
    (void)sd_event_source_set_time(time_.get(), until);
    (void)sd_event_source_set_enabled(time_.get(), SD_EVENT_ONESHOT);
}

void QuietAttachment::process() {
    ++wakeups_;
    bool destroyed = false;
    destroyed_ = &destroyed;
    // Callbacks may drop the owner's reference (and this attachment).
    // (A plain reference: BusPtr would close the bus when dropping it.)
    std::unique_ptr<sd_bus, Deleter<sd_bus_unref>> ref{sd_bus_ref(bus_)};
    bool was_ready = sd_bus_is_ready(bus_) > 0;
    bool more = false;
    for (int round = 0;; ++round) {
        // A closing bus is drained in one go: once detached, nothing would
        // wake it for the rest (failed calls, then Disconnected).
        if (round >= max_rounds && !detached_) {
            more = true;
            break;
        }
        // A closing bus gets its fd closed by the next sd_bus_process():
        // leave epoll while the fd still names the socket.
        if (sd_bus_is_open(bus_) <= 0) {
            io_.reset();
            time_.reset();
            detached_ = true;
        }
        const int r = sd_bus_process(bus_, nullptr);
        if (destroyed) return;
        if (r > 0) continue;
        if (r < 0) break;
        // sd-bus 252 may turn "running" with the first message still in its
        // read buffer and report nothing more to do: one more round.
        const bool ready = sd_bus_is_ready(bus_) > 0;
        if (ready && !was_ready) {
            was_ready = true;
            continue;
        }
        break;
    }
    destroyed_ = nullptr;
    refresh();
    if (more) arm_now();
}

int QuietAttachment::on_io(sd_event_source*, int, uint32_t, void* userdata) {
    static_cast<QuietAttachment*>(userdata)->process();
    return 0;
}

int QuietAttachment::on_time(sd_event_source*, uint64_t, void* userdata) {
    static_cast<QuietAttachment*>(userdata)->process();
    return 0;
}

}  // namespace rsm::bus
