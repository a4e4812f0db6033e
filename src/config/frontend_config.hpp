// The small TOML files of rsm's front ends (/etc/rsm/gateway.toml,
// /etc/rsm/broker.toml): the walk over their tables and the readers of
// their values, with errors as "FILE:LINE: key: what was expected". Each
// front end says which keys exist (daemons/*/..._config.cpp); rsm.toml has
// its own schema (config_schema.cpp).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <toml++/toml.h>

namespace rsm::config::frontend {

// Called for every key of every top-level table; returns "" or the error.
using KeyReader = std::function<std::string(const std::string& table, const std::string& key, const toml::node& n)>;

// Parses `text` (named `source` in errors) and hands each key to `read`.
// Returns "" or the first error: a syntax error, a top-level key that is not
// a table, or what `read` returned.
std::string walk(std::string_view text, std::string_view source, const KeyReader& read);

// A file's text; nullopt without error when it does not exist (the
// defaults apply), else nullopt and "PATH: reason".
struct FileText {
    std::optional<std::string> text;
    std::string error;
};
FileText read_file(const std::string& path);

// "source:line".
std::string where(std::string_view source, const toml::node& n);
// The error for a key the front end does not know.
std::string unknown_key(std::string_view source, const toml::node& n, const std::string& table,
                        const std::string& key);

// Readers: set `out` and return "", or return the error.
std::string read_uint(std::string_view source, const toml::node& n, std::string_view key, unsigned lo, unsigned hi,
                      unsigned& out);
std::string read_bool(std::string_view source, const toml::node& n, std::string_view key, bool& out);
// An absolute path; "" too when empty_ok.
std::string read_absolute_path(std::string_view source, const toml::node& n, std::string_view key, std::string& out,
                               bool empty_ok);

}  // namespace rsm::config::frontend
