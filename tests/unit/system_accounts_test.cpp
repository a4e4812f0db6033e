// Tests for src/access/system_accounts: UID_MIN from login.defs text, the
// shells of /etc/shells, and reading the files.
#include <catch2/catch.hpp>

#include "access/system_accounts.hpp"
#include "temp_dir.hpp"

namespace acc = rsm::access;

TEST_CASE("login.defs: UID_MIN is read, comments and other keys ignored", "[access]") {
    CHECK(acc::parse_uid_min("# comment\nMAIL_DIR /var/mail\nUID_MIN\t\t\t 1000\nUID_MAX 60000\n") == 1000);
    CHECK(acc::parse_uid_min("UID_MIN 500") == 500);  // no final newline
    CHECK(acc::parse_uid_min("  UID_MIN   2000  \r\n") == 2000);
    CHECK(acc::parse_uid_min("UID_MIN \"1500\"\n") == 1500);
    // The last valid setting wins, as in shadow.
    CHECK(acc::parse_uid_min("UID_MIN 500\nUID_MIN 1200\n") == 1200);
    CHECK(acc::parse_uid_min("UID_MIN 1200\nUID_MIN bogus\n") == 1200);
}

TEST_CASE("login.defs: without a usable UID_MIN the default is 1000", "[access]") {
    CHECK(acc::default_uid_min == 1000);
    CHECK(acc::parse_uid_min("") == 1000);
    CHECK(acc::parse_uid_min("#UID_MIN 500\n") == 1000);
    CHECK(acc::parse_uid_min("SYS_UID_MIN 100\nUID_MINX 5\nXUID_MIN 5\n") == 1000);
    for (const char* bad : {"UID_MIN\n", "UID_MIN -5\n", "UID_MIN 12ab\n", "UID_MIN 4294967295\n",
                            "UID_MIN 99999999999999999999\n", "UID_MIN 1 2\n"})
        CHECK(acc::parse_uid_min(bad) == 1000);
}

TEST_CASE("/etc/shells: listed paths, comments and junk ignored", "[access]") {
    const auto shells = acc::parse_shells("# /etc/shells: valid login shells\n/bin/sh\n\n  /bin/bash  \n"
                                          "/usr/bin/tmux # a comment\nnot-a-path\n#/usr/sbin/nologin\n/bin/dash");
    CHECK(shells == std::vector<std::string>{"/bin/sh", "/bin/bash", "/usr/bin/tmux", "/bin/dash"});
    CHECK(acc::parse_shells("").empty());
}

TEST_CASE("/etc/shells: membership is exact; an empty shell is /bin/sh", "[access]") {
    const std::vector<std::string> shells{"/bin/sh", "/bin/bash"};
    CHECK(acc::shell_listed(shells, "/bin/bash"));
    CHECK(acc::shell_listed(shells, ""));
    CHECK_FALSE(acc::shell_listed(shells, "/usr/sbin/nologin"));
    CHECK_FALSE(acc::shell_listed(shells, "/bin/false"));
    CHECK_FALSE(acc::shell_listed(shells, "/bin/bas"));
    CHECK_FALSE(acc::shell_listed(shells, "/bin/bash "));
    CHECK_FALSE(acc::shell_listed({}, ""));
}

TEST_CASE("read_system_accounts reads both files, with defaults for missing ones", "[access]") {
    rsm::test::TempDir dir;
    const auto defs = dir.write("login.defs", "UID_MIN 1234\n").string();
    const auto shells = dir.write("shells", "/bin/zsh\n").string();
    const auto sys = acc::read_system_accounts(defs, shells);
    CHECK(sys.uid_min == 1234);
    CHECK(sys.shells == std::vector<std::string>{"/bin/zsh"});

    const auto none = (dir.path() / "none").string();
    const auto missing = acc::read_system_accounts(none, none);
    CHECK(missing.uid_min == 1000);
    CHECK(missing.shells == std::vector<std::string>{"/bin/sh", "/bin/csh"});
}
