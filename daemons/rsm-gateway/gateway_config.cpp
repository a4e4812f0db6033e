#include "gateway_config.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>

namespace rsm::gateway {

namespace {

std::string where(std::string_view source, const toml::node& n) {
    return std::string(source) + ":" + std::to_string(n.source().begin.line);
}

// Reads an integer key into `out` within [lo, hi]; "" or an error.
std::string read_uint(std::string_view source, const toml::node& n, std::string_view key, unsigned lo, unsigned hi,
                      unsigned& out) {
    const auto v = n.value<std::int64_t>();
    if (!n.is_integer() || !v || *v < lo || *v > hi)
        return where(source, n) + ": " + std::string(key) + ": expected an integer " + std::to_string(lo) + ".." +
               std::to_string(hi);
    out = static_cast<unsigned>(*v);
    return {};
}

std::string read_string(std::string_view source, const toml::node& n, std::string_view key, std::string& out) {
    if (!n.is_string()) return where(source, n) + ": " + std::string(key) + ": expected a string";
    out = *n.value<std::string>();
    if (!out.empty() && out[0] != '/') return where(source, n) + ": " + std::string(key) + ": expected an absolute path";
    return {};
}

}  // namespace

ConfigResult parse_gateway_config(std::string_view text, std::string_view source) {
    ConfigResult result;
    GatewayConfig c;
    toml::table root;
    try {
        root = toml::parse(text, source);
    } catch (const toml::parse_error& e) {
        result.error = std::string(source) + ":" + std::to_string(e.source().begin.line) + ": " +
                       std::string(e.description());
        return result;
    }
    for (const auto& [table_name, table_node] : root) {
        const auto* table = table_node.as_table();
        if (!table) {
            result.error = where(source, table_node) + ": " + std::string(table_name.str()) + ": expected a table";
            return result;
        }
        const std::string t{table_name.str()};
        for (const auto& [key_name, n] : *table) {
            const std::string k{key_name.str()};
            std::string e;
            if (t == "tls" && k == "certificate") e = read_string(source, n, k, c.certificate);
            else if (t == "tls" && k == "key") e = read_string(source, n, k, c.key);
            else if (t == "session" && k == "width") e = read_uint(source, n, k, 64, 16384, c.width);
            else if (t == "session" && k == "height") e = read_uint(source, n, k, 64, 16384, c.height);
            else if (t == "session" && k == "depth") e = read_uint(source, n, k, 8, 32, c.depth);
            else if (t == "limits" && k == "auth_timeout") e = read_uint(source, n, k, 1, 600, c.auth_timeout_sec);
            else e = where(source, n) + ": unknown key [" + t + "] " + k;
            if (!e.empty()) {
                result.error = e;
                return result;
            }
        }
    }
    if (c.certificate.empty() != c.key.empty()) {
        result.error = std::string(source) + ": [tls] certificate and key go together";
        return result;
    }
    result.config = c;
    return result;
}

ConfigResult load_gateway_config(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        if (errno == ENOENT) return {GatewayConfig{}, {}};
        return {std::nullopt, path + ": " + std::strerror(errno)};
    }
    std::stringstream text;
    text << in.rdbuf();
    return parse_gateway_config(text.str(), path);
}

}  // namespace rsm::gateway
