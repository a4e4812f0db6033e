#include "broker_config.hpp"

#include <cctype>

#include "broker/agent_output.hpp"
#include "broker/authkey.hpp"
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

// One [profiles.<id>] table: its keys in the text form the profile builder
// reads (the same semantics as X2Go's INI file), each with its line.
std::string read_profile(std::string_view source, const std::string& id, const toml::node& n,
                         std::vector<SourceSection>& out) {
    const auto* table = n.as_table();
    if (!table) return fc::where(source, n) + ": profiles." + id + ": expected a table ([profiles." + id + "])";
    SourceSection section{id, fc::where(source, n), {}};
    for (const auto& [key_name, v] : *table) {
        std::string key{key_name.str()};
        for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const std::string what = fc::where(source, v) + ": [profiles." + id + "] " + key;
        auto scalar = [](const toml::node& x) -> std::optional<std::string> {
            if (const auto str = x.value_exact<std::string>()) return *str;
            if (x.is_boolean()) return std::string(*x.value<bool>() ? "true" : "false");
            if (x.is_integer()) return std::to_string(*x.value<std::int64_t>());
            return std::nullopt;
        };
        std::string value;
        if (const auto* a = v.as_array()) {
            for (const auto& item : *a) {
                const auto text = scalar(item);
                if (!text || item.is_boolean())
                    return what + ": expected an array of strings";
                if (text->find(',') != std::string::npos)
                    return what + ": '" + *text + "': an item may not contain ','";
                value += (value.empty() ? "" : ",") + *text;
            }
        } else if (auto text = scalar(v)) {
            value = std::move(*text);
        } else {
            return what + ": expected a string, a boolean, an integer or an array of strings";
        }
        section.entries.push_back(SourceEntry{key, std::move(value), fc::where(source, v)});
    }
    out.push_back(std::move(section));
    return {};
}

}  // namespace

BrokerConfigResult parse_broker_config(std::string_view text, std::string_view source) {
    BrokerConfig c;
    const std::string error = fc::walk(text, source, [&](const std::string& t, const std::string& k, const toml::node& n) {
        if (t == "broker" && k == "profiles") return fc::read_absolute_path(source, n, k, c.profiles, true);
        if (t == "profiles") return read_profile(source, k, n, c.toml_profiles);
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
        if (t == "tls" && k == "certificate") return fc::read_absolute_path(source, n, k, c.tls_certificate, true);
        if (t == "tls" && k == "key") return fc::read_absolute_path(source, n, k, c.tls_key, true);
        if (t == "hosts" && k == "portscan") return fc::read_bool(source, n, k, c.portscan);
        if (t == "hosts" && k == "probe_timeout_ms") return fc::read_uint(source, n, k, 50, 30000, c.probe_timeout_ms);
        if (t == "hosts" && k == "agent") {
            const auto m = n.value<std::string>();
            if (!m || (*m != "none" && *m != "ssh")) return fc::where(source, n) + ": agent: expected \"ssh\" or \"none\"";
            c.agent = *m == "ssh" ? AgentMode::ssh : AgentMode::none;
            return std::string();
        }
        if (t == "hosts" && k == "agent_user") {
            const auto u = n.value<std::string>();
            if (!u || !valid_agent_user(*u)) return fc::where(source, n) + ": agent_user: expected a user name";
            c.agent_user = *u;
            return std::string();
        }
        if (t == "hosts" && k == "agent_key") return fc::read_absolute_path(source, n, k, c.agent_key, true);
        if (t == "hosts" && k == "known_hosts") return fc::read_absolute_path(source, n, k, c.known_hosts, true);
        if (t == "hosts" && k == "agent_command") {
            const auto a = n.value<std::string>();
            if (!a || a->empty() || (*a)[0] != '/' || a->find_first_of(" \t\n'\"\\;|&$`<>()*?[]{}~#") != std::string::npos)
                return fc::where(source, n) + ": agent_command: expected an absolute path without blanks or shell characters";
            c.agent_command = *a;
            return std::string();
        }
        if (t == "hosts" && k == "agent_timeout_ms") return fc::read_uint(source, n, k, 100, 60000, c.agent_timeout_ms);
        if (t == "hosts" && k == "agent_max_queries") return fc::read_uint(source, n, k, 1, 256, c.agent_max_queries);
        if (t == "autologin" && k == "default") return fc::read_bool(source, n, k, c.autologin_default);
        if (t == "autologin" && k == "authorized_keys") {
            const auto a = n.value<std::string>();
            if (!a || !valid_authorized_keys_path(*a))
                return fc::where(source, n) +
                       ": authorized_keys: expected a path of [A-Za-z0-9._/-] and %h %u %U %G %%, without '..'";
            c.authorized_keys = *a;
            return std::string();
        }
        if (t == "autologin" && k == "key_lifetime") return fc::read_uint(source, n, k, 5, 3600, c.key_lifetime_sec);
        if (t == "limits" && k == "connections") return fc::read_uint(source, n, k, 1, 65536, c.max_connections);
        if (t == "limits" && k == "connections_per_address")
            return fc::read_uint(source, n, k, 1, 65536, c.max_connections_per_address);
        return fc::unknown_key(source, n, t, k);
    });
    if (!error.empty()) return {std::nullopt, error};
    if (c.tls_certificate.empty() != c.tls_key.empty())
        return {std::nullopt, std::string(source) + ": [tls] needs both certificate and key (or neither)"};
    return {c, {}};
}

BrokerConfigResult load_broker_config(const std::string& path) {
    auto f = fc::read_file(path);
    if (!f.text) return f.error.empty() ? BrokerConfigResult{BrokerConfig{}, {}} : BrokerConfigResult{std::nullopt, f.error};
    return parse_broker_config(*f.text, path);
}

}  // namespace rsm::broker
