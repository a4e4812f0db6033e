// Tests for src/access/throttle: the time is injected, so every case drives
// a fake clock starting at t0.
#include <catch2/catch.hpp>

#include "access/throttle.hpp"

using rsm::access::LoginThrottle;
using namespace std::chrono_literals;

namespace {

const LoginThrottle::TimePoint t0{1000h};

rsm::config::Throttle settings(unsigned max_failures, std::chrono::seconds window, std::chrono::seconds lockout) {
    rsm::config::Throttle t;
    t.max_failures = max_failures;
    t.window = window;
    t.lockout = lockout;
    return t;
}

}  // namespace

TEST_CASE("throttle: max_failures within the window locks the source out", "[throttle]") {
    LoginThrottle throttle{settings(3, 60s, 120s)};
    throttle.record_failure("10.0.0.1", t0);
    throttle.record_failure("10.0.0.1", t0 + 1s);
    CHECK_FALSE(throttle.refused_for("10.0.0.1", t0 + 2s));
    throttle.record_failure("10.0.0.1", t0 + 2s);
    CHECK(throttle.refused_for("10.0.0.1", t0 + 2s) == 120s);
    // Rounded up: 500 ms left still reads as one second.
    CHECK(throttle.refused_for("10.0.0.1", t0 + 2s + 119500ms) == 1s);
    // Other sources are unaffected.
    CHECK_FALSE(throttle.refused_for("10.0.0.2", t0 + 2s));
}

TEST_CASE("throttle: the lockout expires", "[throttle]") {
    LoginThrottle throttle{settings(2, 60s, 30s)};
    throttle.record_failure("s", t0);
    throttle.record_failure("s", t0);
    CHECK(throttle.refused_for("s", t0 + 29s) == 1s);
    CHECK_FALSE(throttle.refused_for("s", t0 + 30s));
    // After the lockout the count starts from zero.
    throttle.record_failure("s", t0 + 31s);
    CHECK_FALSE(throttle.refused_for("s", t0 + 31s));
    throttle.record_failure("s", t0 + 32s);
    CHECK(throttle.refused_for("s", t0 + 32s) == 30s);
}

TEST_CASE("throttle: the window slides", "[throttle]") {
    LoginThrottle throttle{settings(3, 60s, 60s)};
    // Failures at 0, 59, 61, 62: the first has left the window at 61 and 62,
    // but 59, 61, 62 are three within 60 s.
    throttle.record_failure("s", t0);
    throttle.record_failure("s", t0 + 59s);
    throttle.record_failure("s", t0 + 61s);
    CHECK_FALSE(throttle.refused_for("s", t0 + 61s));
    throttle.record_failure("s", t0 + 62s);
    CHECK(throttle.refused_for("s", t0 + 62s) == 60s);
}

TEST_CASE("throttle: failures spread wider than the window never lock out", "[throttle]") {
    LoginThrottle throttle{settings(3, 60s, 60s)};
    for (int i = 0; i < 20; ++i) {
        throttle.record_failure("s", t0 + i * 30s);
        CHECK_FALSE(throttle.refused_for("s", t0 + i * 30s));
    }
    // Exactly window apart: the older one has just left the window.
    LoginThrottle edge{settings(2, 60s, 60s)};
    edge.record_failure("s", t0);
    edge.record_failure("s", t0 + 60s);
    CHECK_FALSE(edge.refused_for("s", t0 + 60s));
}

TEST_CASE("throttle: failures during a lockout do not extend it", "[throttle]") {
    LoginThrottle throttle{settings(1, 60s, 60s)};
    throttle.record_failure("s", t0);
    throttle.record_failure("s", t0 + 50s);
    CHECK(throttle.refused_for("s", t0 + 50s) == 10s);
}

TEST_CASE("throttle: a success clears the source", "[throttle]") {
    LoginThrottle throttle{settings(2, 60s, 60s)};
    throttle.record_failure("s", t0);
    throttle.record_success("s", t0 + 1s);
    throttle.record_failure("s", t0 + 2s);
    CHECK_FALSE(throttle.refused_for("s", t0 + 2s));
    CHECK(throttle.tracked_sources() == 1);

    throttle.record_failure("s", t0 + 3s);
    REQUIRE(throttle.refused_for("s", t0 + 3s));
    throttle.record_success("s", t0 + 4s);
    CHECK_FALSE(throttle.refused_for("s", t0 + 4s));
    CHECK(throttle.tracked_sources() == 0);
}

TEST_CASE("throttle: max_failures 0 disables it", "[throttle]") {
    LoginThrottle throttle{settings(0, 60s, 60s)};
    for (int i = 0; i < 100; ++i)
        throttle.record_failure("s", t0);
    CHECK_FALSE(throttle.refused_for("s", t0));
    CHECK(throttle.tracked_sources() == 0);
}

TEST_CASE("throttle: reconfigure keeps state, disabling forgets it", "[throttle]") {
    LoginThrottle throttle{settings(2, 60s, 60s)};
    throttle.record_failure("s", t0);
    throttle.reconfigure(settings(2, 60s, 600s));
    throttle.record_failure("s", t0 + 1s);
    CHECK(throttle.refused_for("s", t0 + 1s) == 600s);

    throttle.reconfigure(settings(0, 60s, 600s));
    CHECK_FALSE(throttle.refused_for("s", t0 + 1s));
    CHECK(throttle.tracked_sources() == 0);
}

TEST_CASE("throttle: old entries are forgotten", "[throttle]") {
    LoginThrottle throttle{settings(3, 60s, 300s)};
    throttle.record_failure("a", t0);               // forgettable at t0+60
    throttle.record_failure("b", t0);
    throttle.record_failure("b", t0);
    throttle.record_failure("b", t0);               // locked until t0+300
    CHECK(throttle.tracked_sources() == 2);
    throttle.record_failure("c", t0 + 61s);
    CHECK(throttle.tracked_sources() == 2);         // a dropped, b still locked
    throttle.record_failure("c", t0 + 301s);
    CHECK(throttle.tracked_sources() == 1);         // b's lockout has ended
    CHECK_FALSE(throttle.refused_for("b", t0 + 301s));
}

TEST_CASE("throttle: the number of sources is capped", "[throttle]") {
    LoginThrottle throttle{settings(2, 60s, 600s), 100};
    // One locked source first; many one-failure sources after it.
    throttle.record_failure("locked", t0);
    throttle.record_failure("locked", t0);
    for (int i = 0; i < 1000; ++i) {
        throttle.record_failure("10.0.0." + std::to_string(i), t0 + std::chrono::milliseconds{i});
        CHECK(throttle.tracked_sources() <= 100);
    }
    CHECK(throttle.tracked_sources() == 100);
    // The entries closest to expiry went first: the newest sources and the
    // lockout (which outlives them all) are still known.
    CHECK(throttle.refused_for("locked", t0 + 1s) == 599s);
    throttle.record_failure("10.0.0.999", t0 + 2s);
    CHECK(throttle.refused_for("10.0.0.999", t0 + 2s) == 600s);
}
