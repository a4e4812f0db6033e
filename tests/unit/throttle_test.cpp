// Tests for src/access/throttle: the time is injected, so every case drives
// a fake clock starting at t0. The first cases check one (source, user)
// pair's window (the per-source total switched off); the later ones how
// pairs and sources interact.
#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "access/throttle.hpp"

using rsm::access::LoginThrottle;
using namespace std::chrono_literals;

namespace {

const LoginThrottle::TimePoint t0{1000h};

rsm::config::Throttle settings(unsigned max_failures, std::chrono::seconds window, std::chrono::seconds lockout,
                               unsigned max_failures_per_source = 0) {
    rsm::config::Throttle t;
    t.max_failures = max_failures;
    t.max_failures_per_source = max_failures_per_source;
    t.window = window;
    t.lockout = lockout;
    return t;
}

// How long `user` (default "u") is refused from `source`, if at all.
std::optional<std::chrono::seconds> refused(const LoginThrottle& t, const std::string& source,
                                            LoginThrottle::TimePoint now, const std::string& user = "u") {
    if (auto r = t.refused_for(source, user, now)) return r->wait;
    return std::nullopt;
}

}  // namespace

TEST_CASE("throttle: max_failures within the window locks the source out", "[throttle]") {
    LoginThrottle throttle{settings(3, 60s, 120s)};
    throttle.record_failure("10.0.0.1", "u", t0);
    throttle.record_failure("10.0.0.1", "u", t0 + 1s);
    CHECK_FALSE(refused(throttle, "10.0.0.1", t0 + 2s));
    throttle.record_failure("10.0.0.1", "u", t0 + 2s);
    CHECK(refused(throttle, "10.0.0.1", t0 + 2s) == 120s);
    // Rounded up: 500 ms left still reads as one second.
    CHECK(refused(throttle, "10.0.0.1", t0 + 2s + 119500ms) == 1s);
    // Other sources are unaffected.
    CHECK_FALSE(refused(throttle, "10.0.0.2", t0 + 2s));
}

TEST_CASE("throttle: the lockout expires", "[throttle]") {
    LoginThrottle throttle{settings(2, 60s, 30s)};
    throttle.record_failure("s", "u", t0);
    throttle.record_failure("s", "u", t0);
    CHECK(refused(throttle, "s", t0 + 29s) == 1s);
    CHECK_FALSE(refused(throttle, "s", t0 + 30s));
    // After the lockout the count starts from zero.
    throttle.record_failure("s", "u", t0 + 31s);
    CHECK_FALSE(refused(throttle, "s", t0 + 31s));
    throttle.record_failure("s", "u", t0 + 32s);
    CHECK(refused(throttle, "s", t0 + 32s) == 30s);
}

TEST_CASE("throttle: the window slides", "[throttle]") {
    LoginThrottle throttle{settings(3, 60s, 60s)};
    // Failures at 0, 59, 61, 62: the first has left the window at 61 and 62,
    // but 59, 61, 62 are three within 60 s.
    throttle.record_failure("s", "u", t0);
    throttle.record_failure("s", "u", t0 + 59s);
    throttle.record_failure("s", "u", t0 + 61s);
    CHECK_FALSE(refused(throttle, "s", t0 + 61s));
    throttle.record_failure("s", "u", t0 + 62s);
    CHECK(refused(throttle, "s", t0 + 62s) == 60s);
}

TEST_CASE("throttle: failures spread wider than the window never lock out", "[throttle]") {
    LoginThrottle throttle{settings(3, 60s, 60s)};
    for (int i = 0; i < 20; ++i) {
        throttle.record_failure("s", "u", t0 + i * 30s);
        CHECK_FALSE(refused(throttle, "s", t0 + i * 30s));
    }
    // Exactly window apart: the older one has just left the window.
    LoginThrottle edge{settings(2, 60s, 60s)};
    edge.record_failure("s", "u", t0);
    edge.record_failure("s", "u", t0 + 60s);
    CHECK_FALSE(refused(edge, "s", t0 + 60s));
}

TEST_CASE("throttle: failures during a lockout do not extend it", "[throttle]") {
    LoginThrottle throttle{settings(1, 60s, 60s)};
    throttle.record_failure("s", "u", t0);
    throttle.record_failure("s", "u", t0 + 50s);
    CHECK(refused(throttle, "s", t0 + 50s) == 10s);
}

TEST_CASE("throttle: a success clears the pair", "[throttle]") {
    LoginThrottle throttle{settings(2, 60s, 60s)};
    throttle.record_failure("s", "u", t0);
    throttle.record_success("s", "u", t0 + 1s);
    throttle.record_failure("s", "u", t0 + 2s);
    CHECK_FALSE(refused(throttle, "s", t0 + 2s));
    CHECK(throttle.tracked_entries() == 1);

    throttle.record_failure("s", "u", t0 + 3s);
    REQUIRE(refused(throttle, "s", t0 + 3s));
    throttle.record_success("s", "u", t0 + 4s);
    CHECK_FALSE(refused(throttle, "s", t0 + 4s));
    CHECK(throttle.tracked_entries() == 0);
}

TEST_CASE("throttle: max_failures 0 disables it", "[throttle]") {
    LoginThrottle throttle{settings(0, 60s, 60s)};
    for (int i = 0; i < 100; ++i)
        throttle.record_failure("s", "u", t0);
    CHECK_FALSE(refused(throttle, "s", t0));
    CHECK(throttle.tracked_entries() == 0);
}

TEST_CASE("throttle: reconfigure keeps state, disabling forgets it", "[throttle]") {
    LoginThrottle throttle{settings(2, 60s, 60s)};
    throttle.record_failure("s", "u", t0);
    throttle.reconfigure(settings(2, 60s, 600s));
    throttle.record_failure("s", "u", t0 + 1s);
    CHECK(refused(throttle, "s", t0 + 1s) == 600s);

    throttle.reconfigure(settings(0, 60s, 600s));
    CHECK_FALSE(refused(throttle, "s", t0 + 1s));
    CHECK(throttle.tracked_entries() == 0);
}

TEST_CASE("throttle: old entries are forgotten", "[throttle]") {
    LoginThrottle throttle{settings(3, 60s, 300s)};
    throttle.record_failure("a", "u", t0);               // forgettable at t0+60
    throttle.record_failure("b", "u", t0);
    throttle.record_failure("b", "u", t0);
    throttle.record_failure("b", "u", t0);               // locked until t0+300
    CHECK(throttle.tracked_entries() == 2);
    throttle.record_failure("c", "u", t0 + 61s);
    CHECK(throttle.tracked_entries() == 2);         // a dropped, b still locked
    throttle.record_failure("c", "u", t0 + 301s);
    CHECK(throttle.tracked_entries() == 1);         // b's lockout has ended
    CHECK_FALSE(refused(throttle, "b", t0 + 301s));
}

TEST_CASE("throttle: the number of sources is capped", "[throttle]") {
    LoginThrottle throttle{settings(2, 60s, 600s), 100};
    // One locked source first; many one-failure sources after it.
    throttle.record_failure("locked", "u", t0);
    throttle.record_failure("locked", "u", t0);
    for (int i = 0; i < 1000; ++i) {
        throttle.record_failure("10.0.0." + std::to_string(i), "u", t0 + std::chrono::milliseconds{i});
        CHECK(throttle.tracked_entries() <= 100);
    }
    CHECK(throttle.tracked_entries() == 100);
    // The entries closest to expiry went first: the newest sources and the
    // lockout (which outlives them all) are still known.
    CHECK(refused(throttle, "locked", t0 + 1s) == 599s);
    throttle.record_failure("10.0.0.999", "u", t0 + 2s);
    CHECK(refused(throttle, "10.0.0.999", t0 + 2s) == 600s);
}

// -- (source, user) pairs and per-source totals ---------------------------------

TEST_CASE("throttle: failures count per target user", "[throttle]") {
    LoginThrottle throttle{settings(3, 60s, 120s)};
    for (int i = 0; i < 3; ++i) throttle.record_failure("10.0.0.1", "bob", t0);
    REQUIRE(throttle.refused_for("10.0.0.1", "bob", t0));
    CHECK_FALSE(throttle.refused_for("10.0.0.1", "bob", t0)->whole_source);
    // Another user from the same source, and bob from another source, may try.
    CHECK_FALSE(throttle.refused_for("10.0.0.1", "alice", t0));
    CHECK_FALSE(throttle.refused_for("10.0.0.2", "bob", t0));
}

TEST_CASE("throttle: a success never clears another user's failures", "[throttle]") {
    // The attack of issue #9: wrong for bob x(max-1), right for alice, wrong
    // for bob once more -> bob is locked out.
    LoginThrottle throttle{settings(3, 60s, 120s, 20)};
    throttle.record_failure("uid:1002", "bob", t0);
    throttle.record_failure("uid:1002", "bob", t0 + 1s);
    throttle.record_success("uid:1002", "alice", t0 + 2s);
    throttle.record_failure("uid:1002", "bob", t0 + 3s);
    REQUIRE(throttle.refused_for("uid:1002", "bob", t0 + 3s));
    CHECK(throttle.refused_for("uid:1002", "bob", t0 + 3s)->wait == 120s);
    CHECK_FALSE(throttle.refused_for("uid:1002", "alice", t0 + 3s));
}

TEST_CASE("throttle: a success clears that user's own failures only", "[throttle]") {
    LoginThrottle throttle{settings(2, 60s, 60s, 4)};
    throttle.record_failure("s", "alice", t0);
    throttle.record_failure("s", "bob", t0);
    throttle.record_success("s", "alice", t0 + 1s);
    throttle.record_failure("s", "alice", t0 + 2s);
    CHECK_FALSE(throttle.refused_for("s", "alice", t0 + 2s));  // alice starts over
    throttle.record_failure("s", "bob", t0 + 2s);
    CHECK(throttle.refused_for("s", "bob", t0 + 2s));          // bob does not
}

TEST_CASE("throttle: max_failures_per_source bounds spraying over many users", "[throttle]") {
    LoginThrottle throttle{settings(5, 60s, 300s, 4)};
    for (int i = 0; i < 3; ++i) throttle.record_failure("s", "user" + std::to_string(i), t0 + i * 1s);
    CHECK_FALSE(throttle.refused_for("s", "anyone", t0 + 3s));
    throttle.record_failure("s", "user3", t0 + 3s);
    // Four users with one failure each: the source as a whole is refused,
    // for every name, including ones never tried; other sources are not.
    REQUIRE(throttle.refused_for("s", "anyone", t0 + 3s));
    CHECK(throttle.refused_for("s", "anyone", t0 + 3s)->whole_source);
    CHECK(throttle.refused_for("s", "anyone", t0 + 3s)->wait == 300s);
    CHECK_FALSE(throttle.refused_for("t", "anyone", t0 + 3s));
    // A success does not lift the source-wide lockout.
    throttle.record_success("s", "user0", t0 + 4s);
    CHECK(throttle.refused_for("s", "user0", t0 + 4s));
    CHECK_FALSE(throttle.refused_for("s", "user0", t0 + 304s));
}

TEST_CASE("throttle: the longer of the two lockouts is reported", "[throttle]") {
    LoginThrottle throttle{settings(2, 600s, 60s, 3)};
    throttle.record_failure("s", "bob", t0);
    throttle.record_failure("s", "bob", t0);  // bob locked until t0+60
    CHECK(throttle.refused_for("s", "bob", t0 + 10s)->wait == 50s);
    throttle.record_failure("s", "carol", t0 + 30s);  // 3 for the source: all locked until t0+90
    auto r = throttle.refused_for("s", "bob", t0 + 30s);
    REQUIRE(r);
    CHECK(r->whole_source);
    CHECK(r->wait == 60s);
}

TEST_CASE("throttle: max_failures_per_source 0 means no source total", "[throttle]") {
    LoginThrottle throttle{settings(2, 60s, 60s, 0)};
    for (int i = 0; i < 100; ++i) throttle.record_failure("s", "user" + std::to_string(i), t0);
    CHECK_FALSE(throttle.refused_for("s", "user100", t0));
    CHECK(throttle.tracked_entries() == 100);
}

TEST_CASE("throttle: a source and a user cannot be confused for each other", "[throttle]") {
    // The pair key joins source and user with a newline, which neither can hold.
    LoginThrottle throttle{settings(1, 60s, 60s)};
    throttle.record_failure("a", "bc", t0);
    CHECK(throttle.refused_for("a", "bc", t0));
    CHECK_FALSE(throttle.refused_for("ab", "c", t0));
}
