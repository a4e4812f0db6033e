// Per-user socket directories, /run/rsm/user/<uid>: mode 0700, owned by the
// user. Gateways put their sockets there (Gateway1.CreateSockdir) and so do
// sessions (Xvnc's RFB socket, the Xauthority file).
#pragma once

#include <string>
#include <sys/types.h>

#include "util/fd.hpp"

namespace rsm::manager {

// Creates runtime_dir/user/<uid> if needed and repairs owner and mode without
// following symlinks. Returns the path. Throws std::runtime_error saying what failed.
std::string ensure_user_sockdir(const std::string& runtime_dir, uid_t uid);

// The existing runtime_dir/user/<uid>, opened O_DIRECTORY|O_NOFOLLOW (its
// parents are root's), for unlinkat/fstatat of what is in it; it must belong
// to `uid`. Empty when it is missing or anything else is found there. Never
// throws.
UniqueFd open_user_sockdir(const std::string& runtime_dir, uid_t uid) noexcept;

}  // namespace rsm::manager
