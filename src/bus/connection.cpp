#include "bus/connection.hpp"

#include <system_error>

#include "bus/error.hpp"

namespace rsm::bus {

int check(int r, const char* what) {
    if (r < 0) throw std::system_error(-r, std::generic_category(), what);
    return r;
}

namespace {

BusPtr make_bus(UniqueFd fd, sd_event* event, bool server, bool anonymous) {
    sd_bus* raw = nullptr;
    check(sd_bus_new(&raw), "sd_bus_new");
    BusPtr bus{raw};
    // Both directions share one socket; sd-bus closes it with the bus.
    check(sd_bus_set_fd(bus.get(), fd.get(), fd.get()), "sd_bus_set_fd");
    fd.release();
    if (server) {
        sd_id128_t id;
        check(sd_id128_randomize(&id), "sd_id128_randomize");
        check(sd_bus_set_server(bus.get(), 1, id), "sd_bus_set_server");
        if (anonymous) check(sd_bus_set_anonymous(bus.get(), 1), "sd_bus_set_anonymous");
    }
    check(sd_bus_negotiate_fds(bus.get(), 1), "sd_bus_negotiate_fds");
    check(sd_bus_negotiate_creds(bus.get(), 1, SD_BUS_CREDS_PID | SD_BUS_CREDS_UID | SD_BUS_CREDS_GID),
          "sd_bus_negotiate_creds");
    check(sd_bus_start(bus.get()), "sd_bus_start");
    if (event) check(sd_bus_attach_event(bus.get(), event, SD_EVENT_PRIORITY_NORMAL), "sd_bus_attach_event");
    return bus;
}

}  // namespace

BusPtr make_server(UniqueFd fd, sd_event* event) { return make_bus(std::move(fd), event, true, false); }
BusPtr make_handed_over_server(UniqueFd fd, sd_event* event) { return make_bus(std::move(fd), event, true, true); }
BusPtr make_client(UniqueFd fd, sd_event* event) { return make_bus(std::move(fd), event, false, false); }

namespace {

int on_post_process(sd_event_source* source, void* userdata) {
    auto* bus = static_cast<sd_bus*>(userdata);
    int r;
    while ((r = sd_bus_process(bus, nullptr)) > 0) {
    }
    if (r < 0 || sd_bus_is_open(bus) <= 0 || sd_bus_is_ready(bus) > 0)
        sd_event_source_set_enabled(source, SD_EVENT_OFF);
    return 0;
}

}  // namespace

EventSourcePtr process_until_running(sd_bus* bus, sd_event* event) {
    sd_event_source* s = nullptr;
    check(sd_event_add_post(event, &s, &on_post_process, bus), "sd_event_add_post");
    return EventSourcePtr{s};
}

std::string read_string(sd_bus_message* m) {
    const char* s = nullptr;
    int r = sd_bus_message_read_basic(m, 's', &s);
    if (r <= 0) throw BusError(names::error::invalid_argument, "expected a string argument");
    return s;
}

}  // namespace rsm::bus
