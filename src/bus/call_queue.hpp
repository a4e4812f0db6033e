// A bound on the method calls one bus connection has waiting for a reply.
//
// dbus-daemon refuses a call from a connection that has 128 calls awaiting
// replies (max_replies_per_connection, LimitsExceeded). The manager sweeps
// every ended session with StopUnit and TerminateSession on its one system
// bus connection, so ending a few hundred sessions at once had most sweeps
// fail ("Session scope not stopped"). Calls through a CallQueue are sent at
// once while fewer than `max_in_flight` wait for their replies, else in
// order as replies come in.
//
// A call is owned by its QueuedCall: true while queued or in flight;
// reset() (or destruction) cancels it: a queued call is never sent, a sent
// one's reply is dropped, and the queue counts it until the reply arrives,
// as dbus-daemon does.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <systemd/sd-bus.h>

#include "util/handles.hpp"

namespace rsm::bus {

class CallQueue;

class QueuedCall {
public:
    QueuedCall() = default;
    ~QueuedCall() { reset(); }
    QueuedCall(QueuedCall&& o) noexcept;
    QueuedCall& operator=(QueuedCall&& o) noexcept;
    QueuedCall(const QueuedCall&) = delete;
    QueuedCall& operator=(const QueuedCall&) = delete;

    explicit operator bool() const noexcept { return entry_ != nullptr; }
    void reset() noexcept;

private:
    friend class CallQueue;

public:
    struct Entry;  // CallQueue's

private:
    Entry* entry_ = nullptr;
};

class CallQueue {
public:
    // Runs from the loop when a queued call could not be sent (-errno);
    // its handler then never runs.
    using SendFailed = std::function<void(int error)>;

    // `bus` must outlive the queue.
    CallQueue(sd_bus* bus, unsigned max_in_flight);
    ~CallQueue();
    CallQueue(const CallQueue&) = delete;
    CallQueue& operator=(const CallQueue&) = delete;

    // Sends `call` (a method call on this bus) now or once there is room.
    // `handler(reply, userdata, error)` runs once with the reply, as for
    // sd_bus_call_async(), unless `out` is cancelled first. Returns 0, or
    // -errno when sending now failed (nothing queued, nothing runs later).
    int call(QueuedCall& out, sd_bus_message* call, sd_bus_message_handler_t handler, void* userdata,
             uint64_t timeout_usec, SendFailed failed);

    // Fire and forget: the queue owns the call. `reply` (may be empty) runs
    // with the reply, `failed` if a queued call cannot be sent; neither may
    // capture anything that could go before the queue. Returns 0 or -errno
    // (sending now failed; nothing runs later).
    int call_floating(sd_bus_message* call, std::function<void(sd_bus_message* reply)> reply, SendFailed failed);

    sd_bus* bus() const noexcept { return bus_; }
    unsigned in_flight() const noexcept { return in_flight_; }
    std::size_t queued() const noexcept { return queue_.size(); }

private:
    friend class QueuedCall;
    static int on_reply(sd_bus_message* m, void* userdata, sd_bus_error* error);
    int send(QueuedCall::Entry& e);
    void pump();
    void cancel(QueuedCall::Entry* e) noexcept;

    void erase(QueuedCall::Entry* e) noexcept;
    QueuedCall::Entry& add(sd_bus_message* call, uint64_t timeout_usec, SendFailed failed);
    int start(QueuedCall::Entry& e);

    sd_bus* bus_;
    unsigned max_in_flight_;
    unsigned in_flight_ = 0;
    std::deque<QueuedCall::Entry*> queue_;  // not sent yet, oldest first (cancelled ones are skipped)
    std::list<QueuedCall::Entry> entries_;  // every call queued or awaiting its reply
};

}  // namespace rsm::bus
