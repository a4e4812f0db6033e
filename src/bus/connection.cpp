#include "bus/connection.hpp"

#include <system_error>

#include "bus/error.hpp"

namespace rsm::bus {

int check(int r, const char* what) {
    if (r < 0) throw std::system_error(-r, std::generic_category(), what);
    return r;
}

namespace {

BusPtr make_bus(UniqueFd fd, sd_event* event, bool server) {
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
    }
    check(sd_bus_negotiate_fds(bus.get(), 1), "sd_bus_negotiate_fds");
    check(sd_bus_negotiate_creds(bus.get(), 1, SD_BUS_CREDS_PID | SD_BUS_CREDS_UID | SD_BUS_CREDS_GID),
          "sd_bus_negotiate_creds");
    check(sd_bus_start(bus.get()), "sd_bus_start");
    if (event) check(sd_bus_attach_event(bus.get(), event, SD_EVENT_PRIORITY_NORMAL), "sd_bus_attach_event");
    return bus;
}

}  // namespace

BusPtr make_server(UniqueFd fd, sd_event* event) { return make_bus(std::move(fd), event, true); }
BusPtr make_client(UniqueFd fd, sd_event* event) { return make_bus(std::move(fd), event, false); }

std::string read_string(sd_bus_message* m) {
    const char* s = nullptr;
    int r = sd_bus_message_read_basic(m, 's', &s);
    if (r <= 0) throw BusError(names::error::invalid_argument, "expected a string argument");
    return s;
}

}  // namespace rsm::bus
