// The relay's end of the session's control channel (org.rsm.SessionControl1,
// dbus/org.rsm.SessionControl1.xml): a D-Bus client on a duplicate of the
// fd ConnectSession handed over (SASL ANONYMOUS: holding the fd is the
// authorisation), through which the viewer's input restarts the session's
// idle timer ([session] idle_timeout) with ReportActivity: at most once per
// `interval`, sent without waiting for a reply, so the relay never blocks
// on it (sd-bus writes it at once, or queues it and events() asks for
// POLLOUT). The relay polls fd() for events() and calls process() when it
// is ready, which also tells when rsm has closed the channel (taken over,
// idle, the end).
#pragma once

#include <cstdint>
#include <string>

#include "util/fd.hpp"
#include "util/handles.hpp"

namespace rsm::gateway {

inline constexpr std::uint64_t activity_interval_usec = 2'000'000;

class ActivityReporter {
public:
    // `control` stays the caller's (closing it still disconnects: the
    // channel ends when both it and this duplicate are closed).
    explicit ActivityReporter(int control, std::uint64_t interval_usec = activity_interval_usec);

    // The viewer sent input at `now` (CLOCK_MONOTONIC usec).
    void input(std::uint64_t now);
    int fd() const;
    short events() const;  // for poll(); 0 once closed
    // False once rsm has closed the channel (or it failed).
    bool process();
    // What went wrong when process() said false.
    const std::string& error() const noexcept { return error_; }
    // Why rsm let the session go, as its last signal said
    // ("DisconnectRequested: idle", "SessionEnding: ..."); "" if none came.
    const std::string& reason() const noexcept { return reason_; }

private:
    static int on_signal(sd_bus_message* m, void* self, sd_bus_error*);

    BusPtr bus_;
    SlotPtr signals_;  // released before the bus
    std::uint64_t interval_;
    std::uint64_t last_ = 0;
    bool reported_ = false;
    std::string error_;
    std::string reason_;
};

}  // namespace rsm::gateway
