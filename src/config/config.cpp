#include "config/config.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sstream>
#include <system_error>
#include <toml++/toml.h>
#include <unistd.h>

#include "protocol/validate.hpp"
#include "rsm-build-config.h"
#include "util/fd.hpp"

namespace rsm::config {
namespace {

// --- Schema rows -----------------------------------------------------------

// The accessor for Config::*Section.*Member, as a plain function pointer so
// the schema table stays a constant.
template <auto Section, auto Member>
decltype(auto) member(Config& c) {
    return ((c.*Section).*Member);
}

constexpr KeyDescriptor count_key(std::string_view section, std::string_view key,
                                  unsigned& (*get)(Config&), std::int64_t min, std::int64_t max,
                                  std::string_view doc) {
    return {section, key, get, min, max, nullptr, doc};
}

constexpr KeyDescriptor seconds_key(std::string_view section, std::string_view key,
                                    std::chrono::seconds& (*get)(Config&), std::int64_t min,
                                    std::int64_t max, std::string_view doc) {
    return {section, key, get, min, max, nullptr, doc};
}

constexpr KeyDescriptor bool_key(std::string_view section, std::string_view key,
                                 bool& (*get)(Config&), std::string_view doc) {
    return {section, key, get, 0, 0, nullptr, doc};
}

constexpr KeyDescriptor string_key(std::string_view section, std::string_view key,
                                   std::string& (*get)(Config&), KeyDescriptor::StringCheck check,
                                   std::string_view doc) {
    return {section, key, get, 0, 0, check, doc};
}

constexpr KeyDescriptor list_key(std::string_view section, std::string_view key,
                                 std::vector<std::string>& (*get)(Config&),
                                 KeyDescriptor::StringCheck check, std::string_view doc) {
    return {section, key, get, 0, 0, check, doc};
}

// A PAM service is a file name in /etc/pam.d.
std::optional<std::string> check_pam_service(std::string_view name) {
    if (name.empty() || name.size() > 64)
        return "must be 1 to 64 characters";
    for (char c : name) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return "may contain only a-z, 0-9, '.', '_' and '-'";
    }
    if (name == "." || name == "..")
        return "must not be '.' or '..'";
    return std::nullopt;
}

using G = Gateway;
using T = Throttle;
using A = Access;

constexpr std::array schema_rows = {
    // [gateway]
    seconds_key("gateway", "login_timeout", &member<&Config::gateway, &G::login_timeout>, 1, 3600,
                "seconds a connection may take to log in"),
    count_key("gateway", "max_login_attempts", &member<&Config::gateway, &G::max_login_attempts>,
              0, 100, "failed logins per connection before it is closed; 0 = no limit"),
    count_key("gateway", "max_connections", &member<&Config::gateway, &G::max_connections>, 1,
              65536, "open gateway connections at once; more are closed at once"),
    count_key("gateway", "max_unauthenticated",
              &member<&Config::gateway, &G::max_unauthenticated>, 1, 65536,
              "connections not yet logged in; beyond this the oldest idle one is dropped"),
    // [throttle]
    count_key("throttle", "max_failures", &member<&Config::throttle, &T::max_failures>, 0, 10000,
              "failed password logins per source within window before throttling; 0 disables"),
    seconds_key("throttle", "window", &member<&Config::throttle, &T::window>, 1, 86400,
                "seconds over which failures are counted"),
    seconds_key("throttle", "lockout", &member<&Config::throttle, &T::lockout>, 1, 86400,
                "seconds a throttled source is refused"),
    // [access]
    bool_key("access", "allow_root", &member<&Config::access, &A::allow_root>,
             "whether uid 0 may log in"),
    list_key("access", "allowed_users", &member<&Config::access, &A::allowed_users>,
             protocol::validate_user_name, "user names allowed to log in; empty = any"),
    list_key("access", "denied_users", &member<&Config::access, &A::denied_users>,
             protocol::validate_user_name, "user names refused, whatever else matches"),
    list_key("access", "allowed_groups", &member<&Config::access, &A::allowed_groups>,
             protocol::validate_group_name, "groups whose members may log in; empty = any"),
    list_key("access", "denied_groups", &member<&Config::access, &A::denied_groups>,
             protocol::validate_group_name, "groups whose members are refused"),
    // [pam]
    string_key("pam", "service", &member<&Config::pam, &Pam::service>, check_pam_service,
               "PAM service name (/etc/pam.d/<service>)"),
};

// --- Errors ------------------------------------------------------------------

std::string format_error(const std::string& file, std::size_t line, std::size_t column,
                         const std::string& key, const std::string& message) {
    std::string s = file;
    if (line > 0) {
        s += ':' + std::to_string(line);
        if (column > 0)
            s += ':' + std::to_string(column);
    }
    s += ": ";
    if (!key.empty())
        s += key + ": ";
    return s + message;
}

// Where in which file a node or key was written.
struct Where {
    std::string_view file;
    std::size_t line = 0;

    Where(std::string_view f, const toml::source_region& region) : file{f}, line{region.begin.line} {}

    [[noreturn]] void fail(const std::string& key, const std::string& message) const {
        // Value errors name the line only: the key says where on it.
        throw ConfigError(std::string{file}, line, 0, key, message);
    }
};

std::string_view type_name(toml::node_type type) {
    switch (type) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
    }
    return "nothing";
}

[[noreturn]] void wrong_type(const Where& where, const std::string& key, std::string_view expected,
                             const toml::node& got) {
    where.fail(key, "expected " + std::string{expected} + ", got " + std::string{type_name(got.type())});
}

// --- Applying a parsed document ------------------------------------------

std::int64_t read_integer(const KeyDescriptor& row, const toml::node& node, const Where& where,
                          const std::string& key) {
    const auto* value = node.as_integer();
    if (!value)
        wrong_type(where, key, "an integer", node);
    const std::int64_t v = value->get();
    if (v < row.min || v > row.max) {
        where.fail(key, "must be between " + std::to_string(row.min) + " and " +
                            std::to_string(row.max) + ", got " + std::to_string(v));
    }
    return v;
}

std::string read_string(const KeyDescriptor& row, const toml::node& node, const Where& where,
                        const std::string& key) {
    const auto* value = node.as_string();
    if (!value)
        wrong_type(where, key, "a string", node);
    const std::string& s = value->get();
    if (row.check) {
        if (auto error = row.check(s))
            where.fail(key, "invalid value \"" + s + "\": " + *error);
    }
    return s;
}

void apply_value(Config& config, const KeyDescriptor& row, const toml::node& node,
                 std::string_view file) {
    const Where where{file, node.source()};
    const std::string key = std::string{row.section} + '.' + std::string{row.key};

    struct Visitor {
        Config& config;
        const KeyDescriptor& row;
        const toml::node& node;
        const Where& where;
        const std::string& key;

        void operator()(unsigned& (*get)(Config&)) const {
            get(config) = static_cast<unsigned>(read_integer(row, node, where, key));
        }
        void operator()(std::chrono::seconds& (*get)(Config&)) const {
            get(config) = std::chrono::seconds{read_integer(row, node, where, key)};
        }
        void operator()(bool& (*get)(Config&)) const {
            const auto* value = node.as_boolean();
            if (!value)
                wrong_type(where, key, "a boolean", node);
            get(config) = value->get();
        }
        void operator()(std::string& (*get)(Config&)) const {
            get(config) = read_string(row, node, where, key);
        }
        void operator()(std::vector<std::string>& (*get)(Config&)) const {
            const auto* array = node.as_array();
            if (!array)
                wrong_type(where, key, "an array of strings", node);
            std::vector<std::string> values;
            values.reserve(array->size());
            for (std::size_t i = 0; i < array->size(); ++i) {
                const toml::node& element = *array->get(i);
                values.push_back(read_string(row, element, Where{where.file, element.source()},
                                             key + '[' + std::to_string(i) + ']'));
            }
            // Replace, never merge: a drop-in that sets a list means that list.
            get(config) = std::move(values);
        }
    };
    std::visit(Visitor{config, row, node, where, key}, row.access);
}

void apply_table(Config& config, const toml::table& root, std::string_view file) {
    const auto rows = schema();
    for (const auto& [section_key, section_node] : root) {
        const std::string section{section_key.str()};
        const bool known = std::any_of(rows.begin(), rows.end(),
                                       [&](const KeyDescriptor& r) { return r.section == section; });
        const Where section_where{file, section_key.source()};
        if (!known)
            section_where.fail(section, "unknown section [" + section + "]");
        const auto* table = section_node.as_table();
        if (!table)
            wrong_type(section_where, section, "a table (section)", section_node);

        for (const auto& [key, node] : *table) {
            const auto row = std::find_if(rows.begin(), rows.end(), [&](const KeyDescriptor& r) {
                return r.section == section && r.key == key.str();
            });
            if (row == rows.end()) {
                Where{file, key.source()}.fail(section + '.' + std::string{key.str()},
                                               "unknown key in section [" + section + "]");
            }
            apply_value(config, *row, node, file);
        }
    }
}

// --- Files -----------------------------------------------------------------

[[noreturn]] void file_error(const std::filesystem::path& path, const std::string& message) {
    throw ConfigError(path.string(), 0, 0, "", message);
}

// Reads a whole file; nullopt if it does not exist.
std::optional<std::string> read_file(const std::filesystem::path& path) {
    UniqueFd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY)};
    if (!fd) {
        if (errno == ENOENT)
            return std::nullopt;
        file_error(path, std::string{"cannot open: "} + std::strerror(errno));
    }
    std::string content;
    std::array<char, 16384> buffer{};
    for (;;) {
        const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            file_error(path, std::string{"cannot read: "} + std::strerror(errno));
        }
        if (n == 0)
            break;
        content.append(buffer.data(), static_cast<std::size_t>(n));
    }
    return content;
}

// The drop-ins to read, in the order to read them.
std::vector<std::filesystem::path> list_dropins(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    std::filesystem::directory_iterator it{dir, ec};
    if (ec) {
        if (ec == std::errc::no_such_file_or_directory)
            return files;
        file_error(dir, "cannot list drop-in directory: " + ec.message());
    }
    for (const auto& entry : it) {
        const std::string name = entry.path().filename().string();
        // Hidden files are editors' and package managers' leftovers.
        if (name.starts_with('.') || !name.ends_with(".toml"))
            continue;
        if (!entry.is_regular_file(ec))
            continue;
        files.push_back(entry.path());
    }
    // Byte order of the file name, as systemd does, so "10-x" < "9-y".
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) {
        return a.filename().string() < b.filename().string();
    });
    return files;
}

}  // namespace

ConfigError::ConfigError(std::string file, std::size_t line, std::size_t column, std::string key,
                         std::string message)
    : std::runtime_error(format_error(file, line, column, key, message)),
      file_(std::move(file)),
      line_(line),
      column_(column),
      key_(std::move(key)),
      message_(std::move(message)) {}

LoadPaths LoadPaths::system() {
    const std::filesystem::path dir{RSM_SYSCONF_DIR};
    return {dir / "rsm.toml", dir / "rsm.toml.d"};
}

std::span<const KeyDescriptor> schema() { return schema_rows; }

void apply_string(Config& config, std::string_view toml, std::string_view source_name) {
    toml::table root;
    try {
        root = toml::parse(toml, source_name);
    } catch (const toml::parse_error& e) {
        const auto& begin = e.source().begin;
        throw ConfigError(std::string{source_name}, begin.line, begin.column, "",
                          "syntax error: " + std::string{e.description()});
    }
    apply_table(config, root, source_name);
}

Config parse_string(std::string_view toml, std::string_view source_name) {
    Config config;
    apply_string(config, toml, source_name);
    return config;
}

Config load(const LoadPaths& paths) {
    Config config;
    if (auto content = read_file(paths.main_file))
        apply_string(config, *content, paths.main_file.string());
    for (const auto& file : list_dropins(paths.dropin_dir)) {
        // A drop-in that vanished between listing and reading is not an error.
        if (auto content = read_file(file))
            apply_string(config, *content, file.string());
    }
    return config;
}

std::string to_toml(const Config& config) {
    // Config is only read; the accessors take a mutable reference because
    // the loader writes through the same table.
    Config copy = config;
    toml::table root;
    for (const auto& row : schema()) {
        auto* section = root.emplace(row.section, toml::table{}).first->second.as_table();
        std::visit(
            [&](auto get) {
                const auto& value = get(copy);
                using V = std::decay_t<decltype(value)>;
                if constexpr (std::is_same_v<V, std::chrono::seconds>) {
                    section->insert_or_assign(row.key, static_cast<std::int64_t>(value.count()));
                } else if constexpr (std::is_same_v<V, unsigned>) {
                    section->insert_or_assign(row.key, static_cast<std::int64_t>(value));
                } else if constexpr (std::is_same_v<V, std::vector<std::string>>) {
                    toml::array array;
                    for (const auto& s : value)
                        array.push_back(s);
                    section->insert_or_assign(row.key, std::move(array));
                } else {
                    section->insert_or_assign(row.key, value);
                }
            },
            row.access);
    }
    std::ostringstream out;
    out << root << '\n';
    return out.str();
}

}  // namespace rsm::config
