#include "broker_config.hpp"

#include "config/frontend_config.hpp"

namespace rsm::broker {

std::string_view to_string(AuthMethod m) { return m == AuthMethod::none ? "none" : "pam"; }

std::optional<AuthMethod> auth_method_from_string(std::string_view s) {
    if (s == "pam") return AuthMethod::pam;
    if (s == "none") return AuthMethod::none;
    return std::nullopt;
}

namespace {

namespace fc = config::frontend;

std::string read_backends(std::string_view source, const toml::node& n, std::vector<std::string>& out) {
    const auto* a = n.as_array();
    if (!a) return fc::where(source, n) + ": backends: expected an array of names";
    out.clear();
    for (const auto& item : *a) {
        const auto s = item.value<std::string>();
        if (!s || s->empty() || s->find('/') != std::string::npos)
            return fc::where(source, item) + ": backends: expected names such as \"inifile\"";
        out.push_back(*s);
    }
    return {};
}

}  // namespace

BrokerConfigResult parse_broker_config(std::string_view text, std::string_view source) {
    BrokerConfig c;
    const std::string error = fc::walk(text, source, [&](const std::string& t, const std::string& k, const toml::node& n) {
        if (t == "broker" && k == "profiles") return fc::read_absolute_path(source, n, k, c.profiles, false);
        if (t == "broker" && k == "backends") return read_backends(source, n, c.backends);
        if (t == "broker" && k == "plain") return fc::read_bool(source, n, k, c.enable_plain);
        if (t == "broker" && k == "json") return fc::read_bool(source, n, k, c.enable_json);
        if (t == "auth" && k == "method") {
            const auto m = n.value<std::string>();
            const auto am = m ? auth_method_from_string(*m) : std::nullopt;
            if (!am) return fc::where(source, n) + ": method: expected \"pam\" or \"none\"";
            c.auth = *am;
            return std::string();
        }
        if (t == "auth" && k == "authid_lifetime") return fc::read_uint(source, n, k, 0, 86400, c.authid_lifetime_sec);
        if (t == "auth" && k == "gateway_socket") return fc::read_absolute_path(source, n, k, c.gateway_socket, false);
        if (t == "hosts" && k == "portscan") return fc::read_bool(source, n, k, c.portscan);
        if (t == "hosts" && k == "probe_timeout_ms") return fc::read_uint(source, n, k, 50, 30000, c.probe_timeout_ms);
        if (t == "limits" && k == "connections") return fc::read_uint(source, n, k, 1, 65536, c.max_connections);
        if (t == "limits" && k == "connections_per_address")
            return fc::read_uint(source, n, k, 1, 65536, c.max_connections_per_address);
        return fc::unknown_key(source, n, t, k);
    });
    if (!error.empty()) return {std::nullopt, error};
    return {c, {}};
}

BrokerConfigResult load_broker_config(const std::string& path) {
    auto f = fc::read_file(path);
    if (!f.text) return f.error.empty() ? BrokerConfigResult{BrokerConfig{}, {}} : BrokerConfigResult{std::nullopt, f.error};
    return parse_broker_config(*f.text, path);
}

}  // namespace rsm::broker
