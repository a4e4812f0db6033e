// Attaches an sd_bus to an sd-event loop without per-iteration callbacks, for
// the manager's executor links: thousands of connections that are idle
// nearly all the time.
//
// sd_bus_attach_event() adds a prepare callback per bus (sd_bus_get_events,
// sd_bus_get_timeout, an epoll_ctl when they change) that sd-event runs on
// every loop iteration for every bus: O(buses) per iteration whatever
// happens. A QuietAttachment instead keeps one io source on the bus fd and,
// only while a method call awaits its reply, one time source; their events
// and deadline are recomputed after each processing and after each send
// (refresh()), never per iteration. An idle link costs nothing per
// iteration: epoll reports only the links that have something to read.
//
// The bus must be started and not attached to an event loop
// (bus::make_server(fd, nullptr)). Processing drains the bus until
// sd_bus_process() returns 0, which also covers the sd-bus 252 stall
// (a first message read together with the end of the SASL exchange, see
// process_until_running): no post source is needed.
//
// The io source is removed before sd-bus closes the fd: sd-bus closes it in
// the sd_bus_process() call that handles a bus in the "closing" state, and an
// epoll registration whose fd was closed while another copy of the socket is
// alive (the fd store's) could no longer be removed and would keep reporting
// a dead source.
#pragma once

#include <cstdint>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "util/handles.hpp"

namespace rsm::bus {

class QuietAttachment {
public:
    // Does not take a reference on `bus`: the owner keeps the bus alive
    // longer than the attachment (destroy the attachment first).
    // Throws std::system_error.
    QuietAttachment(sd_bus* bus, sd_event* event, int64_t priority = SD_EVENT_PRIORITY_NORMAL);
    ~QuietAttachment();
    QuietAttachment(const QuietAttachment&) = delete;
    QuietAttachment& operator=(const QuietAttachment&) = delete;

    // Call after sending anything on the bus outside a callback of this
    // attachment (a call, a reply, a signal): switches EPOLLOUT on if the
    // message could not be written at once and arms the reply deadline.
    void refresh();
    // Stops watching the bus (before the bus is closed or freed).
    void detach();

    // Loop iterations in which this attachment's callbacks ran (tests).
    uint64_t wakeups() const { return wakeups_; }

private:
    static int on_io(sd_event_source* s, int fd, uint32_t revents, void* userdata);
    static int on_time(sd_event_source* s, uint64_t usec, void* userdata);
    void process();
    void arm_now();

    // At most this many sd_bus_process() rounds per wakeup, so one busy link
    // cannot starve the loop; the rest runs at the next iteration.
    static constexpr int max_rounds = 64;

    sd_bus* bus_;
    sd_event* event_;
    int64_t priority_;
    EventSourcePtr io_;
    EventSourcePtr time_;
    uint32_t events_ = 0;
    uint64_t wakeups_ = 0;
    bool detached_ = false;
    // Set while process() runs, so it notices the owner destroying the
    // attachment from a callback.
    bool* destroyed_ = nullptr;
};

}  // namespace rsm::bus
