// Per-user socket directories, /run/rsm/user/<uid>: mode 0700, owned by the
// user. Gateways put their sockets there (Gateway1.CreateSockdir) and so do
// sessions (Xvnc's RFB socket, the Xauthority file).
#pragma once

#include <string>
#include <sys/types.h>

namespace rsm::manager {

// Creates runtime_dir/user/<uid> if needed and repairs owner and mode without
// following symlinks. Returns the path. Throws std::runtime_error saying what failed.
std::string ensure_user_sockdir(const std::string& runtime_dir, uid_t uid);

}  // namespace rsm::manager
