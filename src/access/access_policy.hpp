// rsm's own access rules ([access] in rsm.toml): who may log in at all.
//
// When they are checked (daemons/rsm-session/executor.cpp): for password and
// conversation logins only after pam_authenticate succeeded, and a refusal
// is then answered exactly like a wrong password (no enumeration); for
// peer-credential logins before PAM's account management, refused with
// LoginDenied (the peer knows its own uid anyway).
//
// check_login_allowed's rules, in the order they are checked (the first
// that refuses names the reason):
//   1. uid 0 is refused unless access.allow_root (root is governed by that
//      alone, never counted as a system account);
//   2. a system account (uid below UID_MIN of /etc/login.defs) is refused
//      unless access.allow_system_accounts;
//   3. an account whose login shell is not listed in /etc/shells (an empty
//      shell is /bin/sh) is refused unless access.allow_any_shell;
//   4. a user in denied_users, or in any group of denied_groups, is refused
//      (deny wins over allow);
//   5. if allowed_users or allowed_groups is non-empty, the user must be in
//      allowed_users or in a group of allowed_groups (either list suffices);
//      with both empty every remaining user is allowed.
// Peer-credential logins must first pass check_peer_credentials_allowed.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "access/system_accounts.hpp"
#include "config/config.hpp"

namespace rsm::access {

// The facts about a user the rules look at.
struct UserInfo {
    uid_t uid = 0;
    std::string name;
    std::vector<std::string> groups;  // names of the primary and supplementary groups
    std::string shell = "/bin/sh";    // pw_shell ("" means /bin/sh)

    bool operator==(const UserInfo&) const = default;
};

// nullopt if `user` may log in, else a sentence saying which rule refused
// it, e.g. "user 'root' is not allowed to log in (access.allow_root is false)".
// The sentence is for the journal; whether the peer sees it depends on the
// login kind (see above).
std::optional<std::string> check_login_allowed(const config::Access& rules, const UserInfo& user,
                                               const SystemAccounts& system);

// For LoginWithCredentials only: nullopt if `user` may log in by peer
// credentials at all (access.allow_peer_credentials, and membership of a
// group in access.peer_credential_groups when that list is not empty).
std::optional<std::string> check_peer_credentials_allowed(const config::Access& rules, const UserInfo& user);

// Reads a user from the passwd and group databases (NSS). nullopt if there
// is no such user; throws std::system_error if the lookup itself fails.
// Group ids without a name are left out (no rule can name them).
std::optional<UserInfo> lookup_user(const std::string& name);
std::optional<UserInfo> lookup_user(uid_t uid);

}  // namespace rsm::access
