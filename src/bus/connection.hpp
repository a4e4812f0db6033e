// Peer-to-peer D-Bus connections over an already connected socket, the only
// kind rsm speaks outside the system bus (gateway socket, executor link).
#pragma once

#include <string>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "util/fd.hpp"
#include "util/handles.hpp"

namespace rsm::bus {

// The server side: SASL EXTERNAL authentication of the peer, fd passing on,
// attached to `event`. The connection takes ownership of `fd`.
// Throws std::system_error on failure.
BusPtr make_server(UniqueFd fd, sd_event* event);

// The server side of a socketpair whose other end was handed to someone
// else (the control channel given to a gateway by ConnectSession): the
// socket's peer credentials are the creator's, not the holder's, so EXTERNAL
// with the holder's uid would be refused. Any SASL mechanism, ANONYMOUS
// included, is accepted: holding the fd is the authorisation, granted by the
// call that handed it over. Takes ownership of `fd`.
BusPtr make_handed_over_server(UniqueFd fd, sd_event* event);

// The client side (no Hello: there is no bus daemon). Takes ownership of `fd`.
BusPtr make_client(UniqueFd fd, sd_event* event);

// Works around sd-bus (252) leaving a connection's first message unprocessed
// when it arrives in the same read as the end of the SASL exchange (a
// server's first call with the client's BEGIN; a client's first incoming
// call with the server's OK): the bus turns "running" inside the read, but
// nothing wakes the event loop for the message already queued, so the call
// waits for the next unrelated event. Use it on both sides.
// The returned post source processes the bus after every loop iteration until
// it is running with an empty queue, then turns itself off. Keep it as long
// as the bus.
EventSourcePtr process_until_running(sd_bus* bus, sd_event* event);

// A reference to a string argument read from a message; valid while the
// message lives. Throws BusError(InvalidArgument) on a read error.
std::string read_string(sd_bus_message* m);

}  // namespace rsm::bus
