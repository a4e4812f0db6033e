// Tests for the session's pieces in daemons/rsm-session that touch paths a
// user can influence: the Xauthority file (xauthority.cpp, read back with
// libXau), display connections (display_connect.cpp) and what a login starts
// from (user_process.cpp: soft RLIMIT_NOFILE, login.defs' UMASK).
#include <catch2/catch.hpp>

#include <X11/Xauth.h>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <system_error>
#include <unistd.h>

#include "display_connect.hpp"
#include "temp_dir.hpp"
#include "user_process.hpp"
#include "util/fd.hpp"
#include "xauthority.hpp"

namespace xa = rsm::session::xauth;
namespace fs = std::filesystem;

namespace {

struct AuthEntry {
    unsigned short family;
    std::string address, number, name, data;
};

std::vector<AuthEntry> read_entries(const fs::path& p) {
    std::vector<AuthEntry> out;
    FILE* f = std::fopen(p.c_str(), "rb");
    REQUIRE(f);
    while (Xauth* a = XauReadAuth(f)) {
        out.push_back({a->family, std::string(a->address, a->address_length), std::string(a->number, a->number_length),
                       std::string(a->name, a->name_length), std::string(a->data, a->data_length)});
        XauDisposeAuth(a);
    }
    std::fclose(f);
    return out;
}

std::string read_all(const fs::path& p) {
    std::string out;
    rsm::UniqueFd fd{open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
    char buf[4096];
    ssize_t n;
    while (fd && (n = read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
}

}  // namespace

TEST_CASE("xauthority: the file libXau reads back holds one FamilyWild cookie for the display", "[xauth]") {
    rsm::test::TempDir tmp;
    const auto cookie = xa::new_cookie();
    REQUIRE(cookie.size() == xa::cookie_size);
    const auto path = tmp.path() / "Xauthority-s1";
    xa::write_file(path.string(), geteuid(), getegid(), 57, cookie);

    const auto entries = read_entries(path);
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].family == FamilyWild);
    CHECK(entries[0].address.empty());
    CHECK(entries[0].number == "57");
    CHECK(entries[0].name == "MIT-MAGIC-COOKIE-1");
    CHECK(entries[0].data == std::string(cookie.begin(), cookie.end()));
    struct stat st {};
    REQUIRE(lstat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(st.st_uid == geteuid());

    CHECK(xa::remove_file(path.string(), geteuid(), getegid()) == 0);
    CHECK(xa::remove_file(path.string(), geteuid(), getegid()) == -ENOENT);
}

TEST_CASE("xauthority: a shadowing nxagent's file holds its own display's cookie and the shadowed one's", "[xauth]") {
    rsm::test::TempDir tmp;
    const auto mine = xa::new_cookie(), target = xa::new_cookie();
    const auto path = tmp.path() / "Xauthority-shadow-s1-61";
    xa::write_file(path.string(), geteuid(), getegid(), {xa::Entry{57, target}, xa::Entry{61, mine}});
    const auto entries = read_entries(path);
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].number == "57");
    CHECK(entries[0].data == std::string(target.begin(), target.end()));
    CHECK(entries[1].number == "61");
    CHECK(entries[1].data == std::string(mine.begin(), mine.end()));
    CHECK(entries[1].family == FamilyWild);
    struct stat st {};
    REQUIRE(lstat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
}

TEST_CASE("xauthority: a FIFO or a symlink planted at the path is replaced, never opened or followed", "[xauth]") {
    rsm::test::TempDir tmp;
    const auto victim = tmp.write("shadow", "root:secret\n");
    const auto fifo = tmp.path() / "Xauthority-fifo";
    const auto link = tmp.path() / "Xauthority-link";
    REQUIRE(mkfifo(fifo.c_str(), 0666) == 0);
    fs::create_symlink(victim, link);
    const auto cookie = xa::new_cookie();

    // With no writer on the FIFO, any blocking open of it would hang here.
    xa::write_file(fifo.string(), geteuid(), getegid(), 3, cookie);
    xa::write_file(link.string(), geteuid(), getegid(), 4, cookie);
    CHECK(fs::is_regular_file(fs::symlink_status(fifo)));
    CHECK(fs::is_regular_file(fs::symlink_status(link)));
    CHECK(read_entries(fifo).size() == 1);
    CHECK(read_entries(link).at(0).number == "4");
    CHECK(read_all(victim) == "root:secret\n");

    // The directory itself must be the user's and not a symlink.
    fs::create_directory_symlink(tmp.path(), tmp.path() / "dirlink");
    CHECK_THROWS_AS(xa::write_file((tmp.path() / "dirlink" / "Xauthority-x").string(), geteuid(), getegid(), 5,
                                      cookie),
                    std::system_error);
}

TEST_CASE("xauthority: hex round trip", "[xauth]") {
    std::vector<std::uint8_t> bytes{0x00, 0x9f, 0xff, 0x10}, back;
    CHECK(xa::to_hex(bytes) == "009fff10");
    CHECK(xa::from_hex("009FFF10", back));
    CHECK(back == bytes);
    CHECK_FALSE(xa::from_hex("abc", back));
    CHECK_FALSE(xa::from_hex("zz", back));
}

namespace {

rsm::UniqueFd listener(const fs::path& path) {
    rsm::UniqueFd s{socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    path.string().copy(sa.sun_path, sizeof sa.sun_path - 1);
    REQUIRE(bind(s.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0);
    REQUIRE(listen(s.get(), 4) == 0);
    return s;
}

}  // namespace

TEST_CASE("display connection: the peer must be the display server's pid and the user's uid", "[display_connect]") {
    rsm::test::TempDir tmp;
    const auto path = tmp.path() / "vnc-s1";
    auto l = listener(path);
    auto fd = rsm::session::connect_as_user(path.string(), geteuid(), getegid());
    REQUIRE(fd);
    CHECK(rsm::session::check_display_peer(fd.get(), getpid(), geteuid()).empty());
    CHECK_FALSE(rsm::session::check_display_peer(fd.get(), getpid() + 1, geteuid()).empty());
    CHECK_FALSE(rsm::session::check_display_peer(fd.get(), getpid(), geteuid() + 1).empty());
    CHECK_FALSE(rsm::session::check_display_peer(fd.get(), 0, geteuid()).empty());  // no display server known
    // The ids are back after the connection.
    CHECK(geteuid() == getuid());

    CHECK_THROWS_AS(rsm::session::connect_as_user((tmp.path() / "missing").string(), geteuid(), getegid()),
                    std::system_error);
}

TEST_CASE("display connection: as root, the connection is made with the user's identity", "[display_connect]") {
    if (geteuid() != 0) {
        WARN("not root: skipped");
        return;
    }
    rsm::test::TempDir tmp;
    // A socket only root may reach, like /run/rsm/executor.sock (0600 root).
    fs::create_directory(tmp.path() / "private");
    chmod((tmp.path() / "private").c_str(), 0700);
    const auto path = tmp.path() / "private" / "root.sock";
    auto l = listener(path);
    chmod(path.c_str(), 0600);
    CHECK_THROWS_AS(rsm::session::connect_as_user(path.string(), 65534, 65534), std::system_error);
    CHECK(geteuid() == 0);
    CHECK(getegid() == 0);

    // A world-writable one accepts, and the server sees the user, not root.
    chmod(tmp.path().c_str(), 0755);
    chmod((tmp.path() / "private").c_str(), 0755);
    chmod(path.c_str(), 0666);
    auto fd = rsm::session::connect_as_user(path.string(), 65534, 65534);
    rsm::UniqueFd server{accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC)};
    REQUIRE(server);
    ucred cred{};
    socklen_t len = sizeof cred;
    REQUIRE(getsockopt(server.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0);
    CHECK(cred.uid == 65534u);
    CHECK(cred.gid == 65534u);
    CHECK(geteuid() == 0);
}

TEST_CASE("login limits: UMASK from login.defs", "[login]") {
    using rsm::session::login_defs_umask;
    CHECK(login_defs_umask("") == 022);
    CHECK(login_defs_umask("# UMASK 077\nUMASK\t\t027\n") == 027);
    CHECK(login_defs_umask("UMASK 0077\n") == 077);
    CHECK(login_defs_umask("UMASK 099\n", 022) == 022);
    CHECK(login_defs_umask("UMASKS 077\nUMASK\n") == 022);
}

TEST_CASE("login limits: the soft RLIMIT_NOFILE goes back to 1024, the hard one stays", "[login]") {
    rlimit saved{};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    const mode_t saved_mask = umask(0);
    umask(saved_mask);
    rlimit raised = saved;
    raised.rlim_cur = raised.rlim_max;
    REQUIRE(setrlimit(RLIMIT_NOFILE, &raised) == 0);

    rsm::session::reset_login_limits();
    rlimit now{};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &now) == 0);
    CHECK(now.rlim_cur == std::min<rlim_t>(1024, saved.rlim_max));
    CHECK(now.rlim_max == saved.rlim_max);

    setrlimit(RLIMIT_NOFILE, &saved);
    umask(saved_mask);
}
