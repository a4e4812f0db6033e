// A factory of sd-bus messages for tests that read them: sd-bus only
// creates messages on a bus that has been started, so it starts one on one
// end of a socketpair; nothing is ever sent.
#pragma once

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <systemd/sd-bus.h>

#include "util/fd.hpp"
#include "util/handles.hpp"

namespace rsm::test {

class MessageFactory {
public:
    MessageFactory() {
        int fds[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) == 0);
        rsm::UniqueFd ours{fds[0]};
        peer_.reset(fds[1]);
        sd_bus* bus = nullptr;
        REQUIRE(sd_bus_new(&bus) >= 0);
        bus_.reset(bus);
        REQUIRE(sd_bus_set_fd(bus, ours.get(), ours.get()) >= 0);
        ours.release();  // the bus closes it now
        REQUIRE(sd_bus_start(bus) >= 0);
    }

    // A method call whose body `fill` writes; returned sealed and rewound,
    // ready to read as a handler would.
    template <class Fill>
    rsm::MessagePtr call(Fill&& fill) {
        sd_bus_message* m = nullptr;
        REQUIRE(sd_bus_message_new_method_call(bus_.get(), &m, "org.rsm.Gateway1", "/org/rsm/Gateway1",
                                               "org.rsm.Gateway1", "LoginWithPassword") >= 0);
        rsm::MessagePtr message{m};
        fill(m);
        REQUIRE(sd_bus_message_seal(m, 1, 0) >= 0);
        REQUIRE(sd_bus_message_rewind(m, 1) >= 0);
        return message;
    }

private:
    // Never authenticated, so no flush on close: sd_bus_flush would wait for
    // a peer that never answers.
    using BusPtr = std::unique_ptr<sd_bus, rsm::Deleter<sd_bus_close_unref>>;

    rsm::UniqueFd peer_;
    BusPtr bus_;
};

}  // namespace rsm::test
