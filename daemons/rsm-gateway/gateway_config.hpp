// rsm-gateway's own configuration, /etc/rsm/gateway.toml (docs/rsm-gateway.md).
// Small on purpose: what the manager decides (who may log in, reconnect
// policy, throttling) stays in rsm.toml; this file says only what the
// gateway itself needs. A missing file means the defaults.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "user_mode.hpp"

namespace rsm::gateway {

struct GatewayConfig {
    // [tls] A PEM certificate (chain) and its key: enables X509Plain. The
    // key must be readable by the gateway's dynamic user (group rsm-gateway).
    std::string certificate;
    std::string key;
    // [session] The size of a new session's desktop (viewers may resize it).
    unsigned width = 1280;
    unsigned height = 800;
    unsigned depth = 24;
    // [limits] From accept to credentials checked and session attached.
    unsigned auth_timeout_sec = 30;
    // [http] The directory browsers get noVNC from (GET /, /app/..., ...).
    std::string novnc_root = "/usr/share/novnc";
    // Not from the file: set by --user-mode (main.cpp), the one user this
    // gateway serves (user_mode.hpp); empty for the system units.
    std::optional<ServedUser> served_user;
};

// The configuration, or an error text naming file and line.
struct ConfigResult {
    std::optional<GatewayConfig> config;
    std::string error;
};
ConfigResult load_gateway_config(const std::string& path);
ConfigResult parse_gateway_config(std::string_view text, std::string_view source);

}  // namespace rsm::gateway
