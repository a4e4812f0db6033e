// src/pam/session_call_slot: at most `slots` holders at once; a taker
// waits for one to be given back (woken within its deadline), gives up
// without one at the deadline, and a holder that dies frees its slot.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include "pam/session_call_slot.hpp"
#include "temp_dir.hpp"

using rsm::pam::SessionCallSlot;
using namespace std::chrono_literals;

TEST_CASE("session call slots bound the holders and free a dead holder's", "[session_call_slot]") {
    if (geteuid() != 0) {
        WARN("not root: the slots' directory must be root's");
        return;
    }
    rsm::test::TempDir tmp;
    const std::string dir = (tmp.path() / "slots").string();

    SessionCallSlot a = SessionCallSlot::take(dir, 0ms, 2);
    SessionCallSlot b = SessionCallSlot::take(dir, 0ms, 2);
    REQUIRE(a.held());
    REQUIRE(b.held());
    const auto t0 = std::chrono::steady_clock::now();
    SessionCallSlot c = SessionCallSlot::take(dir, 150ms, 2);
    CHECK_FALSE(c.held());
    CHECK(std::chrono::steady_clock::now() - t0 >= 150ms);

    a.release();
    CHECK(SessionCallSlot::take(dir, 0ms, 2).held());

    // A child takes the free slot and dies; the slot is free again.
    int ready[2];
    REQUIRE(pipe(ready) == 0);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        SessionCallSlot mine = SessionCallSlot::take(dir, 0ms, 2);
        char ok = mine.held() ? '1' : '0';
        (void)!write(ready[1], &ok, 1);
        pause();
        _exit(0);
    }
    char ok = 0;
    REQUIRE(read(ready[0], &ok, 1) == 1);
    CHECK(ok == '1');
    CHECK_FALSE(SessionCallSlot::take(dir, 0ms, 2).held());
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    CHECK(SessionCallSlot::take(dir, 0ms, 2).held());
    close(ready[0]);
    close(ready[1]);
}

TEST_CASE("a waiter gets the slot given back before its deadline", "[session_call_slot]") {
    if (geteuid() != 0) {
        WARN("not root: the slots' directory must be root's");
        return;
    }
    rsm::test::TempDir tmp;
    const std::string dir = (tmp.path() / "slots").string();
    SessionCallSlot held = SessionCallSlot::take(dir, 0ms, 1);
    REQUIRE(held.held());
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // Holds the only slot for 200 ms, then exits (gives it back).
        usleep(200'000);
        _exit(0);
    }
    held.release();  // the child's copy of the lock keeps it held
    const auto t0 = std::chrono::steady_clock::now();
    SessionCallSlot mine = SessionCallSlot::take(dir, 5000ms, 1);
    const auto waited = std::chrono::steady_clock::now() - t0;
    waitpid(child, nullptr, 0);
    CHECK(mine.held());
    CHECK(waited < 4000ms);
}

TEST_CASE("no slot without a usable directory", "[session_call_slot]") {
    CHECK_FALSE(SessionCallSlot::take("/proc/self/no-such-dir/slots", 0ms).held());
    CHECK_FALSE(SessionCallSlot::take("relative", 0ms).held());
}
