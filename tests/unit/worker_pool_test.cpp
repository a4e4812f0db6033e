// src/util/worker_pool: blocking calls run on worker threads and are
// answered on the loop, so one call that waits on a slow directory server
// (here: a resolver blocked until the test releases it) holds up neither the
// loop nor the answers for others (rsm-broker's group lookups).
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "util/worker_pool.hpp"

using namespace rsm;

namespace {

// A resolver whose "slow" user waits until released.
struct Gate {
    std::mutex m;
    std::condition_variable cv;
    bool open = false;
    void release() {
        {
            const std::lock_guard l{m};
            open = true;
        }
        cv.notify_all();
    }
    std::vector<std::string> resolve(const std::string& user) {
        if (user == "slow") {
            std::unique_lock l{m};
            cv.wait(l, [this] { return open; });
            return {"ldap-group"};
        }
        return {"staff", user + "-group"};
    }
};

EventPtr new_loop() {
    sd_event* e = nullptr;
    REQUIRE(sd_event_new(&e) >= 0);
    return EventPtr{e};
}

// Runs the loop until `done()` holds (or 10 s pass).
bool run_until(sd_event* e, const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        if (sd_event_run(e, 100'000) < 0) return false;
    }
    return true;
}

}  // namespace

using Groups = std::vector<std::string>;

// A lookup of `user` through `gate`, answered to `done` on the loop.
void lookup(WorkerPool& pool, Gate& gate, const std::string& user, std::function<void(Groups)> done) {
    pool.run<Groups>([&gate, user] { return gate.resolve(user); }, std::move(done));
}

TEST_CASE("A slow call does not hold up the loop or another caller's answer", "[worker-pool]") {
    auto event = new_loop();
    Gate gate;
    std::optional<Groups> slow, fast;
    WorkerPool pool{event.get(), 2};
    lookup(pool, gate, "slow", [&](Groups g) { slow = std::move(g); });
    lookup(pool, gate, "alice", [&](Groups g) { fast = std::move(g); });
    // Never answered from inside run(): always later, on the loop.
    CHECK_FALSE(fast);
    CHECK(pool.pending() == 2);
    REQUIRE(run_until(event.get(), [&] { return fast.has_value(); }));
    CHECK(*fast == Groups{"staff", "alice-group"});
    CHECK_FALSE(slow);  // still waiting on its directory server
    gate.release();
    REQUIRE(run_until(event.get(), [&] { return slow.has_value(); }));
    CHECK(*slow == Groups{"ldap-group"});
    CHECK(pool.pending() == 0);
}

TEST_CASE("More calls than workers are all answered; a done function may start another", "[worker-pool]") {
    auto event = new_loop();
    Gate gate;
    gate.release();
    WorkerPool pool{event.get(), 2};
    int answered = 0;
    bool chained = false;
    for (int i = 0; i < 20; ++i)
        lookup(pool, gate, "u" + std::to_string(i), [&, i](Groups g) {
            CHECK(g.back() == "u" + std::to_string(i) + "-group");
            if (++answered == 20) lookup(pool, gate, "last", [&](Groups) { chained = true; });
        });
    REQUIRE(run_until(event.get(), [&] { return chained; }));
    CHECK(answered == 20);
}

TEST_CASE("Destroying the pool drops unanswered done functions", "[worker-pool]") {
    auto event = new_loop();
    Gate gate;
    bool called = false;
    {
        WorkerPool pool{event.get(), 1};
        lookup(pool, gate, "slow", [&](Groups) { called = true; });
        lookup(pool, gate, "queued", [&](Groups) { called = true; });
        gate.release();  // the worker finishes "slow"; "queued" may never start
    }
    sd_event_run(event.get(), 0);
    CHECK_FALSE(called);
}
