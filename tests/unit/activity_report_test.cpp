// daemons/rsm-gateway/activity_report: the relay's ReportActivity on the
// session's control channel, against an sd-bus server on a socket pair as
// rsm-session serves it (SessionControl1, anonymous): one call per
// interval however much input, no reply awaited, and rsm's last signal
// kept as the reason once the channel closes.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>

#include "activity_report.hpp"
#include "bus/connection.hpp"

using namespace rsm;

namespace {

int reports = 0;

int on_report(sd_bus_message* m, void*, sd_bus_error*) {
    ++reports;
    return sd_bus_reply_method_return(m, nullptr);
}

const sd_bus_vtable control_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("ReportActivity", "", "", &on_report, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL("DisconnectRequested", "s", 0),
    SD_BUS_VTABLE_END,
};

// Both ends' work until neither has any (a few rounds of poll).
void pump(sd_bus* server, gateway::ActivityReporter& r) {
    for (int i = 0; i < 50; ++i) {
        while (server && sd_bus_process(server, nullptr) > 0) {
        }
        pollfd p[2]{{server ? sd_bus_get_fd(server) : -1, POLLIN, 0}, {r.fd(), r.events(), 0}};
        if (::poll(p, 2, 20) == 0) return;
        if (p[1].revents && !r.process()) return;
    }
}

}  // namespace

TEST_CASE("ReportActivity at most once per interval, the closing signal's reason", "[gateway][activity]") {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
    BusPtr server = bus::make_handed_over_server(UniqueFd{sv[0]}, nullptr);
    sd_bus_slot* slot = nullptr;
    REQUIRE(sd_bus_add_object_vtable(server.get(), &slot, "/org/rsm/SessionControl1", "org.rsm.SessionControl1",
                                     control_vtable, nullptr) >= 0);
    const SlotPtr object{slot};
    UniqueFd client{sv[1]};
    reports = 0;
    gateway::ActivityReporter r{client.get(), 2'000'000};
    REQUIRE(r.error().empty());
    client.reset();  // the reporter's duplicate keeps the channel open

    r.input(10'000'000);
    r.input(10'500'000);
    r.input(11'900'000);
    pump(server.get(), r);
    CHECK(reports == 1);
    r.input(12'000'000);
    pump(server.get(), r);
    CHECK(reports == 2);
    CHECK(r.reason().empty());

    REQUIRE(sd_bus_emit_signal(server.get(), "/org/rsm/SessionControl1", "org.rsm.SessionControl1",
                               "DisconnectRequested", "s", "idle") >= 0);
    REQUIRE(sd_bus_flush(server.get()) >= 0);
    server.reset();  // rsm closes the channel right after
    bool open = true;
    for (int i = 0; i < 50 && open; ++i) {
        pollfd p{r.fd(), static_cast<short>(r.events() | POLLIN), 0};
        (void)::poll(&p, 1, 20);
        open = r.process();
    }
    CHECK_FALSE(open);
    CHECK(r.reason() == "DisconnectRequested: idle");
}
