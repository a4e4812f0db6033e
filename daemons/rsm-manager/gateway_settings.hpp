// What the gateway side of the manager needs from the configuration, in the
// manager's own terms (filled from rsm::config::Config by main).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace rsm::manager {

struct GatewaySettings {
    std::chrono::seconds login_timeout{30};
    unsigned max_login_attempts = 3;  // 0: no per-connection limit
    std::size_t max_connections = 1024;
    std::size_t max_unauthenticated = 64;

    std::string pam_service = "rsm";
    config::Access access;  // passed to executors, which apply it

    std::string executor_path;  // rsm-session
    std::string runtime_dir;    // /run/rsm
    std::string version;
};

}  // namespace rsm::manager
