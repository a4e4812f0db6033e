// Tests for src/access/login_slots: per-uid and per-source caps on running
// logins and the in-order wait line.
#include <catch2/catch.hpp>

#include "access/login_slots.hpp"

using rsm::access::LoginSlots;
using Tickets = std::vector<LoginSlots::Ticket>;

TEST_CASE("login slots: the per-uid cap queues the rest of one uid", "[login_slots]") {
    LoginSlots slots{{2, 10}};
    CHECK(slots.request(1, 1002, true, "uid:1002:a"));
    CHECK(slots.request(2, 1002, true, "uid:1002:b"));
    CHECK_FALSE(slots.request(3, 1002, true, "uid:1002:c"));
    CHECK(slots.waiting(3));
    // Another uid is not held up by the full one.
    CHECK(slots.request(4, 1001, true, "uid:1001"));
    CHECK(slots.running_count() == 3);
    CHECK(slots.release(1) == Tickets{3});
    CHECK(slots.running(3));
    CHECK(slots.running_for_uid(1002) == 2);
}

TEST_CASE("login slots: the per-source cap applies to trusted gateways too", "[login_slots]") {
    LoginSlots slots{{1, 2}};
    // A trusted gateway (uid 0, not uid-limited) serving one address: two
    // at once, the third waits; another address of the same gateway runs.
    CHECK(slots.request(1, 0, false, "192.0.2.1"));
    CHECK(slots.request(2, 0, false, "192.0.2.1"));
    CHECK_FALSE(slots.request(3, 0, false, "192.0.2.1"));
    CHECK(slots.request(4, 0, false, "192.0.2.2"));
    CHECK(slots.running_for_uid(0) == 0);
    CHECK(slots.release(4).empty());
    CHECK(slots.release(2) == Tickets{3});
}

TEST_CASE("login slots: the line is served in order, skipping what cannot run", "[login_slots]") {
    LoginSlots slots{{1, 5}};
    CHECK(slots.request(1, 10, true, "uid:10"));
    CHECK(slots.request(2, 20, true, "uid:20"));
    CHECK_FALSE(slots.request(3, 10, true, "uid:10"));
    CHECK_FALSE(slots.request(4, 20, true, "uid:20"));
    CHECK_FALSE(slots.request(5, 10, true, "uid:10"));
    // uid 20's slot frees: its first waiter starts, uid 10's stay in line.
    CHECK(slots.release(2) == Tickets{4});
    CHECK(slots.release(1) == Tickets{3});
    CHECK(slots.release(3) == Tickets{5});
    CHECK(slots.waiting_count() == 0);
}

TEST_CASE("login slots: leaving the line frees nothing and starts nothing", "[login_slots]") {
    LoginSlots slots{{1, 1}};
    CHECK(slots.request(1, 10, true, "s"));
    CHECK_FALSE(slots.request(2, 10, true, "s"));
    CHECK_FALSE(slots.request(3, 10, true, "s"));
    CHECK(slots.release(2).empty());  // gave up while waiting
    CHECK_FALSE(slots.waiting(2));
    CHECK(slots.running(1));
    CHECK(slots.release(1) == Tickets{3});
    CHECK(slots.release(99).empty());  // unknown ticket: no-op
}

TEST_CASE("login slots: a request is idempotent", "[login_slots]") {
    LoginSlots slots{{1, 1}};
    CHECK(slots.request(1, 10, true, "s"));
    CHECK(slots.request(1, 10, true, "s"));
    CHECK(slots.running_for_uid(10) == 1);
    CHECK_FALSE(slots.request(2, 10, true, "s"));
    CHECK_FALSE(slots.request(2, 10, true, "s"));
    CHECK(slots.waiting_count() == 1);
}

TEST_CASE("login slots: raising the limits starts waiters, lowering stops nobody", "[login_slots]") {
    LoginSlots slots{{1, 1}};
    CHECK(slots.request(1, 10, true, "s"));
    CHECK_FALSE(slots.request(2, 10, true, "s"));
    CHECK_FALSE(slots.request(3, 10, true, "s"));
    CHECK(slots.reconfigure({3, 3}) == Tickets{2, 3});
    CHECK(slots.reconfigure({1, 1}).empty());
    CHECK(slots.running_count() == 3);
    CHECK_FALSE(slots.request(4, 10, true, "s"));
    CHECK(slots.release(1).empty());  // still 2 running, over the new limit
    CHECK(slots.release(2).empty());
    CHECK(slots.release(3) == Tickets{4});
}
