// Tests for src/session/display_allocator: lowest free number, skipping
// reserved and probed-busy ones, exhaustion, release, and the real probe
// against a scratch directory.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <set>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "session/display_allocator.hpp"
#include "temp_dir.hpp"
#include "util/fd.hpp"

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

namespace {

// The pid of a process that has exited and been reaped: nobody owns it now
// (pids are not reused that fast on an idle test machine).
pid_t dead_pid() {
    const pid_t pid = fork();
    if (pid == 0) _exit(0);
    int status = 0;
    waitpid(pid, &status, 0);
    return pid;
}

std::string lock_text(pid_t pid) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%10d\n", static_cast<int>(pid));
    return buf;
}

}  // namespace

TEST_CASE("stale X display: lock and socket of a dead server are removed", "[display]") {
    rsm::test::TempDir tmp;
    tmp.write(".X12-lock", lock_text(dead_pid()));
    tmp.write(".X11-unix/X12", "");
    CHECK(rsm::session::remove_stale_x_display_under(tmp.path().string(), 12));
    CHECK_FALSE(std::filesystem::exists(tmp.path() / ".X12-lock"));
    CHECK_FALSE(std::filesystem::exists(tmp.path() / ".X11-unix/X12"));
    CHECK_FALSE(rsm::session::x_display_in_use_under(tmp.path().string(), 12));
}

TEST_CASE("stale X display: a live owner, garbage or no lock leaves everything alone", "[display]") {
    rsm::test::TempDir tmp;
    tmp.write(".X13-lock", lock_text(getpid()));
    tmp.write(".X11-unix/X13", "");
    CHECK_FALSE(rsm::session::remove_stale_x_display_under(tmp.path().string(), 13));
    CHECK(std::filesystem::exists(tmp.path() / ".X13-lock"));
    CHECK(std::filesystem::exists(tmp.path() / ".X11-unix/X13"));

    tmp.write(".X14-lock", "not a pid\n");
    CHECK_FALSE(rsm::session::remove_stale_x_display_under(tmp.path().string(), 14));
    CHECK(std::filesystem::exists(tmp.path() / ".X14-lock"));

    tmp.write(".X11-unix/X15", "not a socket");
    CHECK_FALSE(rsm::session::remove_stale_x_display_under(tmp.path().string(), 15));
    CHECK(std::filesystem::exists(tmp.path() / ".X11-unix/X15"));
}

namespace {

// A UNIX socket bound at `path`; listening or not.
rsm::UniqueFd bound_socket(const std::filesystem::path& path, bool listening) {
    rsm::UniqueFd s{socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    path.string().copy(sa.sun_path, sizeof sa.sun_path - 1);
    REQUIRE(bind(s.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0);
    if (listening) REQUIRE(listen(s.get(), 1) == 0);
    return s;
}

}  // namespace

TEST_CASE("stale X display: without a lock, only a socket nobody answers on is removed", "[display]") {
    rsm::test::TempDir tmp;
    std::filesystem::create_directories(tmp.path() / ".X11-unix");
    auto live = bound_socket(tmp.path() / ".X11-unix/X16", true);
    CHECK_FALSE(rsm::session::remove_stale_x_display_under(tmp.path().string(), 16));
    CHECK(std::filesystem::exists(tmp.path() / ".X11-unix/X16"));

    bound_socket(tmp.path() / ".X11-unix/X17", false);  // closed at once: the file stays, unanswered
    CHECK(rsm::session::remove_stale_x_display_under(tmp.path().string(), 17));
    CHECK_FALSE(std::filesystem::exists(tmp.path() / ".X11-unix/X17"));
}
