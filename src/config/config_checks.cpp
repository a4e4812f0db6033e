#include "config/config_checks.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "config/config.hpp"
#include "protocol/validate.hpp"
#include "session/argv_template.hpp"
#include "session/display_type.hpp"
#include "session/reconnect_policy.hpp"

namespace rsm::config {

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
    if (session::display_type_from_string(type))
        return std::nullopt;
    return "must be one of " + session::display_type_names();
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

// A companion's template may be empty (the companion is disabled).
std::optional<std::string> check_companion_template(const std::vector<std::string>& argv) {
    if (argv.empty())
        return std::nullopt;
    return session::validate_template(argv);
}

// "NAME=value": NAME a shell-style variable name.
std::optional<std::string> check_environment_entry(std::string_view entry) {
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0)
        return "must be NAME=value";
    for (std::size_t i = 0; i < eq; ++i) {
        const char c = entry[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9')))
            return "NAME may contain only A-Z, a-z, 0-9 and '_' and must not start with a digit";
    }
    if (std::any_of(entry.begin(), entry.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
        return "must not contain control characters";
    return std::nullopt;
}

// A socket path template: absolute, short enough for sockaddr_un once
// expanded (a display number adds at most 3 characters to "%d").
std::optional<std::string> check_ready_socket(std::string_view path) {
    if (path.empty())
        return std::nullopt;
    if (auto e = check_absolute_path(path))
        return e;
    if (path.size() > 100)
        return "must be at most 100 characters";
    // As an argument (argv[0], the program, may hold no placeholder).
    return session::validate_template({"socket", std::string{path}});
}

std::optional<std::string> check_output_line(std::string_view text) {
    if (text.size() > 200)
        return "must be at most 200 characters";
    for (char c : text)
        if (c < 0x20 || c > 0x7e)
            return "may contain only printable ASCII characters";
    return std::nullopt;
}

std::optional<std::string> check_nx_options(std::string_view options) {
    if (options.size() > 400)
        return "must be at most 400 characters";
    std::size_t pos = 0;
    while (!options.empty() && pos <= options.size()) {
        const std::size_t end = std::min(options.find(',', pos), options.size());
        const std::string_view opt = options.substr(pos, end - pos);
        const std::size_t eq = opt.find('=');
        if (eq == std::string_view::npos || eq == 0 || eq + 1 == opt.size())
            return "must be comma-separated NAME=value options";
        for (char c : opt)
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-' || c == '='))
                return "may contain only A-Z, a-z, 0-9, '.', '_', '-', '=' and ','";
        const std::string_view name = opt.substr(0, eq);
        for (std::string_view own : {"listen", "loopback", "accept", "cookie", "connect", "options", "port", "shadow",
                                     "shadowmode", "shadowuid"})
            if (name == own)
                return "must not set '" + std::string{own} + "': rsm sets it";
        pos = end + 1;
    }
    return std::nullopt;
}

}  // namespace rsm::config
