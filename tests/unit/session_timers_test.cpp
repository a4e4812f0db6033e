// Tests for daemons/rsm-session/session_timers: the executor's countdowns on
// a real sd-event loop, and a reload's new limit counted from the start of a
// countdown that is already running (Executor1.SetLimits).
#include <catch2/catch.hpp>

#include <systemd/sd-event.h>
#include <vector>

#include "../../daemons/rsm-session/session_timers.hpp"

using rsm::session::SessionTimers;
using rsm::session::Timer;

namespace {

struct Loop {
    sd_event* e = nullptr;
    Loop() { REQUIRE(sd_event_new(&e) >= 0); }
    ~Loop() { sd_event_unref(e); }
    // Runs until `done` or `max_usec` of loop time pass.
    template <class Done>
    void run(Done done, uint64_t max_usec = 2'000'000) {
        uint64_t start = 0, now = 0;
        sd_event_now(e, CLOCK_MONOTONIC, &start);
        while (!done()) {
            REQUIRE(sd_event_run(e, 50'000) >= 0);
            sd_event_now(e, CLOCK_MONOTONIC, &now);
            if (now - start > max_usec) break;
        }
    }
};

}  // namespace

TEST_CASE("session timers: a countdown fires once after its limit", "[session_timers]") {
    Loop loop;
    std::vector<Timer> fired;
    SessionTimers t{loop.e, {0, 0, 20'000, 0}, [&](Timer w) { fired.push_back(w); }};
    t.arm(Timer::disconnected);
    CHECK(t.armed(Timer::disconnected));
    loop.run([&] { return !fired.empty(); });
    REQUIRE(fired == std::vector<Timer>{Timer::disconnected});
    CHECK_FALSE(t.armed(Timer::disconnected));
}

TEST_CASE("session timers: limit 0 never fires, a reload's limit counts from the arm", "[session_timers]") {
    Loop loop;
    std::vector<Timer> fired;
    SessionTimers t{loop.e, {0, 0, 0, 0}, [&](Timer w) { fired.push_back(w); }};
    t.arm(Timer::disconnected);
    CHECK_FALSE(t.armed(Timer::disconnected));  // runs, but cannot expire
    loop.run([] { return false; }, 100'000);
    CHECK(fired.empty());
    // 100 ms have passed since the arm: a 50 ms limit is over already.
    t.set_limit(Timer::disconnected, 50'000);
    CHECK(t.armed(Timer::disconnected));
    loop.run([&] { return !fired.empty(); }, 100'000);
    CHECK(fired == std::vector<Timer>{Timer::disconnected});
}

TEST_CASE("session timers: set_limit on a countdown not running waits for the next arm", "[session_timers]") {
    Loop loop;
    std::vector<Timer> fired;
    SessionTimers t{loop.e, {0, 0, 0, 0}, [&](Timer w) { fired.push_back(w); }};
    t.set_limit(Timer::idle, 10'000);
    loop.run([] { return false; }, 50'000);
    CHECK(fired.empty());
    t.arm(Timer::idle);
    loop.run([&] { return !fired.empty(); });
    CHECK(fired == std::vector<Timer>{Timer::idle});
    // Disarmed countdowns ignore new limits; 0 stops one that runs.
    fired.clear();
    t.arm(Timer::idle);
    t.set_limit(Timer::idle, 0);
    loop.run([] { return false; }, 50'000);
    CHECK(fired.empty());
    t.disarm(Timer::idle);
    t.set_limit(Timer::idle, 1'000);
    loop.run([] { return false; }, 50'000);
    CHECK(fired.empty());
}
