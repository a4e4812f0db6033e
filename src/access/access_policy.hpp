// rsm's own access rules ([access] in rsm.toml), applied after the user is
// known and before PAM's account management: who may log in at all.
//
// The rules, in the order they are checked:
//   1. uid 0 is refused unless access.allow_root;
//   2. a user in denied_users, or in any group of denied_groups, is refused
//      (deny wins over allow);
//   3. if allowed_users or allowed_groups is non-empty, the user must be in
//      allowed_users or in a group of allowed_groups (either list suffices);
//      with both empty every remaining user is allowed.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "config/config.hpp"

namespace rsm::access {

// The facts about a user the rules look at.
struct UserInfo {
    uid_t uid = 0;
    std::string name;
    std::vector<std::string> groups;  // names of the primary and supplementary groups

    bool operator==(const UserInfo&) const = default;
};

// nullopt if `user` may log in, else a sentence saying which rule refused
// it, e.g. "user 'root' is not allowed to log in (access.allow_root is false)".
std::optional<std::string> check_login_allowed(const config::Access& rules, const UserInfo& user);

// Reads a user from the passwd and group databases (NSS). nullopt if there
// is no such user; throws std::system_error if the lookup itself fails.
// Group ids without a name are left out (no rule can name them).
std::optional<UserInfo> lookup_user(const std::string& name);
std::optional<UserInfo> lookup_user(uid_t uid);

}  // namespace rsm::access
