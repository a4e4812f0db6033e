#include "config/config.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <map>
#include <sstream>
#include <tuple>
#include <system_error>
#include <toml++/toml.h>
#include <unistd.h>

#include "protocol/validate.hpp"
#include "rsm-build-config.h"
#include "session/argv_template.hpp"
#include "session/reconnect_policy.hpp"
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

// The same one level deeper: Config::*Section.*Sub.*Member.
template <auto Section, auto Sub, auto Member>
decltype(auto) nested_member(Config& c) {
    return (((c.*Section).*Sub).*Member);
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

// A display-server template: a whole list, so that argv[0] is known.
constexpr KeyDescriptor template_key(std::string_view section, std::string_view key,
                                     std::vector<std::string>& (*get)(Config&),
                                     KeyDescriptor::ListCheck list_check, std::string_view doc) {
    return {section, key, get, 0, 0, nullptr, doc, list_check};
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

std::optional<std::string> check_display_type(std::string_view type) {
    if (type == "xvnc" || type == "xvfb" || type == "xorg" || type == "null")
        return std::nullopt;
    return "must be one of xvnc, xvfb, xorg, null";
}

std::optional<std::string> check_reconnect_policy(std::string_view policy) {
    try {
        session::ReconnectPolicy::parse(policy);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return std::nullopt;
}

std::optional<std::string> check_absolute_path(std::string_view path) {
    if (!path.starts_with('/'))
        return "must be an absolute path";
    if (std::any_of(path.begin(), path.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
        return "must not contain control characters";
    return std::nullopt;
}

std::optional<std::string> check_optional_absolute_path(std::string_view path) {
    if (path.empty())
        return std::nullopt;
    return check_absolute_path(path);
}

// A slice unit name as systemd accepts it: "-.slice" (the root) or a prefix
// of [A-Za-z0-9:_.\-] without a leading, trailing or doubled '-' (each '-'
// separates a parent), ".slice" appended, 255 characters at most.
std::optional<std::string> check_slice(std::string_view name) {
    constexpr std::string_view suffix = ".slice";
    if (!name.ends_with(suffix) || name.size() == suffix.size())
        return "must be a slice unit name ending in \".slice\"";
    if (name.size() > 255)
        return "must be at most 255 characters";
    const std::string_view prefix = name.substr(0, name.size() - suffix.size());
    if (prefix == "-")
        return std::nullopt;
    for (const char c : prefix) {
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' || c == '_' ||
              c == '.' || c == '-' || c == '\\'))
            return "may contain only A-Z, a-z, 0-9, ':', '_', '.', '\\' and '-' before \".slice\"";
    }
    if (prefix.starts_with('-') || prefix.ends_with('-') || prefix.find("--") != std::string_view::npos)
        return "must not start or end with '-' or contain \"--\" before \".slice\"";
    return std::nullopt;
}

std::optional<std::string> check_memory_max(std::string_view value) {
    try {
        parse_memory_size(value);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return std::nullopt;
}

std::optional<std::string> check_display_template(const std::vector<std::string>& argv) {
    if (argv.empty())
        return "must name the display server program";
    return session::validate_template(argv);
}

using M = Manager;
using G = Gateway;
using T = Throttle;
using A = Access;
using S = Session;

constexpr std::array schema_rows = {
    // [manager]
    seconds_key("manager", "idle_exit_sec", &member<&Config::manager, &M::idle_exit_sec>, 0, 86400,
                "seconds without sessions, connections or work before the manager exits; 0 = never"),
    // [gateway]
    seconds_key("gateway", "login_timeout", &member<&Config::gateway, &G::login_timeout>, 1, 3600,
                "seconds a connection may take to log in"),
    count_key("gateway", "max_login_attempts", &member<&Config::gateway, &G::max_login_attempts>,
              0, 100, "failed logins per connection before it is closed; 0 = no limit"),
    count_key("gateway", "max_connections", &member<&Config::gateway, &G::max_connections>, 1,
              65536, "open gateway connections at once; more are closed at once"),
    count_key("gateway", "max_unauthenticated",
              &member<&Config::gateway, &G::max_unauthenticated>, 1, 65536,
              "connections not yet logged in; beyond this one of the peer holding most is dropped"),
    count_key("gateway", "max_connections_per_uid", &member<&Config::gateway, &G::max_connections_per_uid>, 1,
              65536, "connections one peer uid may hold at once (trusted gateways exempt)"),
    count_key("gateway", "max_logins_per_uid", &member<&Config::gateway, &G::max_logins_per_uid>, 1, 1024,
              "logins running at once for one peer uid; more wait in line"),
    count_key("gateway", "max_logins_per_source", &member<&Config::gateway, &G::max_logins_per_source>, 1,
              1024, "logins running at once for one source; more wait in line"),
    count_key("gateway", "failure_delay_ms", &member<&Config::gateway, &G::failure_delay_ms>, 0, 60000,
              "milliseconds after its start a failed login is answered, never earlier"),
    list_key("gateway", "trusted_users", &member<&Config::gateway, &G::trusted_users>,
             protocol::validate_user_name, "users whose client address and host name claims are believed"),
    list_key("gateway", "trusted_groups", &member<&Config::gateway, &G::trusted_groups>,
             protocol::validate_group_name, "groups whose members' client claims are believed"),
    // [throttle]
    count_key("throttle", "max_failures", &member<&Config::throttle, &T::max_failures>, 0, 10000,
              "failed password logins per source and user within window before throttling; 0 disables"),
    count_key("throttle", "max_failures_per_source", &member<&Config::throttle, &T::max_failures_per_source>, 0,
              100000, "failed password logins per source, all users, within window; 0 = no such limit"),
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
    bool_key("access", "allow_peer_credentials", &member<&Config::access, &A::allow_peer_credentials>,
             "whether LoginWithCredentials (login by the peer's uid) is allowed"),
    list_key("access", "peer_credential_groups", &member<&Config::access, &A::peer_credential_groups>,
             protocol::validate_group_name, "if not empty, only members may log in by peer credentials"),
    bool_key("access", "allow_system_accounts", &member<&Config::access, &A::allow_system_accounts>,
             "whether accounts below UID_MIN of /etc/login.defs may log in"),
    bool_key("access", "allow_any_shell", &member<&Config::access, &A::allow_any_shell>,
             "whether accounts whose shell is not in /etc/shells may log in"),
    // [pam]
    string_key("pam", "service", &member<&Config::pam, &Pam::service>, check_pam_service,
               "PAM service name (/etc/pam.d/<service>)"),
    // [session]
    string_key("session", "default_type", &member<&Config::session, &S::default_type>, check_display_type,
               "display type of a session when the request names none"),
    string_key("session", "reconnect_policy", &member<&Config::session, &S::reconnect_policy>,
               check_reconnect_policy, "which existing session a request reconnects to (U, B, D, I, C letters)"),
    count_key("session", "max_sessions", &member<&Config::session, &S::max_sessions>, 0, 100000,
              "sessions of all users at once; 0 = no limit"),
    count_key("session", "max_sessions_per_user", &member<&Config::session, &S::max_sessions_per_user>, 0,
              100000, "sessions of one user at once; 0 = no limit"),
    seconds_key("session", "startup_timeout", &member<&Config::session, &S::startup_timeout>, 1, 600,
                "seconds the display server has to become ready"),
    seconds_key("session", "disconnected_timeout", &member<&Config::session, &S::disconnected_timeout>, 0,
                31536000, "seconds after which a disconnected session is ended; 0 = never"),
    seconds_key("session", "idle_timeout", &member<&Config::session, &S::idle_timeout>, 0, 31536000,
                "seconds without activity after which a connected session is disconnected; 0 = never"),
    seconds_key("session", "max_lifetime", &member<&Config::session, &S::max_lifetime>, 0, 31536000,
                "seconds after which any session is ended; 0 = never"),
    string_key("session", "start_script", &member<&Config::session, &S::start_script>, check_absolute_path,
               "session program when the request names no desktop"),
    string_key("session", "reconnect_script", &member<&Config::session, &S::reconnect_script>,
               check_optional_absolute_path, "program run in the session on every reconnect; \"\" = none"),
    string_key("session", "slice", &member<&Config::session, &S::slice>, check_slice,
               "slice unit the session scopes are placed in"),
    string_key("session", "memory_max", &member<&Config::session, &S::memory_max>, check_memory_max,
               "MemoryMax= of each session scope; \"\" = unset"),
    count_key("session", "tasks_max", &member<&Config::session, &S::tasks_max>, 0, 4194304,
              "TasksMax= of each session scope; 0 = unset"),
    count_key("session", "cpu_weight", &member<&Config::session, &S::cpu_weight>, 0, 10000,
              "CPUWeight= of each session scope; 0 = unset"),
    count_key("session", "display_first", &member<&Config::session, &S::display_first>, 0, 65535,
              "lowest X display number rsm hands out"),
    count_key("session", "display_last", &member<&Config::session, &S::display_last>, 0, 65535,
              "highest X display number rsm hands out"),
    // [display.*]
    template_key("display.xvnc", "argv", &nested_member<&Config::display, &Displays::xvnc, &Display::argv>,
                 check_display_template, "Xvnc command line template"),
    template_key("display.xvfb", "argv", &nested_member<&Config::display, &Displays::xvfb, &Display::argv>,
                 check_display_template, "Xvfb command line template"),
    template_key("display.xorg", "argv", &nested_member<&Config::display, &Displays::xorg, &Display::argv>,
                 check_display_template, "Xorg (xorgxrdp) command line template"),
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

// Where each key was last set ("section.key" -> file, line, position), for
// errors about keys that are only wrong together.
class Origins {
public:
    struct Origin {
        std::string file;
        std::size_t line = 0;
        // Document number, line, column: larger = later. (toml++ visits a
        // table's keys sorted by name, not in file order.)
        std::tuple<std::size_t, std::size_t, std::size_t> position;
    };

    // Call before applying each document.
    void next_document() noexcept { ++document_; }
    void set(const std::string& key, std::string_view file, const toml::source_region& where) {
        origins_[key] = Origin{std::string{file}, where.begin.line,
                               {document_, where.begin.line, where.begin.column}};
    }
    const Origin* find(const std::string& key) const {
        const auto it = origins_.find(key);
        return it == origins_.end() ? nullptr : &it->second;
    }

private:
    std::map<std::string, Origin, std::less<>> origins_;
    std::size_t document_ = 0;
};

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
                 std::string_view file, Origins& origins) {
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
            if (row.list_check) {
                if (auto error = row.list_check(values))
                    where.fail(key, "invalid value: " + *error);
            }
            // Replace, never merge: a drop-in that sets a list means that list.
            get(config) = std::move(values);
        }
    };
    std::visit(Visitor{config, row, node, where, key}, row.access);
    origins.set(key, file, node.source());
}

// A section holds keys; a section's parent ("display" for "display.xvnc")
// holds only sections.
bool is_section(std::string_view name) {
    const auto rows = schema();
    return std::any_of(rows.begin(), rows.end(), [&](const KeyDescriptor& r) { return r.section == name; });
}

bool is_parent_section(std::string_view name) {
    const auto rows = schema();
    return std::any_of(rows.begin(), rows.end(), [&](const KeyDescriptor& r) {
        return r.section.size() > name.size() && r.section.starts_with(name) && r.section[name.size()] == '.';
    });
}

// Applies `table`, the content of `section` ("" for the document's root).
void apply_section(Config& config, const toml::table& table, const std::string& section,
                   std::string_view file, Origins& origins) {
    const auto rows = schema();
    for (const auto& [key, node] : table) {
        const std::string name{key.str()};
        const std::string full = section.empty() ? name : section + '.' + name;
        const Where where{file, key.source()};

        if (!section.empty()) {
            const auto row = std::find_if(rows.begin(), rows.end(), [&](const KeyDescriptor& r) {
                return r.section == section && r.key == name;
            });
            if (row != rows.end()) {
                apply_value(config, *row, node, file, origins);
                continue;
            }
        }
        if (is_section(full) || is_parent_section(full)) {
            const auto* sub = node.as_table();
            if (!sub)
                wrong_type(where, full, "a table (section)", node);
            apply_section(config, *sub, full, file, origins);
            continue;
        }
        // A key in a section is a misspelt key; a table is a section rsm does
        // not know, unless it sits in a section (a key written as a table).
        if (is_section(section) || (!section.empty() && !node.is_table()))
            where.fail(full, "unknown key in section [" + section + "]");
        where.fail(full, "unknown section [" + full + "]");
    }
}

// Keys that are valid alone but not together. The error names the key set
// last, where it was set; `fallback_file` when neither was set (an
// inconsistent Config given to apply_string()).
void check_consistency(const Config& config, const Origins& origins, std::string_view fallback_file) {
    const Session& s = config.session;
    if (s.display_first <= s.display_last)
        return;
    const auto* first = origins.find("session.display_first");
    const auto* last = origins.find("session.display_last");
    const bool blame_first = first && (!last || first->position > last->position);
    const auto* origin = blame_first ? first : last;
    const std::string file = origin ? origin->file : std::string{fallback_file};
    const std::size_t line = origin ? origin->line : 0;
    if (blame_first) {
        throw ConfigError(file, line, 0, "session.display_first",
                          "must not be greater than session.display_last (" + std::to_string(s.display_last) +
                              "), got " + std::to_string(s.display_first));
    }
    throw ConfigError(file, line, 0, "session.display_last",
                      "must not be less than session.display_first (" + std::to_string(s.display_first) +
                          "), got " + std::to_string(s.display_last));
}

// Parses and applies one document, without the consistency check.
void apply_document(Config& config, std::string_view toml, std::string_view source_name, Origins& origins) {
    toml::table root;
    try {
        root = toml::parse(toml, source_name);
    } catch (const toml::parse_error& e) {
        const auto& begin = e.source().begin;
        throw ConfigError(std::string{source_name}, begin.line, begin.column, "",
                          "syntax error: " + std::string{e.description()});
    }
    origins.next_document();
    apply_section(config, root, "", source_name, origins);
}

// The table for a possibly dotted section, created as needed.
toml::table& section_table(toml::table& root, std::string_view section) {
    toml::table* table = &root;
    for (;;) {
        const auto dot = section.find('.');
        table = table->emplace(section.substr(0, dot), toml::table{}).first->second.as_table();
        if (dot == std::string_view::npos)
            return *table;
        section.remove_prefix(dot + 1);
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
    Origins origins;
    apply_document(config, toml, source_name, origins);
    check_consistency(config, origins, source_name);
}

Config parse_string(std::string_view toml, std::string_view source_name) {
    Config config;
    apply_string(config, toml, source_name);
    return config;
}

Config load(const LoadPaths& paths) {
    Config config;
    Origins origins;
    if (auto content = read_file(paths.main_file))
        apply_document(config, *content, paths.main_file.string(), origins);
    for (const auto& file : list_dropins(paths.dropin_dir)) {
        // A drop-in that vanished between listing and reading is not an error.
        if (auto content = read_file(file))
            apply_document(config, *content, file.string(), origins);
    }
    // Once, at the end: a drop-in may fix what an earlier file alone got wrong.
    check_consistency(config, origins, paths.main_file.string());
    return config;
}

std::optional<std::uint64_t> parse_memory_size(std::string_view text) {
    if (text.empty())
        return std::nullopt;
    if (text == "infinity")
        return std::numeric_limits<std::uint64_t>::max();
    const auto digits = static_cast<std::size_t>(
        std::find_if(text.begin(), text.end(), [](char c) { return c < '0' || c > '9'; }) - text.begin());
    if (digits == 0)
        throw std::invalid_argument("expected a number of bytes with an optional K, M, G or T suffix, or \"infinity\"");
    const std::string_view suffix = text.substr(digits);
    unsigned shift = 0;
    if (suffix == "K")
        shift = 10;
    else if (suffix == "M")
        shift = 20;
    else if (suffix == "G")
        shift = 30;
    else if (suffix == "T")
        shift = 40;
    else if (!suffix.empty())
        throw std::invalid_argument("unknown suffix \"" + std::string{suffix} + "\" (expected K, M, G or T)");
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, value);
    if (ec != std::errc{} || end != text.data() + digits || value > (std::numeric_limits<std::uint64_t>::max() >> shift))
        throw std::invalid_argument("too large");
    if (value == 0)
        throw std::invalid_argument("must be greater than 0 (use \"\" for no setting)");
    return value << shift;
}

std::string to_toml(const Config& config) {
    // Config is only read; the accessors take a mutable reference because
    // the loader writes through the same table.
    Config copy = config;
    toml::table root;
    for (const auto& row : schema()) {
        auto* section = &section_table(root, row.section);
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
