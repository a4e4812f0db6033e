#include "broker/acl.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <charconv>
#include <cstring>

namespace rsm::broker {

std::string_view to_string(AclOrder o) { return o == AclOrder::allow_deny ? "allow-deny" : "deny-allow"; }

std::optional<AclOrder> acl_order_from_string(std::string_view s) {
    if (s == "deny-allow") return AclOrder::deny_allow;
    if (s == "allow-deny") return AclOrder::allow_deny;
    return std::nullopt;
}

std::optional<Network> parse_address(std::string_view text) {
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    const std::string s{text};
    Network n;
    if (inet_pton(AF_INET, s.c_str(), n.bytes.data()) == 1) {
        n.prefix = 32;
        return n;
    }
    in6_addr a6{};
    if (inet_pton(AF_INET6, s.c_str(), &a6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
            std::memcpy(n.bytes.data(), &a6.s6_addr[12], 4);
            n.prefix = 32;
            return n;
        }
        n.v6 = true;
        std::memcpy(n.bytes.data(), &a6, 16);
        n.prefix = 128;
        return n;
    }
    return std::nullopt;
}

std::optional<Network> parse_network(std::string_view text) {
    const std::size_t slash = text.find('/');
    auto n = parse_address(text.substr(0, slash));
    if (!n) return std::nullopt;
    if (slash == std::string_view::npos) return n;
    const std::string_view p = text.substr(slash + 1);
    unsigned prefix = 0;
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || ec != std::errc{} || end != p.data() + p.size() || prefix > (n->v6 ? 128u : 32u))
        return std::nullopt;
    n->prefix = prefix;
    return n;
}

bool contains(const Network& net, const Network& address) {
    if (net.v6 != address.v6) return false;
    const unsigned full = net.prefix / 8, rest = net.prefix % 8;
    if (!std::equal(net.bytes.begin(), net.bytes.begin() + full, address.bytes.begin())) return false;
    if (rest == 0) return true;
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (net.bytes[full] & mask) == (address.bytes[full] & mask);
}

namespace {

// deny-allow: a matching deny decides; allow-deny: a matching allow decides.
std::optional<bool> decide(AclOrder order, bool allowed, bool denied) {
    if (order == AclOrder::allow_deny) {
        if (allowed) return true;
        if (denied) return false;
    } else {
        if (denied) return false;
        if (allowed) return true;
    }
    return std::nullopt;
}

bool listed(const std::vector<std::string>& names, std::string_view name) {
    return std::find(names.begin(), names.end(), name) != names.end() ||
           std::find(names.begin(), names.end(), "ALL") != names.end();
}

bool any_in(const std::vector<Network>& nets, const std::optional<Network>& address) {
    if (!address) return false;
    return std::any_of(nets.begin(), nets.end(), [&](const Network& n) { return contains(n, *address); });
}

}  // namespace

bool acl_permits(const Acl& acl, std::string_view user, const std::vector<std::string>& groups,
                 std::string_view client_address) {
    if (!acl.clients_allow.empty() || !acl.clients_deny.empty()) {
        const auto address = parse_address(client_address);
        const auto by_client = decide(acl.clients_order.value_or(acl.any_order), any_in(acl.clients_allow, address),
                                      any_in(acl.clients_deny, address));
        if (by_client != true) return false;
    }
    const bool user_rules = !acl.users_allow.empty() || !acl.users_deny.empty();
    const bool group_rules = !acl.groups_allow.empty() || !acl.groups_deny.empty();
    if (!user_rules && !group_rules) return true;

    std::optional<bool> by_user;
    if (user_rules) {
        by_user = decide(acl.users_order.value_or(acl.any_order), listed(acl.users_allow, user),
                         listed(acl.users_deny, user));
        if (by_user == true) return true;  // an explicit user allow wins over groups
    }
    if (group_rules) {
        auto member = [&](const std::vector<std::string>& names) {
            if (std::find(names.begin(), names.end(), "ALL") != names.end()) return true;
            return std::any_of(groups.begin(), groups.end(), [&](const std::string& g) {
                return std::find(names.begin(), names.end(), g) != names.end();
            });
        };
        const auto by_group =
            decide(acl.groups_order.value_or(acl.any_order), member(acl.groups_allow), member(acl.groups_deny));
        if (by_group == true && by_user != false) return true;
    }
    return false;
}

}  // namespace rsm::broker
