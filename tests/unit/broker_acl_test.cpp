// src/broker/acl: the whole decision table, checked against what
// python-x2gobroker 0.0.4.3's own check_profile_acls answers for the same
// grid (the bit strings below; regenerate with broker_acl_table.py).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "broker/acl.hpp"

using namespace rsm::broker;

namespace {

using Names = std::vector<std::string>;
struct Rule {
    Names allow, deny;
};

std::optional<AclOrder> order_of(const std::string& s) {
    return s.empty() ? std::nullopt : acl_order_from_string(s);
}

std::vector<Network> nets(const Names& names) {
    std::vector<Network> out;
    for (const auto& n : names) {
        if (n == "ALL") {
            out.push_back(*parse_network("0.0.0.0/0"));
            out.push_back(*parse_network("::/0"));
        } else {
            out.push_back(*parse_network(n));
        }
    }
    return out;
}

// x2gobroker's answers, in the loop order below (users, user order, groups, group order).
constexpr const char* users_groups_expected =
    "1111000111000001111100011100000111111111111111111111111111111111"
    "0000000000000000000000000000000000000000000000001111111111111111"
    "1111111111111111111111111111111100000000000000000000000000000000"
    "0011000111000001001100011100000100000000000000001111111111111111";
// (client rules, client order, user rule none / allow bob) for client 10.1.2.3.
constexpr const char* clients_expected = "101010101010000000101010001000001000000000";

}  // namespace

TEST_CASE("user and group ACLs decide as x2gobroker's check_profile_acls", "[broker][acl]") {
    const std::vector<Rule> users{{{}, {}},           {{"alice"}, {}}, {{}, {"alice"}}, {{"alice"}, {"alice"}},
                                  {{"ALL"}, {}},      {{}, {"ALL"}},   {{"bob"}, {}},   {{"alice"}, {"ALL"}}};
    const std::vector<Rule> groups{{{}, {}},          {{"staff"}, {}}, {{}, {"staff"}}, {{"staff"}, {"staff"}},
                                   {{"ALL"}, {}},     {{}, {"ALL"}},   {{"other"}, {}}, {{"staff"}, {"ALL"}}};
    const std::vector<std::string> orders{"", "allow-deny"};
    std::size_t i = 0;
    for (const auto& u : users)
        for (const auto& uo : orders)
            for (const auto& g : groups)
                for (const auto& go : orders) {
                    Acl acl;
                    acl.users_allow = u.allow;
                    acl.users_deny = u.deny;
                    acl.users_order = order_of(uo);
                    acl.groups_allow = g.allow;
                    acl.groups_deny = g.deny;
                    acl.groups_order = order_of(go);
                    const bool expected = users_groups_expected[i++] == '1';
                    INFO("row " << i - 1);
                    CHECK(acl_permits(acl, "alice", {"staff"}, "10.1.2.3") == expected);
                }
    CHECK(i == std::string(users_groups_expected).size());
}

TEST_CASE("client ACLs decide first, as x2gobroker's", "[broker][acl]") {
    const std::vector<Rule> clients{{{}, {}},
                                    {{"ALL"}, {}},
                                    {{}, {"ALL"}},
                                    {{"10.0.0.0/8"}, {}},
                                    {{"10.0.0.0/8"}, {"10.1.0.0/16"}},
                                    {{"10.1.0.0/16"}, {"10.0.0.0/8"}},
                                    {{"192.168.0.0/16"}, {}}};
    const std::vector<std::string> orders{"", "allow-deny", "deny-allow"};
    std::size_t i = 0;
    for (const auto& c : clients)
        for (const auto& co : orders)
            for (const bool bob_only : {false, true}) {
                Acl acl;
                acl.clients_allow = nets(c.allow);
                acl.clients_deny = nets(c.deny);
                acl.clients_order = order_of(co);
                if (bob_only) acl.users_allow = {"bob"};
                const bool expected = clients_expected[i++] == '1';
                INFO("row " << i - 1);
                CHECK(acl_permits(acl, "alice", {"staff"}, "10.1.2.3") == expected);
            }
    CHECK(i == std::string(clients_expected).size());
}

TEST_CASE("acl-any-order applies to kinds without their own order", "[broker][acl]") {
    Acl acl;
    acl.users_allow = {"alice"};
    acl.users_deny = {"ALL"};
    CHECK_FALSE(acl_permits(acl, "alice", {}, ""));
    acl.any_order = AclOrder::allow_deny;
    CHECK(acl_permits(acl, "alice", {}, ""));
    acl.users_order = AclOrder::deny_allow;
    CHECK_FALSE(acl_permits(acl, "alice", {}, ""));
}

TEST_CASE("client rules with an unknown or IPv6 client address", "[broker][acl]") {
    Acl acl;
    acl.clients_allow = nets({"10.0.0.0/8"});
    CHECK_FALSE(acl_permits(acl, "alice", {}, ""));
    CHECK_FALSE(acl_permits(acl, "alice", {}, "2001:db8::1"));
    CHECK(acl_permits(acl, "alice", {}, "::ffff:10.9.9.9"));  // IPv4-mapped counts as IPv4
    acl.clients_allow = nets({"2001:db8::/32"});
    CHECK(acl_permits(acl, "alice", {}, "2001:db8::1"));
    CHECK_FALSE(acl_permits(acl, "alice", {}, "10.9.9.9"));
}

TEST_CASE("networks parse as CIDR or single addresses", "[broker][acl]") {
    CHECK(parse_network("10.0.0.0/8"));
    CHECK(parse_network("10.1.2.3"));
    CHECK(parse_network("::/0"));
    CHECK(parse_network("2001:db8::/129") == std::nullopt);
    CHECK(parse_network("10.0.0.0/33") == std::nullopt);
    CHECK(parse_network("10.0.0.0/") == std::nullopt);
    CHECK(parse_network("10.0.0.0/8x") == std::nullopt);
    CHECK(parse_network("example.org") == std::nullopt);
    CHECK(contains(*parse_network("10.1.0.0/17"), *parse_address("10.1.127.255")));
    CHECK_FALSE(contains(*parse_network("10.1.0.0/17"), *parse_address("10.1.128.0")));
    CHECK(to_string(AclOrder::allow_deny) == "allow-deny");
    CHECK(acl_order_from_string(to_string(AclOrder::deny_allow)) == AclOrder::deny_allow);
}
