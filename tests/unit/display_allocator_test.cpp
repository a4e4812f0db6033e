// Tests for src/session/display_allocator: lowest free number, skipping
// reserved and probed-busy ones, exhaustion, release, the /proc/net/unix
// parser, and the real probe and stale-socket cleanup in a scratch directory.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <cstddef>
#include <cstdio>
#include <netinet/in.h>
#include <sys/stat.h>
#include <filesystem>
#include <set>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "session/display_allocator.hpp"
#include "session/nx_display.hpp"
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

// A configuration reload moves the range: new numbers come from the new one,
// numbers in use stay reserved until their sessions release them.
TEST_CASE("display allocator: a new range applies to numbers handed out from then on", "[display]") {
    DisplayAllocator a{10, 12, never_busy};
    CHECK(a.allocate() == 10u);
    CHECK(a.allocate() == 11u);
    a.set_range(20, 21);
    CHECK(a.allocate() == 20u);
    CHECK(a.reserved(10));
    CHECK(a.reserved(11));
    a.release(10);
    CHECK_FALSE(a.reserved(10));
    CHECK(a.allocate() == 21u);
    CHECK_FALSE(a.allocate());
    // Back to a range that overlaps a number still in use: it is skipped.
    a.set_range(11, 12);
    CHECK(a.allocate() == 12u);
    CHECK_FALSE(a.allocate());
    CHECK_THROWS_AS(a.set_range(5, 4), std::invalid_argument);
}

TEST_CASE("display allocator: the X probe sees socket files and dangling links, never lock files", "[display]") {
    rsm::test::TempDir tmp;
    const std::string dir = tmp.path().string();
    CHECK_FALSE(rsm::session::x_display_in_use_under(dir, 5));  // not even .X11-unix exists
    tmp.write(".X11-unix/X5", "");
    // A lock file (here a FIFO nobody writes to) plays no part and is never opened.
    REQUIRE(mkfifo((tmp.path() / ".X6-lock").c_str(), 0644) == 0);
    std::filesystem::create_symlink(tmp.path() / "gone", tmp.path() / ".X11-unix" / "X7");
    CHECK(rsm::session::x_display_in_use_under(dir, 5));
    CHECK_FALSE(rsm::session::x_display_in_use_under(dir, 6));
    CHECK(rsm::session::x_display_in_use_under(dir, 7));
    CHECK_FALSE(rsm::session::x_display_in_use_under(dir, 8));
    CHECK_FALSE(rsm::session::x_display_in_use_under(dir, 50));  // X5 is not X50
    // A listener the kernel lists (an abstract socket has no file).
    CHECK(rsm::session::x_display_in_use_under(dir, 8, {8}));

    // A .X11-unix that is a file: nothing can be under it.
    rsm::test::TempDir other;
    other.write(".X11-unix", "");
    CHECK_FALSE(rsm::session::x_display_in_use_under(other.path().string(), 5));

    DisplayAllocator a{5, 9, [&](unsigned n) { return rsm::session::x_display_in_use_under(dir, n, {8}); }};
    CHECK(a.allocate() == 6u);
    CHECK(a.allocate() == 9u);
}

TEST_CASE("display allocator: listening X sockets from /proc/net/unix", "[display]") {
    const std::string text =
        "Num       RefCount Protocol Flags    Type St Inode Path\n"
        // listening, by file and by abstract name
        "0000000000000000: 00000002 00000000 00010000 0001 01 20001 /tmp/.X11-unix/X10\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 20002 @/tmp/.X11-unix/X11\n"
        // an accepted connection of a listener (same name, not listening)
        "0000000000000000: 00000003 00000000 00000000 0001 03 20003 /tmp/.X11-unix/X12\n"
        // a bound socket that never listened, and a client without a name
        "0000000000000000: 00000002 00000000 00000000 0001 01 20004 /tmp/.X11-unix/X13\n"
        "0000000000000000: 00000003 00000000 00000000 0001 03 20005\n"
        // other names
        "0000000000000000: 00000002 00000000 00010000 0001 01 20006 /run/dbus/system_bus_socket\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 20007 /tmp/.X11-unix/X14-evil\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 20008 /tmp/.X11-unix/X015\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 20009 /home/m/tmp/.X11-unix/X16\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 20010 /tmp/.X11-unix/X\n"
        // malformed lines
        "garbage\n"
        "0000000000000000: 00000002 00000000 zz010000 0001 01 20011 /tmp/.X11-unix/X17\n"
        // the last line without a newline
        "0000000000000000: 00000002 00000000 00010000 0005 01 20012 /tmp/.X11-unix/X4294967295";
    CHECK(rsm::session::x_displays_listening(text) == std::set<unsigned>{10, 11, 4294967295u});
    CHECK(rsm::session::x_displays_listening("").empty());
}

TEST_CASE("display allocator: the system's /proc/net/unix shows a listener of this process", "[display]") {
    // Abstract names are per network namespace: one nobody else uses.
    const unsigned n = 900000u + static_cast<unsigned>(getpid()) % 90000u;
    const std::string name = "/tmp/.X11-unix/X" + std::to_string(n);
    rsm::UniqueFd s{socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    name.copy(sa.sun_path + 1, name.size());  // abstract: leading NUL
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    REQUIRE(bind(s.get(), reinterpret_cast<const sockaddr*>(&sa), len) == 0);
    CHECK_FALSE(rsm::session::x_displays_listening().count(n));  // bound, not listening
    REQUIRE(listen(s.get(), 1) == 0);
    CHECK(rsm::session::x_displays_listening().count(n));
    CHECK(rsm::session::x_display_in_use(n));
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

TEST_CASE("stale X display: only the owner's socket nobody listens on is removed", "[display]") {
    using rsm::session::remove_stale_x_display_under;
    rsm::test::TempDir tmp;
    const std::string dir = tmp.path().string();
    const uid_t me = geteuid();
    std::filesystem::create_directories(tmp.path() / ".X11-unix");

    bound_socket(tmp.path() / ".X11-unix/X17", false);  // closed at once: the file stays, unanswered
    CHECK_FALSE(remove_stale_x_display_under(dir, 17, me, {17}, me));  // listed as listening: alive
    CHECK_FALSE(remove_stale_x_display_under(dir, 17, me + 1, {}, me));  // another user's
    CHECK(std::filesystem::exists(tmp.path() / ".X11-unix/X17"));
    CHECK(remove_stale_x_display_under(dir, 17, me, {}, me));
    CHECK_FALSE(std::filesystem::exists(tmp.path() / ".X11-unix/X17"));

    // Not a socket (a FIFO, a symlink to one, a plain file): left alone, not opened.
    REQUIRE(mkfifo((tmp.path() / ".X11-unix/X18").c_str(), 0644) == 0);
    bound_socket(tmp.path() / "elsewhere", false);
    std::filesystem::create_symlink(tmp.path() / "elsewhere", tmp.path() / ".X11-unix/X19");
    tmp.write(".X11-unix/X20", "not a socket");
    for (unsigned n : {18u, 19u, 20u}) CHECK_FALSE(remove_stale_x_display_under(dir, n, me, {}, me));
    CHECK(std::filesystem::exists(tmp.path() / "elsewhere"));
    CHECK(std::filesystem::exists(std::filesystem::symlink_status(tmp.path() / ".X11-unix/X19")));

    // A .X11-unix that is not the expected owner's, or a symlink, is not touched.
    bound_socket(tmp.path() / ".X11-unix/X21", false);
    CHECK_FALSE(remove_stale_x_display_under(dir, 21, me, {}, me + 1));
    rsm::test::TempDir other;
    std::filesystem::create_directory_symlink(tmp.path() / ".X11-unix", other.path() / ".X11-unix");
    CHECK_FALSE(remove_stale_x_display_under(other.path().string(), 21, me, {}, std::nullopt));
    CHECK(std::filesystem::exists(tmp.path() / ".X11-unix/X21"));
}

namespace {

// A TCP socket bound to `addr`:`port`, listening if asked; empty if the
// port is taken.
rsm::UniqueFd try_bind(uint32_t addr, uint16_t port, bool listening) {
    rsm::UniqueFd fd{socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    REQUIRE(fd);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(addr);
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return {};
    if (listening) REQUIRE(listen(fd.get(), 4) == 0);
    return fd;
}

rsm::UniqueFd bound(uint32_t addr, uint16_t port, bool listening) {
    rsm::UniqueFd fd = try_bind(addr, port, listening);
    REQUIRE(fd);
    return fd;
}

}  // namespace

TEST_CASE("display allocator: an nx display is skipped while its port 4000+N is in use", "[display][nx]") {
    using rsm::session::nx_port_base;
    using rsm::session::nx_port_in_use;
    // A free port P below the ephemeral range (no outgoing connection takes
    // it meanwhile), held by a foreign listener; N the display whose NX port
    // it is.
    uint16_t port = 0;
    rsm::UniqueFd foreign;
    for (uint16_t p = 6000; p < 7000 && !foreign; ++p) {
        foreign = try_bind(INADDR_LOOPBACK, p, true);
        port = p;
    }
    REQUIRE(foreign);
    const unsigned n = port - nx_port_base;

    DisplayAllocator a{n, n, never_busy};
    CHECK(nx_port_in_use(n));
    CHECK_FALSE(a.allocate(nx_port_in_use));  // the only number's port is taken
    CHECK_FALSE(a.reserved(n));
    foreign.reset();

    // Free again: handed out, and the test left nothing bound, so the
    // display server's own bind right after succeeds.
    CHECK_FALSE(nx_port_in_use(n));
    CHECK(a.allocate(nx_port_in_use) == n);
    rsm::UniqueFd agent = bound(INADDR_LOOPBACK, port, true);
    a.release(n);

    // Display types without NX ports do not care.
    CHECK(a.allocate() == n);
    a.release(n);
    agent.reset();

    // A wildcard listener or a socket merely bound to the port blocks
    // nxagent's bind just as well.
    {
        rsm::UniqueFd any = bound(INADDR_ANY, port, true);
        CHECK(nx_port_in_use(n));
    }
    {
        rsm::UniqueFd quiet = bound(INADDR_LOOPBACK, port, false);
        CHECK(nx_port_in_use(n));
    }
    // Numbers without a port are left to the session start's own error.
    CHECK_FALSE(nx_port_in_use(65536 - nx_port_base));
    CHECK(rsm::session::loopback_port_in_use(0));
    CHECK(rsm::session::loopback_port_in_use(65536));
}

TEST_CASE("display allocator: the extra probe skips to the next number", "[display]") {
    DisplayAllocator a{10, 12, never_busy};
    CHECK(a.allocate([](unsigned n) { return n == 10; }) == 11u);
    CHECK(a.allocate([](unsigned n) { return n == 12; }) == 10u);
    CHECK_FALSE(a.allocate([](unsigned n) { return n == 12; }));
    CHECK(a.allocate() == 12u);
}
