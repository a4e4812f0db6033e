// Tests for src/bus/quiet_attachment: a bus watched without sd-bus's
// per-iteration callbacks still gets its calls, replies, deadlines, large
// writes, passed fds and hang-ups, and idle buses are never woken.
#include <catch2/catch.hpp>

#include <chrono>
#include <fcntl.h>
#include <memory>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "bus/connection.hpp"
#include "bus/quiet_attachment.hpp"
#include "util/fd.hpp"
#include "util/handles.hpp"

using rsm::BusPtr;
using rsm::EventPtr;
using rsm::SlotPtr;
using rsm::UniqueFd;
using rsm::bus::QuietAttachment;

namespace {

constexpr const char* path = "/test";
constexpr const char* iface = "org.rsm.Test";

struct Server {
    BusPtr bus;
    std::unique_ptr<QuietAttachment> attachment;
    SlotPtr object, disconnect;
    bool disconnected = false;
};

struct Client {
    BusPtr bus;
    rsm::EventSourcePtr start;
    SlotPtr object;
};

int on_echo(sd_bus_message* m, void*, sd_bus_error*) {
    const char* s = nullptr;
    if (sd_bus_message_read(m, "s", &s) < 0) return -EINVAL;
    return sd_bus_reply_method_return(m, "s", s);
}

int on_fd_size(sd_bus_message* m, void*, sd_bus_error*) {
    int fd = -1;
    if (sd_bus_message_read(m, "h", &fd) < 0) return -EINVAL;
    char buf[64];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    return sd_bus_reply_method_return(m, "x", static_cast<int64_t>(n));
}

// Never answers: the caller's deadline must fire.
int on_silent(sd_bus_message*, void*, sd_bus_error*) { return 1; }

const sd_bus_vtable vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Echo", "s", "s", on_echo, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("FdSize", "h", "x", on_fd_size, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Silent", "", "", on_silent, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

int on_disconnected(sd_bus_message*, void* userdata, sd_bus_error*) {
    auto* s = static_cast<Server*>(userdata);
    s->disconnected = true;
    s->attachment.reset();  // as the manager does: the owner goes away
    return 0;
}

struct Pair {
    std::unique_ptr<Server> server;
    Client client;
};

// A quiet server (as the manager's link) and an ordinary attached client (as
// the executor), each exporting `vtable`.
Pair make_pair(sd_event* e) {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    Pair p;
    p.client.bus = rsm::bus::make_client(UniqueFd{sv[1]}, e);
    p.client.start = rsm::bus::process_until_running(p.client.bus.get(), e);
    sd_bus_slot* slot = nullptr;
    REQUIRE(sd_bus_add_object_vtable(p.client.bus.get(), &slot, path, iface, vtable, nullptr) >= 0);
    p.client.object.reset(slot);
    p.server = std::make_unique<Server>();
    p.server->bus = rsm::bus::make_server(UniqueFd{sv[0]}, nullptr);
    slot = nullptr;
    REQUIRE(sd_bus_add_object_vtable(p.server->bus.get(), &slot, path, iface, vtable, nullptr) >= 0);
    p.server->object.reset(slot);
    slot = nullptr;
    REQUIRE(sd_bus_match_signal(p.server->bus.get(), &slot, "org.freedesktop.DBus.Local",
                                "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local", "Disconnected",
                                on_disconnected, p.server.get()) >= 0);
    p.server->disconnect.reset(slot);
    p.server->attachment = std::make_unique<QuietAttachment>(p.server->bus.get(), e);
    return p;
}

struct Reply {
    bool done = false;
    std::string error;
    std::string text;
    int64_t number = 0;
};

int on_reply(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* r = static_cast<Reply*>(userdata);
    r->done = true;
    if (const sd_bus_error* e = sd_bus_message_get_error(m)) {
        r->error = e->name;
        return 1;
    }
    const char* sig = sd_bus_message_get_signature(m, 1);
    if (sig && std::string(sig) == "s") {
        const char* s = nullptr;
        if (sd_bus_message_read(m, "s", &s) >= 0) r->text = s;
    } else if (sig && std::string(sig) == "x") {
        (void)sd_bus_message_read(m, "x", &r->number);
    }
    return 1;
}

// Runs the loop until `done()` or 5 s pass; returns the iterations run.
template <class F>
int run_until(sd_event* e, F done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int n = 0;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        REQUIRE(sd_event_run(e, 100'000) >= 0);
        ++n;
    }
    return n;
}

EventPtr new_event() {
    sd_event* raw = nullptr;
    REQUIRE(sd_event_new(&raw) >= 0);
    return EventPtr{raw};
}

}  // namespace

TEST_CASE("quiet attachment: the client's first call is answered at once", "[quiet_attachment]") {
    EventPtr e = new_event();
    Pair p = make_pair(e.get());
    Reply r;
    SlotPtr slot;
    sd_bus_slot* raw = nullptr;
    // Sent before the handshake ends: it arrives with BEGIN (the 252 stall).
    REQUIRE(sd_bus_call_method_async(p.client.bus.get(), &raw, nullptr, path, iface, "Echo", on_reply, &r, "s",
                                     "hello") >= 0);
    slot.reset(raw);
    const auto t0 = std::chrono::steady_clock::now();
    run_until(e.get(), [&] { return r.done; });
    REQUIRE(r.done);
    CHECK(r.error.empty());
    CHECK(r.text == "hello");
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
}

TEST_CASE("quiet attachment: server calls get replies, deadlines and passed fds", "[quiet_attachment]") {
    EventPtr e = new_event();
    Pair p = make_pair(e.get());
    sd_bus* sb = p.server->bus.get();

    Reply echo;
    sd_bus_slot* raw = nullptr;
    REQUIRE(sd_bus_call_method_async(sb, &raw, nullptr, path, iface, "Echo", on_reply, &echo, "s", "x") >= 0);
    SlotPtr s1{raw};
    p.server->attachment->refresh();
    run_until(e.get(), [&] { return echo.done; });
    CHECK(echo.text == "x");

    SECTION("a call never answered fails at its deadline") {
        sd_bus_message* m = nullptr;
        REQUIRE(sd_bus_message_new_method_call(sb, &m, nullptr, path, iface, "Silent") >= 0);
        rsm::MessagePtr call{m};
        Reply silent;
        raw = nullptr;
        REQUIRE(sd_bus_call_async(sb, &raw, call.get(), on_reply, &silent, 200'000) >= 0);
        SlotPtr s2{raw};
        p.server->attachment->refresh();
        const auto t0 = std::chrono::steady_clock::now();
        run_until(e.get(), [&] { return silent.done; });
        const auto took = std::chrono::steady_clock::now() - t0;
        REQUIRE(silent.done);
        CHECK(silent.error == "org.freedesktop.DBus.Error.NoReply");
        CHECK(took >= std::chrono::milliseconds(150));
        CHECK(took < std::chrono::seconds(2));
    }

    SECTION("a passed fd arrives") {
        int pipefd[2];
        REQUIRE(::pipe2(pipefd, O_CLOEXEC) == 0);
        UniqueFd rd{pipefd[0]}, wr{pipefd[1]};
        REQUIRE(::write(wr.get(), "abc", 3) == 3);
        wr.reset();
        Reply size;
        raw = nullptr;
        REQUIRE(sd_bus_call_method_async(sb, &raw, nullptr, path, iface, "FdSize", on_reply, &size, "h",
                                         rd.get()) >= 0);
        SlotPtr s3{raw};
        p.server->attachment->refresh();
        run_until(e.get(), [&] { return size.done; });
        CHECK(size.error.empty());
        CHECK(size.number == 3);
    }

    SECTION("a message larger than the socket buffer is written in full") {
        // Bigger than the socket buffer (sd-bus asks for 8 MiB, forced as
        // root): sd_bus_send leaves the rest queued, and only EPOLLOUT
        // gets it out.
        const std::string big(40 * 1024 * 1024, 'b');
        Reply r;
        raw = nullptr;
        REQUIRE(sd_bus_call_method_async(sb, &raw, nullptr, path, iface, "Echo", on_reply, &r, "s", big.c_str()) >=
                0);
        SlotPtr s4{raw};
        uint64_t queued = 0;
        REQUIRE(sd_bus_get_n_queued_write(sb, &queued) >= 0);
        CHECK(queued > 0);
        p.server->attachment->refresh();
        run_until(e.get(), [&] { return r.done; });
        CHECK(r.error.empty());
        CHECK(r.text.size() == big.size());
    }

    SECTION("the client's hang-up is seen, and the closed link is left alone") {
        p.client.start.reset();
        p.client.object.reset();
        p.client.bus.reset();
        run_until(e.get(), [&] { return p.server->disconnected; });
        REQUIRE(p.server->disconnected);
        // Nothing is left to wake the loop: no spinning on a dead socket.
        CHECK(sd_event_run(e.get(), 50'000) == 0);
    }
}

TEST_CASE("quiet attachment: idle buses are not woken by the loop", "[quiet_attachment]") {
    EventPtr e = new_event();
    std::vector<Pair> pairs;
    for (int i = 0; i < 50; ++i) pairs.push_back(make_pair(e.get()));
    Pair& busy = pairs.front();
    // Let every handshake finish.
    Reply first;
    sd_bus_slot* raw = nullptr;
    REQUIRE(sd_bus_call_method_async(busy.client.bus.get(), &raw, nullptr, path, iface, "Echo", on_reply, &first,
                                     "s", "a") >= 0);
    SlotPtr s0{raw};
    for (auto& p : pairs) {
        Reply r;
        raw = nullptr;
        REQUIRE(sd_bus_call_method_async(p.server->bus.get(), &raw, nullptr, path, iface, "Echo", on_reply, &r, "s",
                                         "b") >= 0);
        SlotPtr s{raw};
        p.server->attachment->refresh();
        run_until(e.get(), [&] { return r.done; });
        REQUIRE(r.done);
    }
    std::vector<uint64_t> before;
    for (auto& p : pairs) before.push_back(p.server->attachment->wakeups());

    // 200 loop iterations of traffic on one link only.
    for (int i = 0; i < 200; ++i) {
        Reply r;
        raw = nullptr;
        REQUIRE(sd_bus_call_method_async(busy.client.bus.get(), &raw, nullptr, path, iface, "Echo", on_reply, &r,
                                         "s", "c") >= 0);
        SlotPtr s{raw};
        run_until(e.get(), [&] { return r.done; });
        REQUIRE(r.done);
    }
    CHECK(busy.server->attachment->wakeups() > before.front());
    for (std::size_t i = 1; i < pairs.size(); ++i) CHECK(pairs[i].server->attachment->wakeups() == before[i]);
}
