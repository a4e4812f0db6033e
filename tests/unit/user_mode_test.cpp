// daemons/rsm-gateway/user_mode.hpp: a gateway run by a user (--user-mode)
// lets through only that user's name, with or without a session selector,
// and only that user's uid as rsm logged it in.
#include <catch2/catch.hpp>

#include <pwd.h>
#include <unistd.h>

#include "rfb_handshake.hpp"
#include "user_mode.hpp"

using namespace rsm::gateway;

namespace {
bool admits(const std::optional<ServedUser>& served, std::string_view login_name) {
    const SelectorResult r = parse_user_selector(login_name);
    REQUIRE(r.ok);
    return user_mode_admits(served, r.selector.user);
}
}  // namespace

TEST_CASE("user mode: system mode admits every user", "[gateway-user]") {
    const std::optional<ServedUser> system;
    CHECK(admits(system, "alice"));
    CHECK(admits(system, "bob:new"));
    CHECK(user_mode_admits_uid(system, 0));
    CHECK(user_mode_admits_uid(system, 1001));
}

TEST_CASE("user mode: only the served user, with any selector", "[gateway-user]") {
    const std::optional<ServedUser> alice = ServedUser{"alice", 1000};
    CHECK(admits(alice, "alice"));
    CHECK(admits(alice, "alice:new"));
    CHECK(admits(alice, "alice:3f2a"));
    CHECK(admits(alice, "alice:0123456789abcdef0123456789abcdef"));
    CHECK_FALSE(admits(alice, "bob"));
    CHECK_FALSE(admits(alice, "bob:new"));
    CHECK_FALSE(admits(alice, "Alice"));   // byte for byte: NSS may fold case, this does not
    CHECK_FALSE(admits(alice, "alic"));
    CHECK_FALSE(admits(alice, "alicex:new"));
    CHECK_FALSE(admits(alice, "alice "));
    CHECK_FALSE(admits(alice, "root"));
    CHECK_FALSE(user_mode_admits(alice, ""));
    // A served user without a name admits nobody (never the empty name).
    CHECK_FALSE(user_mode_admits(ServedUser{"", 1000}, ""));
}

TEST_CASE("user mode: only the served uid", "[gateway-user]") {
    const std::optional<ServedUser> alice = ServedUser{"alice", 1000};
    CHECK(user_mode_admits_uid(alice, 1000));
    CHECK_FALSE(user_mode_admits_uid(alice, 1001));
    CHECK_FALSE(user_mode_admits_uid(alice, 0));
}

TEST_CASE("user mode: the served user is the process's passwd entry", "[gateway-user]") {
    std::string error;
    const auto me = served_user_of(getuid(), error);
    REQUIRE(me);
    CHECK(error.empty());
    const passwd* pw = getpwuid(getuid());
    REQUIRE(pw);
    CHECK(me->name == pw->pw_name);
    CHECK(me->uid == getuid());
    // A uid with no entry is an error, not an empty name that admits "".
    const auto none = served_user_of(4'000'000'000u, error);
    CHECK_FALSE(none);
    CHECK_FALSE(error.empty());
}
