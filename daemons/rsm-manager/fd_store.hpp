// systemd's file-descriptor store, for the executor links: they survive a
// crash or restart of the manager (FDSTORE=1 with FileDescriptorStoreMax= in
// rsm-manager.service), and the next manager takes them back at start-up.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "util/fd.hpp"

namespace rsm::manager {

// The fds systemd handed us at start-up, split by name (FileDescriptorName=
// of the socket unit, FDNAME= of stored fds). Takes them all from
// sd_listen_fds_with_names (unsetting $LISTEN_FDS*).
struct InheritedFds {
    std::vector<std::pair<std::string, UniqueFd>> fds;  // in the order passed
    // Removes and returns the fds whose name is `name` exactly.
    std::vector<UniqueFd> take(const std::string& name);
    // Removes and returns the fds whose name starts with `prefix`, keyed by the
    // rest of the name (for "executor-<session id>").
    std::map<std::string, UniqueFd> take_prefixed(const std::string& prefix);
};
// Throws std::system_error if sd_listen_fds_with_names fails.
InheritedFds take_inherited_fds();

// sd_pid_notify_with_fds(0, 0, "FDSTORE=1\nFDNAME=<name>", fd). The store
// keeps its own duplicate. Returns 0 or -errno; > 0 means "not running under
// systemd" (no $NOTIFY_SOCKET), which is not an error.
int store_fd(const std::string& name, int fd);
// "FDSTOREREMOVE=1\nFDNAME=<name>". Same return convention.
int remove_stored_fd(const std::string& name);

}  // namespace rsm::manager
