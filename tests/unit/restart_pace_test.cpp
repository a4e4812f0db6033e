// daemons/rsm-manager/restart_pace: the start history's text round-trips and
// refuses anything else, a streak grows only for starts within the window,
// the delays are 0, 100, 200, 400 ms and then 500 ms for ever, and
// pace_restart() keeps the history in its directory (a torn file is a new
// streak).
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "daemons/rsm-manager/restart_pace.hpp"
#include "temp_dir.hpp"

using namespace rsm::manager;

TEST_CASE("start history text round-trips and refuses anything else", "[restart_pace]") {
    const StartStreak s{123456789, 7};
    auto back = parse_start_streak(format_start_streak(s));
    REQUIRE(back);
    CHECK(back->last_usec == 123456789);
    CHECK(back->count == 7);
    for (const char* bad : {"", "1 2", "1 0\n", "x 2\n", "1  2\n", "-1 2\n", "1 2 3\n", "12\n", " 1 2\n"})
        CHECK_FALSE(parse_start_streak(bad));
}

TEST_CASE("a streak grows only for starts within the window", "[restart_pace]") {
    CHECK(next_start_streak(std::nullopt, 5'000'000).count == 1);
    const StartStreak first{5'000'000, 1};
    CHECK(next_start_streak(first, 5'000'000 + restart_window_usec - 1).count == 2);
    CHECK(next_start_streak(first, 5'000'000 + restart_window_usec).count == 1);
    // A clock before the last start (a reboot's fresh CLOCK_MONOTONIC) starts over.
    CHECK(next_start_streak(first, 1'000).count == 1);
    CHECK(next_start_streak(StartStreak{10, 3}, 20).last_usec == 20);
}

TEST_CASE("crash-loop delays: none at first, then 100, 200, 400 and 500 ms", "[restart_pace]") {
    CHECK(restart_delay_usec(0) == 0);
    CHECK(restart_delay_usec(1) == 0);
    CHECK(restart_delay_usec(2) == 100'000);
    CHECK(restart_delay_usec(3) == 200'000);
    CHECK(restart_delay_usec(4) == 400'000);
    CHECK(restart_delay_usec(5) == 500'000);
    CHECK(restart_delay_usec(1000) == 500'000);
}

TEST_CASE("pace_restart keeps the history in its directory", "[restart_pace]") {
    rsm::test::TempDir dir;
    const auto file = dir.path() / "manager-starts";
    auto count = [&] {
        std::ifstream in(file);
        std::stringstream ss;
        ss << in.rdbuf();
        auto s = parse_start_streak(ss.str());
        return s ? s->count : 0u;
    };
    CHECK(pace_restart(dir.path().string()) == 0);
    CHECK(count() == 1);
    CHECK(pace_restart(dir.path().string()) == 100'000);
    CHECK(count() == 2);
    std::ofstream(file) << "garbage";
    CHECK(pace_restart(dir.path().string()) == 0);
    CHECK(count() == 1);
}
