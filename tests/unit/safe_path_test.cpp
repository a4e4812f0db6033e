// Tests for src/util/safe_path: what a privileged process finds at a path a
// user can influence (a FIFO, a symlink, a file of another owner) is refused
// or replaced, never opened, followed or waited on.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

#include "temp_dir.hpp"
#include "util/safe_path.hpp"

namespace safe = rsm::safe;
namespace fs = std::filesystem;

namespace {

int error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const std::system_error& e) {
        return e.code().value();
    }
    return 0;
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

TEST_CASE("safe path: open_regular refuses a FIFO without blocking, a symlink and another owner", "[safe_path]") {
    rsm::test::TempDir tmp;
    const auto dir = safe::open_directory(tmp.path().string());
    tmp.write("plain", "data");
    REQUIRE(mkfifo((tmp.path() / "fifo").c_str(), 0600) == 0);
    fs::create_symlink(tmp.path() / "plain", tmp.path() / "link");

    CHECK(safe::open_regular(dir.get(), "plain", getuid()));
    // No writer on the FIFO: a blocking open would hang this test.
    CHECK(error_of([&] { safe::open_regular(dir.get(), "fifo"); }) == EINVAL);
    CHECK(error_of([&] { safe::open_regular(dir.get(), "link"); }) == ELOOP);
    CHECK(error_of([&] { safe::open_regular(dir.get(), "plain", getuid() + 1); }) == EPERM);
    CHECK(error_of([&] { safe::open_regular(dir.get(), "missing"); }) == ENOENT);
}

TEST_CASE("safe path: open_directory does not follow a symlink and checks the owner", "[safe_path]") {
    rsm::test::TempDir tmp;
    fs::create_directory(tmp.path() / "real");
    fs::create_directory_symlink(tmp.path() / "real", tmp.path() / "link");
    CHECK(safe::open_directory((tmp.path() / "real").string(), getuid()));
    const int e = error_of([&] { safe::open_directory((tmp.path() / "link").string()); });
    CHECK((e == ELOOP || e == ENOTDIR));
    CHECK(error_of([&] { safe::open_directory((tmp.path() / "real").string(), getuid() + 1); }) == EPERM);
}

TEST_CASE("safe path: create_fresh replaces a planted FIFO or symlink, never its target", "[safe_path]") {
    rsm::test::TempDir tmp;
    const auto dir = safe::open_directory(tmp.path().string());
    const auto victim = tmp.write("victim", "secret");
    REQUIRE(mkfifo((tmp.path() / "auth-fifo").c_str(), 0644) == 0);
    fs::create_symlink(victim, tmp.path() / "auth-link");
    tmp.write("auth-old", "old contents");
    chmod((tmp.path() / "auth-old").c_str(), 0666);

    for (const char* name : {"auth-fifo", "auth-link", "auth-old", "auth-new"}) {
        INFO(name);
        auto fd = safe::create_fresh(dir.get(), name, 0600, geteuid());
        REQUIRE(fd);
        REQUIRE(write(fd.get(), "new", 3) == 3);
        struct stat st {};
        REQUIRE(lstat((tmp.path() / name).c_str(), &st) == 0);
        CHECK(S_ISREG(st.st_mode));
        CHECK((st.st_mode & 0077) == 0);
        CHECK(read_all(tmp.path() / name) == "new");
    }
    CHECK(read_all(victim) == "secret");  // the symlink's target was never written
}

TEST_CASE("safe path: create_fresh refuses a file that is not the expected owner's", "[safe_path]") {
    rsm::test::TempDir tmp;
    const auto dir = safe::open_directory(tmp.path().string());
    // Created with our filesystem uid, so not the other uid's: refused and removed.
    CHECK(error_of([&] { safe::create_fresh(dir.get(), "f", 0600, geteuid() + 1); }) == EPERM);
    CHECK_FALSE(fs::exists(tmp.path() / "f"));
}

TEST_CASE("safe path: remove_entry removes only the expected type and owner, never a directory", "[safe_path]") {
    rsm::test::TempDir tmp;
    const auto dir = safe::open_directory(tmp.path().string());
    tmp.write("file", "x");
    fs::create_directory(tmp.path() / "sub");
    fs::create_symlink(tmp.path() / "file", tmp.path() / "link");
    CHECK(safe::remove_entry(dir.get(), "file", S_IFSOCK) == -EPERM);
    CHECK(safe::remove_entry(dir.get(), "file", S_IFREG, geteuid() + 1) == -EPERM);
    CHECK(fs::exists(tmp.path() / "file"));
    CHECK(safe::remove_entry(dir.get(), "sub") == -EPERM);
    CHECK(fs::exists(tmp.path() / "sub"));
    CHECK(safe::remove_entry(dir.get(), "link", S_IFLNK) == 0);  // the link, not its target
    CHECK(fs::exists(tmp.path() / "file"));
    CHECK(safe::remove_entry(dir.get(), "file", S_IFREG, geteuid()) == 0);
    CHECK(safe::remove_entry(dir.get(), "file") == -ENOENT);
}

TEST_CASE("safe path: split_path", "[safe_path]") {
    CHECK(safe::split_path("/run/rsm/user/1000/Xauthority-x") ==
          std::pair<std::string, std::string>{"/run/rsm/user/1000", "Xauthority-x"});
    CHECK(safe::split_path("/f") == std::pair<std::string, std::string>{"/", "f"});
    CHECK_THROWS_AS(safe::split_path("f"), std::invalid_argument);
    CHECK_THROWS_AS(safe::split_path("/d/"), std::invalid_argument);
    CHECK_THROWS_AS(safe::split_path("/d/.."), std::invalid_argument);
}
