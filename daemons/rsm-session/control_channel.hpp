// org.rsm.SessionControl1 on one socket handed to a gateway by Connect (the
// seed's connection control protocol): the executor is the D-Bus server at
// /org/rsm/SessionControl1, the gateway the client. See
// dbus/org.rsm.SessionControl1.xml.
//
// Lifecycle: open -> closing (close(): nothing is served any more, queued
// messages are still written, at most drain_timeout) -> closed (socket
// closed). A channel may hold a copy of the display connection handed out
// with it: close() shuts that connection down (shutdown(SHUT_RDWR) acts on
// the socket, which the gateway's copy shares), so a gateway that was taken
// over, disconnected or whose session ends reads EOF on its display fd and
// the display server sees that client go. The owner destroys a channel only once it is closed, and never
// from inside one of its callbacks (on_drained says when; destroy it from a
// later loop iteration).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "util/fd.hpp"
#include "util/handles.hpp"

namespace rsm::session {

class ControlChannel {
public:
    struct Callbacks {
        // The gateway let go: it called Disconnect (the reply is queued) or
        // closed its end. Only while open; the owner then calls close().
        std::function<void(const std::string& why)> on_gateway_disconnect;
        // ReportActivity.
        std::function<void()> on_activity;
        // GetSession: append the record dictionary a{sv} to the reply.
        std::function<void(sd_bus_message* reply)> append_record;
        // The socket is closed: the channel may be destroyed now (later).
        std::function<void()> on_drained;
    };

    // Serves the channel on `fd` (our end of the socketpair). Throws
    // std::system_error.
    ControlChannel(sd_event* event, UniqueFd fd, std::string session_id, Callbacks callbacks);
    ~ControlChannel();  // closes the socket without waiting for anything
    ControlChannel(const ControlChannel&) = delete;
    ControlChannel& operator=(const ControlChannel&) = delete;

    bool open() const noexcept { return state_ == State::open; }
    bool closed() const noexcept { return state_ == State::closed; }

    // The SessionControl1 signals; ignored unless open. Best effort: a gateway
    // that does not read gets them queued until close() gives up.
    void request_disconnect(const std::string& reason);
    void announce_ending(const std::string& reason);

    // A copy of the display connection handed out with this channel, cut
    // off by close() (and by the destructor).
    void hold_display(UniqueFd display) noexcept { display_ = std::move(display); }

    // Stops serving, cuts the display connection off at once, and closes the
    // socket once the queued messages are written (or after
    // drain_timeout_usec). on_drained follows, from the loop.
    void close();

    static constexpr uint64_t drain_timeout_usec = 1000 * 1000;

private:
    enum class State { open, closing, closed };

    void emit(const char* member, const std::string& reason);
    void finish();
    void cut_display() noexcept;

    static int method_disconnect(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept;
    static int method_report_activity(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept;
    static int method_get_session(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept;
    static int method_hello(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept;
    static int method_ignore_match(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept;
    static int on_disconnected(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept;
    static int on_drain_check(sd_event_source* s, void* userdata) noexcept;
    static int on_drain_timeout(sd_event_source* s, uint64_t usec, void* userdata) noexcept;

    sd_event* event_;
    std::string session_id_;
    Callbacks callbacks_;
    State state_ = State::open;
    bool said_hello_ = false;
    UniqueFd display_;
    BusPtr bus_;
    SlotPtr control_slot_, dbus_slot_, disconnected_slot_;
    EventSourcePtr start_processing_;
    EventSourcePtr drain_kick_, drain_check_, drain_timeout_;

    static const sd_bus_vtable control_vtable_[];
    static const sd_bus_vtable dbus_vtable_[];
};

}  // namespace rsm::session
