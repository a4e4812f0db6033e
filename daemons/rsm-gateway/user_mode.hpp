// rsm-gateway run by a normal user for their own sessions (--user-mode;
// units/user/rsm-gateway@.service.in, docs/rsm-gateway.md "Running it as a
// normal user"). Such a gateway serves the one user it runs as: a remote
// client must name that user (with a session selector or without:
// "alice", "alice:new", "alice:<id prefix>"); any other name is refused
// with "Authentication failed" before rsm is asked anything, so another
// user's password never leaves this process. It logs in to rsm as an
// ordinary, untrusted peer (LoginWithPassword: PAM in rsm's executor), and
// the uid rsm logged in must be its own.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace rsm::gateway {

struct ServedUser {
    std::string name;  // the passwd entry's name of the process's uid
    uid_t uid = 0;
};

// Whether a remote client naming `requested` (the selector's user part) may
// be logged in: always in system mode (`served` empty), else only when it is
// the served user's name, byte for byte.
bool user_mode_admits(const std::optional<ServedUser>& served, std::string_view requested);

// Whether the uid rsm logged in (LoginWithPassword's answer) may be served:
// in user mode only the gateway's own (a name that NSS resolves to another
// uid in rsm's view is refused, whatever the name said).
bool user_mode_admits_uid(const std::optional<ServedUser>& served, uid_t logged_in);

// The passwd entry of `uid` (getpwuid_r), or nullopt with `error` set.
std::optional<ServedUser> served_user_of(uid_t uid, std::string& error);

}  // namespace rsm::gateway
