// Exit on idle ([manager] idle_exit_sec): the manager exits, cleanly, once it
// has had nothing to do for that long, and its sockets and bus name start it
// again on the next use. "Nothing to do" is the `busy` predicate main builds
// (no session, no gateway connection, no login executor, no announce or
// recovery, no polkit check in flight); the idle time starts when it turns
// false and starts over on every call to the manager's bus objects.
//
// The exit, in this order (docs/design-notes.md, "Exit on idle"):
//  1. the idle timer fires with nothing in flight and nothing waiting in the
//     listening sockets' backlogs (polled: a connection about to be
//     accepted is work, so the count starts over instead);
//  2. STOPPING=1, and a barrier until systemd has read it: from then on the
//     unit is "deactivating", so a start request (socket or bus activation)
//     queues a start job that runs once this process is gone, never a no-op
//     "already active" job;
//  3. stop accepting: connections arriving now wait in the backlog of the
//     listening sockets, which systemd keeps, and go to the next instance;
//  4. release org.rsm.Manager1 and wait for the reply: calls the bus daemon
//     routed to us before it are read before that reply and served; calls
//     after it activate the next instance;
//  5. once those calls are answered (polkit included), exit with status 0.
// Nothing is dropped on the way: busy() is false, so no session exists and
// the fd store is empty.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <vector>

#include "util/handles.hpp"

namespace rsm::manager {

class IdleExit {
public:
    struct Hooks {
        // True while anything is in flight (cheap: called after every loop
        // iteration in which something happened).
        std::function<bool()> busy;
        // The listening sockets, polled before deciding (not owned).
        std::vector<int> listen_fds;
        // Stop accepting on them (step 3).
        std::function<void()> stop_accepting;
    };

    // How long the last calls may take to be answered once the manager is
    // on its way out (step 5), before it exits anyway.
    static constexpr std::chrono::seconds wind_down_timeout{10};

    // `system_bus` may be null (then there is no name to release). `after`
    // 0 means never. Throws std::system_error.
    IdleExit(sd_event* event, sd_bus* system_bus, const char* bus_name, std::chrono::seconds after, Hooks hooks);
    ~IdleExit();
    IdleExit(const IdleExit&) = delete;
    IdleExit& operator=(const IdleExit&) = delete;

    // A new idle_exit_sec (reload): the idle time starts over.
    void reconfigure(std::chrono::seconds after);
    // Something happened that the busy predicate does not see (a bus call
    // answered at once): the idle time starts over.
    void activity();

private:
    enum class Phase { serving, releasing, winding_down };

    static int on_post(sd_event_source* s, void* userdata);
    static int on_timer(sd_event_source* s, uint64_t usec, void* userdata);
    static int on_bus_message(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int on_name_released(sd_bus_message* reply, void* userdata, sd_bus_error* error);
    static int on_wind_down_timeout(sd_event_source* s, uint64_t usec, void* userdata);
    void arm(bool restart);
    bool backlog_waiting() const;
    void begin_exit();
    void finish_if_done();
    void exit_now();

    sd_event* event_;
    sd_bus* bus_;
    const char* bus_name_;
    std::chrono::seconds after_;
    Hooks hooks_;
    Phase phase_ = Phase::serving;
    EventSourcePtr timer_, post_, wind_down_timer_;
    SlotPtr filter_, release_slot_;
};

}  // namespace rsm::manager
