// rsm.toml: reading the files (main file, then drop-ins in name order),
// applying each parsed document to the Config row by row (the schema is
// config_schema.cpp, the value checks config_checks.cpp), the checks of keys
// that are only wrong together, and writing a Config back as TOML.
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

#include "rsm-build-config.h"
#include "util/fd.hpp"

namespace rsm::config {
namespace {

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

const Companion* find_companion(const Companions& c, std::string_view name) {
    if (name == "chansrv")
        return &c.chansrv;
    return nullptr;
}

LoadPaths LoadPaths::system() {
    const std::filesystem::path dir{RSM_SYSCONF_DIR};
    return {dir / "rsm.toml", dir / "rsm.toml.d"};
}

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
    // Basic strings only: toml++ renders a value with a newline as a literal
    // multi-line string ('''...'''), and TOML drops a newline right after the
    // opening quotes, so "\na" would read back as "a" (found by fuzz_config).
    constexpr auto flags = toml::toml_formatter::default_flags &
                           ~(toml::format_flags::allow_literal_strings | toml::format_flags::allow_multi_line_strings);
    std::ostringstream out;
    out << toml::toml_formatter{root, flags} << '\n';
    return out.str();
}

}  // namespace rsm::config
