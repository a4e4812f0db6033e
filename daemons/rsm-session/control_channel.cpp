#include "control_channel.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <sys/socket.h>

#include "bus/connection.hpp"
#include "bus/error.hpp"
#include "bus/names.hpp"
#include "util/log.hpp"

namespace rsm::session {

using bus::BusError;

ControlChannel::ControlChannel(sd_event* event, UniqueFd fd, std::string session_id, Callbacks callbacks)
    : event_{event}, session_id_{std::move(session_id)}, callbacks_{std::move(callbacks)} {
    bus_ = bus::make_handed_over_server(std::move(fd), event_);
    sd_bus_set_description(bus_.get(), "control");
    sd_bus_slot* slot = nullptr;
    bus::check(sd_bus_add_object_vtable(bus_.get(), &slot, names::session_control_path,
                                        names::session_control_interface, control_vtable_, this),
               "sd_bus_add_object_vtable(SessionControl1)");
    control_slot_.reset(slot);
    bus::check(sd_bus_add_object_vtable(bus_.get(), &slot, names::dbus_path, names::dbus_interface, dbus_vtable_, this),
               "sd_bus_add_object_vtable(org.freedesktop.DBus)");
    dbus_slot_.reset(slot);
    bus::check(sd_bus_match_signal(bus_.get(), &slot, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                   "org.freedesktop.DBus.Local", "Disconnected", &ControlChannel::on_disconnected,
                                   this),
               "sd_bus_match_signal(Disconnected)");
    disconnected_slot_.reset(slot);
    start_processing_ = bus::process_until_running(bus_.get(), event_);
}

ControlChannel::~ControlChannel() {
    cut_display();
    // Never a flush here: a gateway that does not read would block us.
    if (bus_) sd_bus_close(bus_.get());
}

void ControlChannel::cut_display() noexcept {
    if (!display_) return;
    // On the socket, not on this descriptor: the gateway's copy reads EOF
    // and its writes fail, and the display server sees the client go.
    if (shutdown(display_.get(), SHUT_RDWR) < 0 && errno != ENOTCONN)
        log::debug("Could not shut the display connection down",
                   {{"RSM_SESSION_ID", session_id_}, {"RSM_ERROR", std::strerror(errno)}});
    display_.reset();
}

void ControlChannel::emit(const char* member, const std::string& reason) {
    if (state_ != State::open) return;
    int r = sd_bus_emit_signal(bus_.get(), names::session_control_path, names::session_control_interface, member, "s",
                               reason.c_str());
    if (r < 0)
        log::debug(std::string("Could not send ") + member + " on the control channel",
                   {{"RSM_SESSION_ID", session_id_}, {"RSM_ERROR", std::to_string(-r)}});
}

void ControlChannel::request_disconnect(const std::string& reason) { emit("DisconnectRequested", reason); }

void ControlChannel::announce_ending(const std::string& reason) { emit("SessionEnding", reason); }

void ControlChannel::close() {
    cut_display();
    if (state_ != State::open) return;
    state_ = State::closing;
    // A defer source looks once, at the next iteration; the post source then
    // looks after every iteration in which sd-bus wrote something.
    sd_event_source* s = nullptr;
    bus::check(sd_event_add_defer(event_, &s, &ControlChannel::on_drain_check, this), "sd_event_add_defer");
    drain_kick_.reset(s);
    bus::check(sd_event_add_post(event_, &s, &ControlChannel::on_drain_check, this), "sd_event_add_post");
    drain_check_.reset(s);
    bus::check(sd_event_add_time_relative(event_, &s, CLOCK_MONOTONIC, drain_timeout_usec, 0,
                                          &ControlChannel::on_drain_timeout, this),
               "sd_event_add_time_relative");
    drain_timeout_.reset(s);
}

void ControlChannel::finish() {
    if (state_ == State::closed) return;
    state_ = State::closed;
    sd_bus_close(bus_.get());
    for (auto* src : {drain_kick_.get(), drain_check_.get(), drain_timeout_.get(), start_processing_.get()})
        if (src) sd_event_source_set_enabled(src, SD_EVENT_OFF);
    if (callbacks_.on_drained) callbacks_.on_drained();
}

int ControlChannel::on_drain_check(sd_event_source*, void* userdata) noexcept {
    auto* self = static_cast<ControlChannel*>(userdata);
    uint64_t queued = 0;
    if (sd_bus_is_open(self->bus_.get()) <= 0 || sd_bus_get_n_queued_write(self->bus_.get(), &queued) < 0 ||
        queued == 0)
        self->finish();
    return 0;
}

int ControlChannel::on_drain_timeout(sd_event_source*, uint64_t, void* userdata) noexcept {
    auto* self = static_cast<ControlChannel*>(userdata);
    log::debug("The gateway did not read the control channel's last messages; closing it anyway",
               {{"RSM_SESSION_ID", self->session_id_}});
    self->finish();
    return 0;
}

int ControlChannel::on_disconnected(sd_bus_message*, void* userdata, sd_bus_error*) noexcept {
    auto* self = static_cast<ControlChannel*>(userdata);
    if (self->state_ == State::open) {
        if (self->callbacks_.on_gateway_disconnect)
            self->callbacks_.on_gateway_disconnect("the gateway closed the control channel");
        self->close();  // in case the owner did not
    }
    return 0;
}

// ---------------------------------------------------------------------------
// org.rsm.SessionControl1

int ControlChannel::method_disconnect(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept {
    auto* self = static_cast<ControlChannel*>(userdata);
    return bus::reply_errors(error, [&] {
        if (!self->open()) throw BusError(names::error::failed, "The control channel is closing");
        int r = sd_bus_reply_method_return(m, "");
        if (self->callbacks_.on_gateway_disconnect) self->callbacks_.on_gateway_disconnect("the gateway disconnected");
        self->close();
        return r;
    });
}

int ControlChannel::method_report_activity(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept {
    auto* self = static_cast<ControlChannel*>(userdata);
    return bus::reply_errors(error, [&] {
        if (!self->open()) throw BusError(names::error::failed, "The control channel is closing");
        if (self->callbacks_.on_activity) self->callbacks_.on_activity();
        return sd_bus_reply_method_return(m, "");
    });
}

int ControlChannel::method_get_session(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept {
    auto* self = static_cast<ControlChannel*>(userdata);
    return bus::reply_errors(error, [&] {
        if (!self->open()) throw BusError(names::error::failed, "The control channel is closing");
        sd_bus_message* raw = nullptr;
        bus::check(sd_bus_message_new_method_return(m, &raw), "sd_bus_message_new_method_return");
        MessagePtr reply{raw};
        self->callbacks_.append_record(reply.get());
        return sd_bus_send(nullptr, reply.get(), nullptr);
    });
}

// ---------------------------------------------------------------------------
// org.freedesktop.DBus: enough for clients written for a bus.

int ControlChannel::method_hello(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept {
    auto* self = static_cast<ControlChannel*>(userdata);
    return bus::reply_errors(error, [&] {
        if (self->said_hello_)
            throw BusError("org.freedesktop.DBus.Error.Failed", "Already handled an Hello message");
        self->said_hello_ = true;
        return sd_bus_reply_method_return(m, "s", ":1.0");
    });
}

int ControlChannel::method_ignore_match(sd_bus_message* m, void*, sd_bus_error*) noexcept {
    // Signals go to the one peer anyway; accepting match rules keeps clients
    // that add them by default working.
    return sd_bus_reply_method_return(m, "");
}

const sd_bus_vtable ControlChannel::control_vtable_[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS("Disconnect", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, &ControlChannel::method_disconnect,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ReportActivity", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
                            &ControlChannel::method_report_activity, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetSession", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", record),
                            &ControlChannel::method_get_session, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL_WITH_ARGS("DisconnectRequested", SD_BUS_ARGS("s", reason), 0),
    SD_BUS_SIGNAL_WITH_ARGS("SessionEnding", SD_BUS_ARGS("s", reason), 0),
    SD_BUS_VTABLE_END,
};

const sd_bus_vtable ControlChannel::dbus_vtable_[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS("Hello", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", unique_name), &ControlChannel::method_hello,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("AddMatch", SD_BUS_ARGS("s", rule), SD_BUS_NO_RESULT, &ControlChannel::method_ignore_match,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("RemoveMatch", SD_BUS_ARGS("s", rule), SD_BUS_NO_RESULT,
                            &ControlChannel::method_ignore_match, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

}  // namespace rsm::session
