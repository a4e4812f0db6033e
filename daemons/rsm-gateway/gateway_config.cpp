#include "gateway_config.hpp"

#include "config/frontend_config.hpp"

namespace rsm::gateway {

namespace fc = config::frontend;

ConfigResult parse_gateway_config(std::string_view text, std::string_view source) {
    GatewayConfig c;
    const std::string error = fc::walk(text, source, [&](const std::string& t, const std::string& k, const toml::node& n) {
        if (t == "tls" && k == "certificate") return fc::read_absolute_path(source, n, k, c.certificate, true);
        if (t == "tls" && k == "key") return fc::read_absolute_path(source, n, k, c.key, true);
        if (t == "session" && k == "width") return fc::read_uint(source, n, k, 64, 16384, c.width);
        if (t == "session" && k == "height") return fc::read_uint(source, n, k, 64, 16384, c.height);
        if (t == "session" && k == "depth") return fc::read_uint(source, n, k, 8, 32, c.depth);
        if (t == "limits" && k == "auth_timeout") return fc::read_uint(source, n, k, 1, 600, c.auth_timeout_sec);
        if (t == "http" && k == "novnc_root") return fc::read_absolute_path(source, n, k, c.novnc_root, false);
        return fc::unknown_key(source, n, t, k);
    });
    if (!error.empty()) return {std::nullopt, error};
    if (c.certificate.empty() != c.key.empty()) return {std::nullopt, std::string(source) + ": [tls] certificate and key go together"};
    return {c, {}};
}

ConfigResult load_gateway_config(const std::string& path) {
    auto f = fc::read_file(path);
    if (!f.text) return f.error.empty() ? ConfigResult{GatewayConfig{}, {}} : ConfigResult{std::nullopt, f.error};
    return parse_gateway_config(*f.text, path);
}

}  // namespace rsm::gateway
