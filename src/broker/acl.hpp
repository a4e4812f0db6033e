// A session profile's access rules, evaluated as python-x2gobroker 0.0.4.3
// does (x2gobroker/brokers/base_broker.py, check_profile_acls):
//  1. client rules (acl-clients-allow/deny: CIDR or ALL) decide first; if
//     any exist, the client must come out allowed or nothing else matters;
//  2. no user or group rules: allowed;
//  3. user rules (names or ALL): an explicit allow wins over any group rule;
//  4. group rules ("ALL" is every user's group): allowed if a group allows
//     and the user rules did not deny.
// Within a kind, "deny-allow" (default) lets a deny win when both match,
// "allow-deny" lets an allow win.
//
// One difference: x2gobroker's empty acl-{users,groups,clients}-order
// defaults shadow acl-any-order, so its acl-any-order never applies; here
// acl-any-order is the order of every kind that sets none of its own.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rsm::broker {

enum class AclOrder { deny_allow, allow_deny };
std::string_view to_string(AclOrder o);
std::optional<AclOrder> acl_order_from_string(std::string_view s);

// An IPv4 or IPv6 network; IPv4 never matches an IPv6 client and back.
struct Network {
    bool v6 = false;
    std::array<std::uint8_t, 16> bytes{};
    unsigned prefix = 0;
};
// "192.0.2.0/24", "2001:db8::/32", "192.0.2.7"; nullopt if malformed.
std::optional<Network> parse_network(std::string_view text);
// A numeric client address ("192.0.2.7", "::1"); nullopt if malformed.
std::optional<Network> parse_address(std::string_view text);
bool contains(const Network& net, const Network& address);

struct Acl {
    std::vector<std::string> users_allow, users_deny;
    std::vector<std::string> groups_allow, groups_deny;
    std::vector<Network> clients_allow, clients_deny;  // ALL = 0.0.0.0/0 and ::/0
    std::optional<AclOrder> users_order, groups_order, clients_order;
    AclOrder any_order = AclOrder::deny_allow;
};

// `groups`: the user's groups (x2gobroker ignores primary groups by
// default); `client_address`: numeric, "" if unknown (then no client rule
// matches it).
bool acl_permits(const Acl& acl, std::string_view user, const std::vector<std::string>& groups,
                 std::string_view client_address);

}  // namespace rsm::broker
