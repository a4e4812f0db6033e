// What the system itself says about who is a real login account: UID_MIN
// of /etc/login.defs (below it are service accounts such as www-data) and
// the login shells listed in /etc/shells (not nologin or false). rsm's
// access rules (access_policy.hpp) refuse the others by default.
//
// The parsers take the files' text so they can be tested; read_system_accounts()
// reads the real files. Both files are read afresh by each executor.
#pragma once

#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace rsm::access {

// UID_MIN when login.defs does not set it (shadow's and Debian's default).
inline constexpr uid_t default_uid_min = 1000;

struct SystemAccounts {
    uid_t uid_min = default_uid_min;
    std::vector<std::string> shells;  // absolute paths, as listed

    bool operator==(const SystemAccounts&) const = default;
};

// UID_MIN from the text of /etc/login.defs: "NAME value" lines, '#'
// comments; the last valid setting wins (as in shadow's getdef). A missing,
// malformed or out-of-range value gives default_uid_min.
uid_t parse_uid_min(std::string_view login_defs);

// The shells listed in the text of /etc/shells, in order: one absolute path
// per line, '#' comments and blank lines ignored, as getusershell(3) reads it.
std::vector<std::string> parse_shells(std::string_view etc_shells);

// Whether `shell` (a passwd entry's pw_shell) is a listed login shell. An
// empty shell means /bin/sh (passwd(5)).
bool shell_listed(const std::vector<std::string>& shells, std::string_view shell);

// Reads both files. A missing login.defs gives default_uid_min; a missing
// /etc/shells gives getusershell's built-in list (/bin/sh, /bin/csh).
// Throws std::system_error when a file exists but cannot be read.
SystemAccounts read_system_accounts(const std::string& login_defs_path = "/etc/login.defs",
                                    const std::string& shells_path = "/etc/shells");

}  // namespace rsm::access
