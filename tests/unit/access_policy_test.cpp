// Tests for src/access/access_policy: each rule with an injected UserInfo
// and SystemAccounts, the order in which they refuse, the peer-credential
// rules, and the NSS lookup against the one user every system has.
#include <catch2/catch.hpp>

#include "access/access_policy.hpp"

using rsm::access::check_login_allowed;
using rsm::access::check_peer_credentials_allowed;
using rsm::access::SystemAccounts;
using rsm::access::UserInfo;
using rsm::config::Access;

namespace {

const UserInfo alice{1000, "alice", {"alice", "staff", "remote"}};
const UserInfo bob{1001, "bob", {"bob", "staff"}};
const UserInfo root_user{0, "root", {"root"}, "/bin/bash"};
// Debian's defaults.
const SystemAccounts debian{1000, {"/bin/sh", "/usr/bin/sh", "/bin/bash", "/usr/bin/bash", "/bin/dash"}};

}  // namespace

TEST_CASE("access: with default rules every non-root user may log in", "[access]") {
    const Access rules;
    CHECK_FALSE(check_login_allowed(rules, alice, debian));
    CHECK_FALSE(check_login_allowed(rules, bob, debian));
}

TEST_CASE("access: root is refused unless allow_root", "[access]") {
    Access rules;
    const auto refused = check_login_allowed(rules, root_user, debian);
    REQUIRE(refused);
    CHECK(*refused == "user 'root' is not allowed to log in (access.allow_root is false)");

    // It is the uid that counts, not the name.
    CHECK(check_login_allowed(rules, UserInfo{0, "toor", {}}, debian));
    CHECK_FALSE(check_login_allowed(rules, UserInfo{1002, "root", {}}, debian));

    rules.allow_root = true;
    CHECK_FALSE(check_login_allowed(rules, root_user, debian));
}

TEST_CASE("access: allow_root does not override the other rules", "[access]") {
    Access rules;
    rules.allow_root = true;
    rules.allowed_users = {"alice"};
    CHECK(check_login_allowed(rules, root_user, debian));
    rules.allowed_users = {"root"};
    rules.denied_groups = {"root"};
    CHECK(check_login_allowed(rules, root_user, debian));
}

TEST_CASE("access: denied_users refuses the user", "[access]") {
    Access rules;
    rules.denied_users = {"mallory", "bob"};
    CHECK_FALSE(check_login_allowed(rules, alice, debian));
    const auto refused = check_login_allowed(rules, bob, debian);
    REQUIRE(refused);
    CHECK(*refused == "user 'bob' is not allowed to log in (listed in access.denied_users)");
}

TEST_CASE("access: denied_groups refuses members of any listed group", "[access]") {
    Access rules;
    rules.denied_groups = {"nologin", "remote"};
    CHECK_FALSE(check_login_allowed(rules, bob, debian));
    const auto refused = check_login_allowed(rules, alice, debian);
    REQUIRE(refused);
    CHECK(*refused == "user 'alice' is not allowed to log in (member of group 'remote' in access.denied_groups)");
}

TEST_CASE("access: deny wins over allow", "[access]") {
    Access rules;
    rules.allowed_users = {"alice"};
    rules.allowed_groups = {"staff"};
    rules.denied_users = {"alice"};
    CHECK_THAT(*check_login_allowed(rules, alice, debian), Catch::Contains("denied_users"));

    rules.denied_users.clear();
    rules.denied_groups = {"staff"};
    CHECK_THAT(*check_login_allowed(rules, alice, debian), Catch::Contains("denied_groups"));
}

TEST_CASE("access: allowed_users restricts to the listed users", "[access]") {
    Access rules;
    rules.allowed_users = {"alice"};
    CHECK_FALSE(check_login_allowed(rules, alice, debian));
    const auto refused = check_login_allowed(rules, bob, debian);
    REQUIRE(refused);
    CHECK(*refused == "user 'bob' is not allowed to log in (neither in access.allowed_users nor a member of a "
                      "group in access.allowed_groups)");
}

TEST_CASE("access: allowed_groups restricts to members, primary or supplementary", "[access]") {
    Access rules;
    rules.allowed_groups = {"remote"};
    CHECK_FALSE(check_login_allowed(rules, alice, debian));
    CHECK(check_login_allowed(rules, bob, debian));

    rules.allowed_groups = {"bob"};  // bob's primary group
    CHECK_FALSE(check_login_allowed(rules, bob, debian));
    CHECK(check_login_allowed(rules, alice, debian));
}

TEST_CASE("access: either allowed list suffices when both are set", "[access]") {
    Access rules;
    rules.allowed_users = {"bob"};
    rules.allowed_groups = {"remote"};
    CHECK_FALSE(check_login_allowed(rules, alice, debian));  // by group
    CHECK_FALSE(check_login_allowed(rules, bob, debian));    // by name
    CHECK(check_login_allowed(rules, UserInfo{1003, "carol", {"carol", "staff"}}, debian));
}

TEST_CASE("access: names match exactly", "[access]") {
    Access rules;
    rules.allowed_users = {"Alice"};
    rules.allowed_groups = {"remot"};
    CHECK(check_login_allowed(rules, alice, debian));
}

TEST_CASE("access: system accounts (uid below UID_MIN) are refused unless allowed", "[access]") {
    Access rules;
    const UserInfo www{33, "www-data", {"www-data"}, "/bin/sh"};
    const auto refused = check_login_allowed(rules, www, debian);
    REQUIRE(refused);
    CHECK(*refused == "user 'www-data' is not allowed to log in (system account: uid 33 is below UID_MIN 1000 "
                      "and access.allow_system_accounts is false)");
    // UID_MIN itself is an ordinary user.
    CHECK_FALSE(check_login_allowed(rules, UserInfo{1000, "first", {}, "/bin/sh"}, debian));
    CHECK(check_login_allowed(rules, UserInfo{999, "last", {}, "/bin/sh"}, debian));

    // UID_MIN is the system's: a site with UID_MIN 500 has users from 500.
    const SystemAccounts old_site{500, debian.shells};
    CHECK_FALSE(check_login_allowed(rules, UserInfo{600, "u", {}, "/bin/sh"}, old_site));

    rules.allow_system_accounts = true;
    CHECK_FALSE(check_login_allowed(rules, www, debian));
}

TEST_CASE("access: root is governed by allow_root alone, never as a system account", "[access]") {
    Access rules;
    rules.allow_root = true;
    CHECK_FALSE(check_login_allowed(rules, root_user, debian));
    rules.allow_root = false;
    rules.allow_system_accounts = true;
    CHECK_THAT(*check_login_allowed(rules, root_user, debian), Catch::Contains("allow_root"));
}

TEST_CASE("access: a shell not listed in /etc/shells is refused unless allowed", "[access]") {
    Access rules;
    const UserInfo nologin{1005, "nologinuser", {"nologinuser"}, "/usr/sbin/nologin"};
    const auto refused = check_login_allowed(rules, nologin, debian);
    REQUIRE(refused);
    CHECK(*refused == "user 'nologinuser' is not allowed to log in (login shell '/usr/sbin/nologin' is not listed "
                      "in /etc/shells and access.allow_any_shell is false)");
    CHECK(check_login_allowed(rules, UserInfo{1006, "f", {}, "/bin/false"}, debian));
    // An empty shell is /bin/sh (passwd(5)), listed here.
    CHECK_FALSE(check_login_allowed(rules, UserInfo{1007, "e", {}, ""}, debian));
    CHECK_THAT(*check_login_allowed(rules, UserInfo{1007, "e", {}, ""}, SystemAccounts{1000, {"/bin/bash"}}),
               Catch::Contains("'/bin/sh'"));
    // Root's shell counts too.
    rules.allow_root = true;
    CHECK(check_login_allowed(rules, UserInfo{0, "root", {"root"}, "/usr/sbin/nologin"}, debian));

    rules.allow_any_shell = true;
    CHECK_FALSE(check_login_allowed(rules, nologin, debian));
}

TEST_CASE("access: the order of the rules decides which one is named", "[access]") {
    // A system account with nologin, denied by name and outside the allowed
    // group: every rule would refuse it; the journal names the first.
    Access rules;
    rules.denied_users = {"svc"};
    rules.allowed_groups = {"remote"};
    const UserInfo svc{120, "svc", {"svc"}, "/usr/sbin/nologin"};
    CHECK_THAT(*check_login_allowed(rules, svc, debian), Catch::Contains("system account"));
    rules.allow_system_accounts = true;
    CHECK_THAT(*check_login_allowed(rules, svc, debian), Catch::Contains("login shell"));
    rules.allow_any_shell = true;
    CHECK_THAT(*check_login_allowed(rules, svc, debian), Catch::Contains("denied_users"));
    rules.denied_users.clear();
    CHECK_THAT(*check_login_allowed(rules, svc, debian), Catch::Contains("allowed_groups"));
    rules.allowed_groups = {"svc"};
    CHECK_FALSE(check_login_allowed(rules, svc, debian));
}

TEST_CASE("access: peer-credential login is off by default", "[access]") {
    Access rules;
    const auto refused = check_peer_credentials_allowed(rules, alice);
    REQUIRE(refused);
    CHECK(*refused == "login by peer credentials is disabled (access.allow_peer_credentials is false)");
    rules.allow_peer_credentials = true;
    CHECK_FALSE(check_peer_credentials_allowed(rules, alice));
    CHECK_FALSE(check_peer_credentials_allowed(rules, bob));
}

TEST_CASE("access: peer_credential_groups limits peer-credential login to members", "[access]") {
    Access rules;
    rules.allow_peer_credentials = true;
    rules.peer_credential_groups = {"remote"};
    CHECK_FALSE(check_peer_credentials_allowed(rules, alice));
    const auto refused = check_peer_credentials_allowed(rules, bob);
    REQUIRE(refused);
    CHECK(*refused == "user 'bob' is not allowed to log in (peer-credential login: not a member of a group in "
                      "access.peer_credential_groups)");
    // The groups never stand in for the switch.
    rules.allow_peer_credentials = false;
    CHECK(check_peer_credentials_allowed(rules, alice));
    // ...and do not restrict password logins.
    CHECK_FALSE(check_login_allowed(rules, bob, debian));
}

TEST_CASE("access: lookup_user reads root from the system", "[access]") {
    const auto by_name = rsm::access::lookup_user(std::string{"root"});
    REQUIRE(by_name);
    CHECK(by_name->uid == 0);
    CHECK(by_name->name == "root");
    REQUIRE_FALSE(by_name->groups.empty());
    CHECK(by_name->groups.front() == "root");  // the primary group comes first
    CHECK_FALSE(by_name->shell.empty());

    const auto by_uid = rsm::access::lookup_user(uid_t{0});
    REQUIRE(by_uid);
    CHECK(*by_uid == *by_name);
}

TEST_CASE("access: lookup_user of an unknown user is empty", "[access]") {
    CHECK_FALSE(rsm::access::lookup_user(std::string{"rsm-no-such-user-xyz"}));
    CHECK_FALSE(rsm::access::lookup_user(uid_t{4000000000U}));
}
