#include "access/access_policy.hpp"

#include <algorithm>
#include <cerrno>
#include <grp.h>
#include <pwd.h>
#include <system_error>
#include <unistd.h>

namespace rsm::access {
namespace {

bool contains(const std::vector<std::string>& list, std::string_view value) {
    return std::find(list.begin(), list.end(), value) != list.end();
}

// The first group of `user` named in `list`, or nullptr.
const std::string* first_group_in(const std::vector<std::string>& list, const UserInfo& user) {
    for (const auto& group : user.groups) {
        if (contains(list, group))
            return &group;
    }
    return nullptr;
}

std::string refused(const UserInfo& user, const std::string& why) {
    return "user '" + user.name + "' is not allowed to log in (" + why + ")";
}

// Initial buffer size for the *_r lookups; grown on ERANGE.
std::size_t initial_buffer_size(int name) {
    const long n = sysconf(name);
    return n > 0 ? static_cast<std::size_t>(n) : 4096;
}

// Runs a getpw*_r lookup, growing the buffer as asked. `call` has the
// shape of getpwnam_r without its first argument.
template <class Call>
std::optional<UserInfo> lookup_passwd(Call&& call, const char* what) {
    std::vector<char> buffer(initial_buffer_size(_SC_GETPW_R_SIZE_MAX));
    passwd pw{};
    passwd* result = nullptr;
    for (;;) {
        const int r = call(&pw, buffer.data(), buffer.size(), &result);
        if (r == ERANGE && buffer.size() < (1U << 20)) {
            buffer.resize(buffer.size() * 2);
            continue;
        }
        // Some NSS modules report "no such user" as an error, not as a
        // null result (getpwnam_r(3) lists these).
        if (r == ENOENT || r == ESRCH)
            return std::nullopt;
        if (r != 0)
            throw std::system_error(r, std::generic_category(), what);
        break;
    }
    if (!result)
        return std::nullopt;

    UserInfo info;
    info.uid = pw.pw_uid;
    info.name = pw.pw_name;
    info.shell = pw.pw_shell ? pw.pw_shell : "";

    // getgrouplist reports the needed size when the array is too small.
    std::vector<gid_t> gids(32);
    for (;;) {
        int count = static_cast<int>(gids.size());
        if (getgrouplist(pw.pw_name, pw.pw_gid, gids.data(), &count) >= 0) {
            gids.resize(static_cast<std::size_t>(count));
            break;
        }
        gids.resize(std::max(static_cast<std::size_t>(count), gids.size() * 2));
    }

    std::vector<char> group_buffer(initial_buffer_size(_SC_GETGR_R_SIZE_MAX));
    for (gid_t gid : gids) {
        group gr{};
        group* group_result = nullptr;
        int r = 0;
        while ((r = getgrgid_r(gid, &gr, group_buffer.data(), group_buffer.size(),
                               &group_result)) == ERANGE &&
               group_buffer.size() < (1U << 24)) {
            group_buffer.resize(group_buffer.size() * 2);
        }
        if (r != 0)
            throw std::system_error(r, std::generic_category(), "getgrgid_r");
        if (group_result && !contains(info.groups, gr.gr_name))
            info.groups.emplace_back(gr.gr_name);
    }
    return info;
}

}  // namespace

std::optional<std::string> check_login_allowed(const config::Access& rules, const UserInfo& user,
                                               const SystemAccounts& system) {
    if (user.uid == 0 && !rules.allow_root)
        return refused(user, "access.allow_root is false");
    if (user.uid != 0 && user.uid < system.uid_min && !rules.allow_system_accounts)
        return refused(user, "system account: uid " + std::to_string(user.uid) + " is below UID_MIN " +
                                 std::to_string(system.uid_min) + " and access.allow_system_accounts is false");
    if (!rules.allow_any_shell && !shell_listed(system.shells, user.shell))
        return refused(user, "login shell '" + (user.shell.empty() ? std::string("/bin/sh") : user.shell) +
                                 "' is not listed in /etc/shells and access.allow_any_shell is false");
    if (contains(rules.denied_users, user.name))
        return refused(user, "listed in access.denied_users");
    if (const auto* group = first_group_in(rules.denied_groups, user))
        return refused(user, "member of group '" + *group + "' in access.denied_groups");
    if (rules.allowed_users.empty() && rules.allowed_groups.empty())
        return std::nullopt;
    if (contains(rules.allowed_users, user.name) || first_group_in(rules.allowed_groups, user))
        return std::nullopt;
    return refused(user, "neither in access.allowed_users nor a member of a group in access.allowed_groups");
}

std::optional<std::string> check_peer_credentials_allowed(const config::Access& rules, const UserInfo& user) {
    if (!rules.allow_peer_credentials)
        return "login by peer credentials is disabled (access.allow_peer_credentials is false)";
    if (!rules.peer_credential_groups.empty() && !first_group_in(rules.peer_credential_groups, user))
        return refused(user, "peer-credential login: not a member of a group in access.peer_credential_groups");
    return std::nullopt;
}

std::optional<UserInfo> lookup_user(const std::string& name) {
    return lookup_passwd(
        [&](passwd* pw, char* buf, std::size_t size, passwd** result) {
            return getpwnam_r(name.c_str(), pw, buf, size, result);
        },
        "getpwnam_r");
}

std::optional<UserInfo> lookup_user(uid_t uid) {
    return lookup_passwd(
        [&](passwd* pw, char* buf, std::size_t size, passwd** result) {
            return getpwuid_r(uid, pw, buf, size, result);
        },
        "getpwuid_r");
}

}  // namespace rsm::access
