// Tests for src/access/access_policy: each rule with an injected UserInfo,
// and the NSS lookup against the one user every system has.
#include <catch2/catch.hpp>

#include "access/access_policy.hpp"

using rsm::access::check_login_allowed;
using rsm::access::UserInfo;
using rsm::config::Access;

namespace {

const UserInfo alice{1000, "alice", {"alice", "staff", "remote"}};
const UserInfo bob{1001, "bob", {"bob", "staff"}};
const UserInfo root_user{0, "root", {"root"}};

}  // namespace

TEST_CASE("access: with default rules every non-root user may log in", "[access]") {
    const Access rules;
    CHECK_FALSE(check_login_allowed(rules, alice));
    CHECK_FALSE(check_login_allowed(rules, bob));
}

TEST_CASE("access: root is refused unless allow_root", "[access]") {
    Access rules;
    const auto refused = check_login_allowed(rules, root_user);
    REQUIRE(refused);
    CHECK(*refused == "user 'root' is not allowed to log in (access.allow_root is false)");

    // It is the uid that counts, not the name.
    CHECK(check_login_allowed(rules, UserInfo{0, "toor", {}}));
    CHECK_FALSE(check_login_allowed(rules, UserInfo{1002, "root", {}}));

    rules.allow_root = true;
    CHECK_FALSE(check_login_allowed(rules, root_user));
}

TEST_CASE("access: allow_root does not override the other rules", "[access]") {
    Access rules;
    rules.allow_root = true;
    rules.allowed_users = {"alice"};
    CHECK(check_login_allowed(rules, root_user));
    rules.allowed_users = {"root"};
    rules.denied_groups = {"root"};
    CHECK(check_login_allowed(rules, root_user));
}

TEST_CASE("access: denied_users refuses the user", "[access]") {
    Access rules;
    rules.denied_users = {"mallory", "bob"};
    CHECK_FALSE(check_login_allowed(rules, alice));
    const auto refused = check_login_allowed(rules, bob);
    REQUIRE(refused);
    CHECK(*refused == "user 'bob' is not allowed to log in (listed in access.denied_users)");
}

TEST_CASE("access: denied_groups refuses members of any listed group", "[access]") {
    Access rules;
    rules.denied_groups = {"nologin", "remote"};
    CHECK_FALSE(check_login_allowed(rules, bob));
    const auto refused = check_login_allowed(rules, alice);
    REQUIRE(refused);
    CHECK(*refused == "user 'alice' is not allowed to log in (member of group 'remote' in access.denied_groups)");
}

TEST_CASE("access: deny wins over allow", "[access]") {
    Access rules;
    rules.allowed_users = {"alice"};
    rules.allowed_groups = {"staff"};
    rules.denied_users = {"alice"};
    CHECK_THAT(*check_login_allowed(rules, alice), Catch::Contains("denied_users"));

    rules.denied_users.clear();
    rules.denied_groups = {"staff"};
    CHECK_THAT(*check_login_allowed(rules, alice), Catch::Contains("denied_groups"));
}

TEST_CASE("access: allowed_users restricts to the listed users", "[access]") {
    Access rules;
    rules.allowed_users = {"alice"};
    CHECK_FALSE(check_login_allowed(rules, alice));
    const auto refused = check_login_allowed(rules, bob);
    REQUIRE(refused);
    CHECK(*refused == "user 'bob' is not allowed to log in (neither in access.allowed_users nor a member of a "
                      "group in access.allowed_groups)");
}

TEST_CASE("access: allowed_groups restricts to members, primary or supplementary", "[access]") {
    Access rules;
    rules.allowed_groups = {"remote"};
    CHECK_FALSE(check_login_allowed(rules, alice));
    CHECK(check_login_allowed(rules, bob));

    rules.allowed_groups = {"bob"};  // bob's primary group
    CHECK_FALSE(check_login_allowed(rules, bob));
    CHECK(check_login_allowed(rules, alice));
}

TEST_CASE("access: either allowed list suffices when both are set", "[access]") {
    Access rules;
    rules.allowed_users = {"bob"};
    rules.allowed_groups = {"remote"};
    CHECK_FALSE(check_login_allowed(rules, alice));  // by group
    CHECK_FALSE(check_login_allowed(rules, bob));    // by name
    CHECK(check_login_allowed(rules, UserInfo{1003, "carol", {"carol", "staff"}}));
}

TEST_CASE("access: names match exactly", "[access]") {
    Access rules;
    rules.allowed_users = {"Alice"};
    rules.allowed_groups = {"remot"};
    CHECK(check_login_allowed(rules, alice));
}

TEST_CASE("access: lookup_user reads root from the system", "[access]") {
    const auto by_name = rsm::access::lookup_user(std::string{"root"});
    REQUIRE(by_name);
    CHECK(by_name->uid == 0);
    CHECK(by_name->name == "root");
    REQUIRE_FALSE(by_name->groups.empty());
    CHECK(by_name->groups.front() == "root");  // the primary group comes first

    const auto by_uid = rsm::access::lookup_user(uid_t{0});
    REQUIRE(by_uid);
    CHECK(*by_uid == *by_name);
}

TEST_CASE("access: lookup_user of an unknown user is empty", "[access]") {
    CHECK_FALSE(rsm::access::lookup_user(std::string{"rsm-no-such-user-xyz"}));
    CHECK_FALSE(rsm::access::lookup_user(uid_t{4000000000U}));
}
