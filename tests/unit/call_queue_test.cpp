// src/bus/call_queue: no more than max_in_flight calls await replies at a
// time, the rest go out in order as replies come in; a cancelled queued
// call is never sent, a cancelled sent one never runs its handler but is
// counted until its reply; a handler may destroy its own QueuedCall.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <sys/socket.h>
#include <vector>

#include "bus/call_queue.hpp"
#include "bus/connection.hpp"
#include "util/fd.hpp"
#include "util/handles.hpp"

using rsm::BusPtr;
using rsm::EventPtr;
using rsm::MessagePtr;
using rsm::SlotPtr;
using rsm::UniqueFd;
using rsm::bus::CallQueue;
using rsm::bus::QueuedCall;

namespace {

constexpr const char* path = "/test";
constexpr const char* iface = "org.rsm.Test";

// The server holds every call (in arrival order) until the test answers it.
struct Server {
    std::vector<MessagePtr> held;
    std::vector<std::string> seen;
};

int on_hold(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* s = static_cast<Server*>(userdata);
    const char* text = nullptr;
    if (sd_bus_message_read(m, "s", &text) < 0) return -EINVAL;
    s->seen.emplace_back(text);
    s->held.push_back(rsm::ref_message(m));
    return 1;
}

const sd_bus_vtable vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Hold", "s", "s", on_hold, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

struct Fixture {
    EventPtr event;
    BusPtr server_bus, client_bus;
    rsm::EventSourcePtr start;
    SlotPtr object;
    Server server;

    Fixture() {
        sd_event* e = nullptr;
        REQUIRE(sd_event_new(&e) >= 0);
        event.reset(e);
        int sv[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        server_bus = rsm::bus::make_server(UniqueFd{sv[0]}, e);
        client_bus = rsm::bus::make_client(UniqueFd{sv[1]}, e);
        start = rsm::bus::process_until_running(client_bus.get(), e);
        sd_bus_slot* slot = nullptr;
        REQUIRE(sd_bus_add_object_vtable(server_bus.get(), &slot, path, iface, vtable, &server) >= 0);
        object.reset(slot);
    }

    MessagePtr hold_call(const std::string& text) {
        sd_bus_message* m = nullptr;
        REQUIRE(sd_bus_message_new_method_call(client_bus.get(), &m, nullptr, path, iface, "Hold") >= 0);
        MessagePtr call{m};
        REQUIRE(sd_bus_message_append(call.get(), "s", text.c_str()) >= 0);
        return call;
    }

    template <class F>
    void run_until(F done) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (!done() && std::chrono::steady_clock::now() < deadline) REQUIRE(sd_event_run(event.get(), 100'000) >= 0);
        REQUIRE(done());
    }

    // Lets every message in flight arrive.
    void settle() {
        for (int i = 0; i < 50; ++i) REQUIRE(sd_event_run(event.get(), 1000) >= 0);
    }

    void answer(std::size_t i) {
        REQUIRE(sd_bus_reply_method_return(server.held.at(i).get(), "s", "ok") >= 0);
    }
};

struct Replies {
    std::vector<std::string> got;
};

int on_reply(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* r = static_cast<Replies*>(userdata);
    r->got.push_back(sd_bus_message_is_method_error(m, nullptr) ? "error" : "ok");
    return 1;
}

}  // namespace

TEST_CASE("CallQueue keeps at most max_in_flight calls waiting and sends the rest in order", "[call_queue]") {
    Fixture f;
    CallQueue q(f.client_bus.get(), 2);
    Replies replies;
    std::vector<QueuedCall> calls(5);
    for (int i = 0; i < 5; ++i)
        REQUIRE(q.call(calls[i], f.hold_call("c" + std::to_string(i)).get(), on_reply, &replies, 0, nullptr) == 0);
    CHECK(q.in_flight() == 2);
    CHECK(q.queued() == 3);
    f.run_until([&] { return f.server.seen.size() == 2; });
    f.settle();
    CHECK(f.server.seen == std::vector<std::string>{"c0", "c1"});

    // A queued call cancelled is never sent.
    calls[2].reset();
    CHECK_FALSE(calls[2]);
    // A sent call cancelled: no handler, but it is counted until its reply.
    calls[0].reset();
    CHECK(q.in_flight() == 2);

    f.answer(0);
    f.run_until([&] { return f.server.seen.size() == 3; });
    CHECK(replies.got.empty());
    CHECK(f.server.seen.back() == "c3");
    f.answer(1);
    f.answer(2);
    f.run_until([&] { return f.server.seen.size() == 4; });
    f.run_until([&] { return replies.got.size() == 2; });
    CHECK(f.server.seen.back() == "c4");
    CHECK(calls[1].operator bool() == false);  // answered
    CHECK(calls[3].operator bool() == false);
    CHECK(calls[4]);
    f.answer(3);
    f.run_until([&] { return replies.got.size() == 3; });
    CHECK(q.in_flight() == 0);
    CHECK(q.queued() == 0);
    f.settle();
    CHECK(f.server.seen.size() == 4);  // c2 never went out
}

namespace {

struct SelfDestroying {
    std::unique_ptr<QueuedCall> call = std::make_unique<QueuedCall>();
    int replies = 0;
};

int on_reply_destroy(sd_bus_message*, void* userdata, sd_bus_error*) {
    auto* s = static_cast<SelfDestroying*>(userdata);
    ++s->replies;
    s->call.reset();  // its owner goes away inside the handler
    return 1;
}

}  // namespace

TEST_CASE("A CallQueue handler may destroy its own QueuedCall; moves keep the call", "[call_queue]") {
    Fixture f;
    CallQueue q(f.client_bus.get(), 1);
    SelfDestroying s;
    REQUIRE(q.call(*s.call, f.hold_call("a").get(), on_reply_destroy, &s, 0, nullptr) == 0);
    Replies replies;
    QueuedCall first;
    REQUIRE(q.call(first, f.hold_call("b").get(), on_reply, &replies, 0, nullptr) == 0);
    QueuedCall moved = std::move(first);
    CHECK_FALSE(first);
    CHECK(moved);
    f.run_until([&] { return f.server.seen.size() == 1; });
    f.answer(0);
    f.run_until([&] { return s.replies == 1 && f.server.seen.size() == 2; });
    CHECK_FALSE(s.call);
    f.answer(1);
    f.run_until([&] { return replies.got.size() == 1; });
    CHECK_FALSE(moved);
}

TEST_CASE("A CallQueue destroyed first leaves its calls' owners empty", "[call_queue]") {
    Fixture f;
    QueuedCall a, b;
    Replies replies;
    {
        CallQueue q(f.client_bus.get(), 1);
        REQUIRE(q.call(a, f.hold_call("a").get(), on_reply, &replies, 0, nullptr) == 0);
        REQUIRE(q.call(b, f.hold_call("b").get(), on_reply, &replies, 0, nullptr) == 0);
    }
    CHECK_FALSE(a);
    CHECK_FALSE(b);
    f.run_until([&] { return f.server.seen.size() == 1; });
    f.answer(0);
    f.settle();
    CHECK(replies.got.empty());
}

TEST_CASE("A floating CallQueue call waits its turn and runs its reply", "[call_queue]") {
    Fixture f;
    CallQueue q(f.client_bus.get(), 1);
    Replies replies;
    QueuedCall first;
    REQUIRE(q.call(first, f.hold_call("a").get(), on_reply, &replies, 0, nullptr) == 0);
    int floating_replies = 0;
    REQUIRE(q.call_floating(f.hold_call("b").get(), [&](sd_bus_message* m) {
        CHECK_FALSE(sd_bus_message_is_method_error(m, nullptr));
        ++floating_replies;
    }, nullptr) == 0);
    CHECK(q.queued() == 1);
    f.run_until([&] { return f.server.seen.size() == 1; });
    f.answer(0);
    f.run_until([&] { return f.server.seen.size() == 2; });
    CHECK(q.queued() == 0);
    f.answer(1);
    f.run_until([&] { return floating_replies == 1; });
    CHECK(q.in_flight() == 0);
}
