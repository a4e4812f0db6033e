// What the gateway side of the manager needs from the configuration, in the
// manager's own terms (filled from rsm::config::Config by main).
#pragma once

#include <chrono>
#include <cstddef>
#include <set>
#include <string>
#include <sys/types.h>
#include <vector>

#include "config/config.hpp"

namespace rsm::manager {

struct GatewaySettings {
    // The unauthenticated-time budget of one connection: time spent not
    // logged in (before the first login, and after every Logout) adds up,
    // and the connection is closed when it reaches this.
    std::chrono::seconds login_timeout{30};
    unsigned max_login_attempts = 3;  // 0: no per-connection limit
    std::size_t max_connections = 1024;
    std::size_t max_unauthenticated = 64;
    std::size_t max_connections_per_uid = 32;  // untrusted peers only
    unsigned max_logins_per_uid = 4;           // untrusted peers only
    unsigned max_logins_per_source = 2;
    // A failed password or conversation login is answered this long after
    // the call it answers arrived, never earlier.
    std::chrono::milliseconds failure_delay{2000};

    // Trusted gateways (their client address and host name are believed):
    // uid 0 always, plus these uids and members of these gids (primary gid
    // or SO_PEERGROUPS). main resolves [gateway] trusted_users and
    // trusted_groups with NSS when the configuration is (re)loaded, so no
    // connection ever waits on NSS.
    std::set<uid_t> trusted_uids;
    std::set<gid_t> trusted_gids;

    std::string pam_service = "rsm";
    config::Access access;  // passed to executors, which apply it

    std::string executor_path;  // rsm-session
    std::string runtime_dir;    // /run/rsm
    std::string version;
};

}  // namespace rsm::manager
