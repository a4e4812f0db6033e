// GatewayConnection, org.freedesktop.DBus: enough of the bus daemon's
// interface (Hello, AddMatch/RemoveMatch, GetId, GetNameOwner) for clients
// written for a bus (busctl, gdbus, dbus-python's BusConnection) to talk to
// the gateway socket directly.
#include "gateway_connection.hpp"

#include <string>
#include <systemd/sd-id128.h>

#include "bus/connection.hpp"
#include "bus/error.hpp"
#include "bus/names.hpp"

namespace rsm::manager {

using bus::BusError;
namespace err = names::error;

int GatewayConnection::method_hello(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        if (self->said_hello_)
            throw BusError("org.freedesktop.DBus.Error.Failed", "Already handled an Hello message");
        self->said_hello_ = true;
        const std::string unique = ":1." + std::to_string(self->id_);
        return sd_bus_reply_method_return(m, "s", unique.c_str());
    });
}

int GatewayConnection::method_ignore_match(sd_bus_message* m, void*, sd_bus_error*) {
    // rsm sends no signals on the gateway socket; accepting match rules keeps
    // clients that add them by default working.
    return sd_bus_reply_method_return(m, "");
}

int GatewayConnection::method_get_id(sd_bus_message* m, void*, sd_bus_error* error) {
    return bus::reply_errors(error, [&] {
        sd_id128_t id;
        bus::check(sd_id128_get_machine(&id), "machine id");
        char s[SD_ID128_STRING_MAX];
        return sd_bus_reply_method_return(m, "s", sd_id128_to_string(id, s));
    });
}

int GatewayConnection::method_get_name_owner(sd_bus_message* m, void*, sd_bus_error* error) {
    return bus::reply_errors(error, [&] {
        std::string name = bus::read_string(m);
        if (name != names::gateway_bus_name)
            throw BusError("org.freedesktop.DBus.Error.NameHasNoOwner", "Could not get owner of name '" + name +
                                                                            "': no such name");
        return sd_bus_reply_method_return(m, "s", names::gateway_bus_name);
    });
}

const sd_bus_vtable GatewayConnection::dbus_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS("Hello", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", unique_name), &GatewayConnection::method_hello,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("AddMatch", SD_BUS_ARGS("s", rule), SD_BUS_NO_RESULT,
                            &GatewayConnection::method_ignore_match, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("RemoveMatch", SD_BUS_ARGS("s", rule), SD_BUS_NO_RESULT,
                            &GatewayConnection::method_ignore_match, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetId", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", id), &GatewayConnection::method_get_id, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetNameOwner", SD_BUS_ARGS("s", name), SD_BUS_RESULT("s", owner),
                            &GatewayConnection::method_get_name_owner, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

}  // namespace rsm::manager
