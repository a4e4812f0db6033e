// daemons/rsm-manager/start_deadline: a session start's deadline fires once
// per arm with the step it was armed for, a new step replaces the old one's
// deadline, cancel() silences it, its owner may destroy it from inside the
// callback, and the step names round-trip.
#include <catch2/catch.hpp>

#include <ctime>
#include <memory>
#include <optional>
#include <vector>

#include "daemons/rsm-manager/start_deadline.hpp"
#include "util/handles.hpp"

using rsm::EventPtr;
using rsm::manager::StartDeadline;
using rsm::manager::StartStep;

namespace {

EventPtr new_loop() {
    sd_event* e = nullptr;
    REQUIRE(sd_event_new(&e) >= 0);
    return EventPtr{e};
}

uint64_t now_usec() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

// Runs the loop until `done()` or `limit_usec` passes (a bound, not a
// sleep: it returns as soon as the condition holds).
template <class Pred>
void run_until(sd_event* event, Pred done, uint64_t limit_usec) {
    const uint64_t end = now_usec() + limit_usec;
    while (!done()) {
        const uint64_t now = now_usec();
        if (now >= end) return;
        REQUIRE(sd_event_run(event, end - now) >= 0);
    }
}

// Runs the loop for `usec` whatever happens (to see that nothing does).
void run_for(sd_event* event, uint64_t usec) {
    run_until(event, [] { return false; }, usec);
}

struct Fired {
    StartStep step;
    uint64_t timeout;
    uint64_t at;
};

}  // namespace

TEST_CASE("every start step's name round-trips", "[start_deadline]") {
    for (StartStep s : {StartStep::account_check, StartStep::scope, StartStep::start_session}) {
        const auto back = rsm::manager::start_step_from_string(rsm::manager::to_string(s));
        REQUIRE(back);
        CHECK(*back == s);
    }
    CHECK(std::string(rsm::manager::to_string(StartStep::start_session)) == "start-session");
    CHECK_FALSE(rsm::manager::start_step_from_string("scope "));
    CHECK_FALSE(rsm::manager::start_step_from_string(""));
}

TEST_CASE("a start timeout's message names the step, the bound and its key", "[start_deadline]") {
    using rsm::manager::start_timeout_message;
    CHECK(start_timeout_message(StartStep::account_check, 30'000'000) ==
          "the account check of the session's process did not finish within 30 s (gateway.login_timeout)");
    CHECK(start_timeout_message(StartStep::scope, 5'000'000) ==
          "systemd did not start the session's scope within 5 s (session.startup_timeout)");
    CHECK(start_timeout_message(StartStep::start_session, 35'500'000).find("within 35.5 s (session.startup_timeout + 30 s)") !=
          std::string::npos);
    CHECK(start_timeout_message(StartStep::scope, 250'000).find("within 250 ms") != std::string::npos);
}

TEST_CASE("an armed deadline fires once, with its step, not before its time", "[start_deadline]") {
    EventPtr loop = new_loop();
    std::vector<Fired> fired;
    StartDeadline d(loop.get(), [&](StartStep step, uint64_t timeout) {
        fired.push_back({step, timeout, now_usec()});
    });
    CHECK_FALSE(d.step());
    const uint64_t start = now_usec();
    d.arm(StartStep::scope, 30'000);
    CHECK(d.step() == StartStep::scope);
    run_until(loop.get(), [&] { return !fired.empty(); }, 2'000'000);
    REQUIRE(fired.size() == 1);
    CHECK(fired[0].step == StartStep::scope);
    CHECK(fired[0].timeout == 30'000);
    CHECK(fired[0].at - start >= 30'000);
    CHECK_FALSE(d.step());  // fired: off until armed again
    // It does not fire again by itself.
    run_for(loop.get(), 100'000);
    CHECK(fired.size() == 1);
}

TEST_CASE("arming the next step replaces the deadline of the one before", "[start_deadline]") {
    EventPtr loop = new_loop();
    std::vector<Fired> fired;
    StartDeadline d(loop.get(), [&](StartStep step, uint64_t timeout) {
        fired.push_back({step, timeout, now_usec()});
    });
    const uint64_t start = now_usec();
    d.arm(StartStep::account_check, 20'000);
    d.arm(StartStep::start_session, 120'000);
    run_until(loop.get(), [&] { return !fired.empty(); }, 2'000'000);
    REQUIRE(fired.size() == 1);
    CHECK(fired[0].step == StartStep::start_session);
    CHECK(fired[0].at - start >= 120'000);
    // And armed again after firing, it fires again.
    d.arm(StartStep::scope, 10'000);
    run_until(loop.get(), [&] { return fired.size() == 2; }, 2'000'000);
    REQUIRE(fired.size() == 2);
    CHECK(fired[1].step == StartStep::scope);
}

TEST_CASE("a cancelled deadline never fires", "[start_deadline]") {
    EventPtr loop = new_loop();
    int fired = 0;
    StartDeadline d(loop.get(), [&](StartStep, uint64_t) { ++fired; });
    d.arm(StartStep::scope, 10'000);
    d.cancel();
    CHECK_FALSE(d.step());
    run_for(loop.get(), 150'000);
    CHECK(fired == 0);
    d.cancel();  // twice, and before any arm, is harmless
    StartDeadline never(loop.get(), {});
    never.cancel();
}

TEST_CASE("the callback may destroy its deadline", "[start_deadline]") {
    EventPtr loop = new_loop();
    int fired = 0;
    std::unique_ptr<StartDeadline> d;
    d = std::make_unique<StartDeadline>(loop.get(), [&](StartStep, uint64_t) {
        ++fired;
        d.reset();
    });
    d->arm(StartStep::account_check, 10'000);
    run_until(loop.get(), [&] { return fired > 0; }, 2'000'000);
    CHECK(fired == 1);
    CHECK_FALSE(d);
}
