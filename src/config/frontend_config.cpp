#include "config/frontend_config.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

namespace rsm::config::frontend {

std::string where(std::string_view source, const toml::node& n) {
    return std::string(source) + ":" + std::to_string(n.source().begin.line);
}

std::string unknown_key(std::string_view source, const toml::node& n, const std::string& table,
                        const std::string& key) {
    return where(source, n) + ": unknown key [" + table + "] " + key;
}

std::string walk(std::string_view text, std::string_view source, const KeyReader& read) {
    toml::table root;
    try {
        root = toml::parse(text, source);
    } catch (const toml::parse_error& e) {
        return std::string(source) + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description());
    }
    for (const auto& [table_name, table_node] : root) {
        const auto* table = table_node.as_table();
        if (!table) return where(source, table_node) + ": " + std::string(table_name.str()) + ": expected a table";
        const std::string t{table_name.str()};
        for (const auto& [key_name, n] : *table)
            if (std::string e = read(t, std::string{key_name.str()}, n); !e.empty()) return e;
    }
    return {};
}

FileText read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        if (errno == ENOENT) return {};
        return {std::nullopt, path + ": " + std::strerror(errno)};
    }
    std::stringstream text;
    text << in.rdbuf();
    return {text.str(), {}};
}

std::string read_uint(std::string_view source, const toml::node& n, std::string_view key, unsigned lo, unsigned hi,
                      unsigned& out) {
    const auto v = n.value<std::int64_t>();
    if (!n.is_integer() || !v || *v < lo || *v > hi)
        return where(source, n) + ": " + std::string(key) + ": expected an integer " + std::to_string(lo) + ".." +
               std::to_string(hi);
    out = static_cast<unsigned>(*v);
    return {};
}

std::string read_bool(std::string_view source, const toml::node& n, std::string_view key, bool& out) {
    if (!n.is_boolean()) return where(source, n) + ": " + std::string(key) + ": expected true or false";
    out = *n.value<bool>();
    return {};
}

std::string read_absolute_path(std::string_view source, const toml::node& n, std::string_view key, std::string& out,
                               bool empty_ok) {
    const auto s = n.value<std::string>();
    if (!n.is_string() || !s || (s->empty() && !empty_ok) || (!s->empty() && s->front() != '/'))
        return where(source, n) + ": " + std::string(key) + ": expected an absolute path";
    out = *s;
    return {};
}

}  // namespace rsm::config::frontend
