// Reading the gateway's client dictionary (a{sv}) straight from a method
// call. Kept apart from validate.hpp so that the pure validators carry no
// sd-bus dependency.
#pragma once

#include <systemd/sd-bus.h>

#include "protocol/validate.hpp"

namespace rsm::protocol {

// Reads one a{sv} argument at the message's current read position and
// validates it with client_info_from_map(). Every value must be a string
// variant. Throws rsm::bus::BusError(org.rsm.Error.InvalidArgument) naming
// the key and the expected type when it is not, when a key repeats, and for
// every error client_info_from_map() reports.
ClientInfo read_client_info(sd_bus_message* message);

}  // namespace rsm::protocol
