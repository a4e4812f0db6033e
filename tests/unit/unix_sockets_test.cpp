// Tests for src/util/unix_sockets: the kernel's table of unix sockets, read
// so that root learns who listens on, and who is connected through, a path
// in a world-writable directory without touching that path.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "temp_dir.hpp"
#include "util/fd.hpp"
#include "util/unix_sockets.hpp"

namespace us = rsm::unix_sockets;
using rsm::UniqueFd;

namespace {

sockaddr_un address(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    path.copy(a.sun_path, sizeof a.sun_path - 1);
    return a;
}

UniqueFd listener(const std::string& path) {
    UniqueFd fd{socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    const auto a = address(path);
    REQUIRE(bind(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(listen(fd.get(), 4) == 0);
    return fd;
}

UniqueFd client(const std::string& path) {
    UniqueFd fd{socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    const auto a = address(path);
    REQUIRE(connect(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    return fd;
}

}  // namespace

TEST_CASE("parse_table reads flags, state, inode and path", "[unix_sockets]") {
    const std::string text =
        "Num       RefCount Protocol Flags    Type St Inode Path\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 23456 /run/xrdp/sockdir/xrdp_display_10\n"
        "0000000000000000: 00000003 00000000 00000000 0001 03 23460 /run/xrdp/sockdir/xrdp_display_10\n"
        "0000000000000000: 00000003 00000000 00000000 0001 03 23461\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 777 @/tmp/.X11-unix/X10\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 88 /tmp/a path with spaces\n"
        "garbage line\n"
        "0000000000000000: 00000002 00000000 zz 0001 01 99 /bad/flags\n";
    const auto t = us::parse_table(text);
    REQUIRE(t.size() == 4);
    CHECK(t[0].inode == 23456);
    CHECK(t[0].listening);
    CHECK_FALSE(t[0].connected);
    CHECK(t[0].path == "/run/xrdp/sockdir/xrdp_display_10");
    CHECK(t[1].inode == 23460);
    CHECK_FALSE(t[1].listening);
    CHECK(t[1].connected);
    CHECK(t[2].path == "@/tmp/.X11-unix/X10");
    CHECK(t[3].path == "/tmp/a path with spaces");
}

TEST_CASE("parse_table of nothing or a header only is empty", "[unix_sockets]") {
    CHECK(us::parse_table("").empty());
    CHECK(us::parse_table("Num       RefCount Protocol Flags    Type St Inode Path\n").empty());
}

TEST_CASE("listens_on and accepted_on see this process's sockets", "[unix_sockets]") {
    rsm::test::TempDir dir;
    const std::string path = (dir.path() / "srv").string();
    const std::string other = (dir.path() / "other").string();
    CHECK_FALSE(us::listens_on(getpid(), path));
    auto l = listener(path);
    auto o = listener(other);
    CHECK(us::listens_on(getpid(), path));
    CHECK(us::accepted_on(getpid(), path) == 0);

    auto c1 = client(path);
    auto c2 = client(other);  // accepted on another path: not counted
    UniqueFd a1{accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC)};
    UniqueFd a2{accept4(o.get(), nullptr, nullptr, SOCK_CLOEXEC)};
    REQUIRE(a1);
    REQUIRE(a2);
    CHECK(us::accepted_on(getpid(), path) == 1);

    auto c3 = client(path);
    UniqueFd a3{accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC)};
    CHECK(us::accepted_on(getpid(), path) == 2);

    a1.reset();
    a3.reset();
    CHECK(us::accepted_on(getpid(), path) == 0);
    // Another process holds none of them.
    CHECK_FALSE(us::listens_on(getppid(), path));
    l.reset();
    CHECK_FALSE(us::listens_on(getpid(), path));
}

TEST_CASE("a process that is gone holds nothing", "[unix_sockets]") {
    CHECK(us::held_by(0x3fffffff).empty());
    CHECK(us::accepted_on(0x3fffffff, "/x") == 0);
}
