// Tests for src/session/display_allocator: lowest free number, skipping
// reserved and probed-busy ones, exhaustion, release, and the real probe
// against a scratch directory.
#include <catch2/catch.hpp>

#include <set>

#include "session/display_allocator.hpp"
#include "temp_dir.hpp"

using rsm::session::DisplayAllocator;

namespace {

bool never_busy(unsigned) { return false; }

}  // namespace

TEST_CASE("display allocator: hands out the lowest free numbers in range", "[display]") {
    DisplayAllocator a{10, 12, never_busy};
    CHECK(a.allocate() == 10u);
    CHECK(a.allocate() == 11u);
    CHECK(a.allocate() == 12u);
    CHECK_FALSE(a.allocate());  // exhausted
    CHECK(a.size() == 3);
    CHECK(a.reserved(11));

    a.release(11);
    CHECK_FALSE(a.reserved(11));
    CHECK(a.allocate() == 11u);
    CHECK_FALSE(a.allocate());
}

TEST_CASE("display allocator: skips numbers the probe shows as taken, without reserving them", "[display]") {
    std::set<unsigned> busy{10, 11, 13};
    std::vector<unsigned> probed;
    DisplayAllocator a{10, 14, [&](unsigned n) {
                           probed.push_back(n);
                           return busy.count(n) != 0;
                       }};
    CHECK(a.allocate() == 12u);
    CHECK(probed == std::vector<unsigned>{10, 11, 12});
    CHECK_FALSE(a.reserved(10));
    CHECK(a.allocate() == 14u);
    CHECK_FALSE(a.allocate());
    // Once the outside server is gone, its number is handed out.
    busy.erase(10);
    CHECK(a.allocate() == 10u);
}

TEST_CASE("display allocator: reserved numbers are skipped and not probed", "[display]") {
    std::vector<unsigned> probed;
    DisplayAllocator a{10, 12, [&](unsigned n) {
                           probed.push_back(n);
                           return false;
                       }};
    a.reserve(10);
    a.reserve(11);
    a.reserve(500);  // a recovered session outside the range is kept
    CHECK(a.reserved(500));
    CHECK(a.size() == 3);
    CHECK(a.allocate() == 12u);
    CHECK(probed == std::vector<unsigned>{12});
    CHECK_FALSE(a.allocate());
    a.release(500);
    CHECK_FALSE(a.reserved(500));
}

TEST_CASE("display allocator: ranges", "[display]") {
    CHECK_THROWS_AS(DisplayAllocator(11, 10, never_busy), std::invalid_argument);
    DisplayAllocator single{7, 7, never_busy};
    CHECK(single.allocate() == 7u);
    CHECK_FALSE(single.allocate());
    // The top of the range is reachable without wrapping around.
    DisplayAllocator top{4294967294u, 4294967295u, never_busy};
    CHECK(top.allocate() == 4294967294u);
    CHECK(top.allocate() == 4294967295u);
    CHECK_FALSE(top.allocate());
    // No probe: nothing outside counts.
    DisplayAllocator unprobed{1, 1, nullptr};
    CHECK(unprobed.allocate() == 1u);
}

TEST_CASE("display allocator: the X probe sees sockets, lock files and dangling links", "[display]") {
    rsm::test::TempDir tmp;
    const std::string dir = tmp.path().string();
    CHECK_FALSE(rsm::session::x_display_in_use_under(dir, 5));  // not even .X11-unix exists
    tmp.write(".X11-unix/X5", "");
    tmp.write(".X6-lock", "      1234\n");
    std::filesystem::create_symlink(tmp.path() / "gone", tmp.path() / ".X11-unix" / "X7");
    CHECK(rsm::session::x_display_in_use_under(dir, 5));
    CHECK(rsm::session::x_display_in_use_under(dir, 6));
    CHECK(rsm::session::x_display_in_use_under(dir, 7));
    CHECK_FALSE(rsm::session::x_display_in_use_under(dir, 8));
    CHECK_FALSE(rsm::session::x_display_in_use_under(dir, 50));  // X5 is not X50

    // A .X11-unix that is a file: nothing can be under it.
    rsm::test::TempDir other;
    other.write(".X11-unix", "");
    CHECK_FALSE(rsm::session::x_display_in_use_under(other.path().string(), 5));

    DisplayAllocator a{5, 9, [&](unsigned n) { return rsm::session::x_display_in_use_under(dir, n); }};
    CHECK(a.allocate() == 8u);
}
