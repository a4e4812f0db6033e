// The checks of single values the schema applies (config_schema.cpp): each
// returns nullopt if the value is acceptable, else why not. Private to
// src/config.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rsm::config {

// A PAM service is a file name in /etc/pam.d.
std::optional<std::string> check_pam_service(std::string_view name);

std::optional<std::string> check_display_type(std::string_view type);

std::optional<std::string> check_reconnect_policy(std::string_view policy);

std::optional<std::string> check_absolute_path(std::string_view path);

std::optional<std::string> check_optional_absolute_path(std::string_view path);

// A slice unit name as systemd accepts it: "-.slice" (the root) or a prefix
// of [A-Za-z0-9:_.\-] without a leading, trailing or doubled '-' (each '-'
// separates a parent), ".slice" appended, 255 characters at most.
std::optional<std::string> check_slice(std::string_view name);

std::optional<std::string> check_memory_max(std::string_view value);

std::optional<std::string> check_display_template(const std::vector<std::string>& argv);

// A companion's template may be empty (the companion is disabled).
std::optional<std::string> check_companion_template(const std::vector<std::string>& argv);

// "NAME=value": NAME a shell-style variable name.
std::optional<std::string> check_environment_entry(std::string_view entry);

// A socket path template: absolute, short enough for sockaddr_un once
// expanded (a display number adds at most 3 characters to "%d").
std::optional<std::string> check_ready_socket(std::string_view path);
// [display.*] ready_line / suspend_line: "" or 1..200 printable ASCII characters.
std::optional<std::string> check_output_line(std::string_view text);
// [display.nxagent] nx_options: "" or comma-separated NAME=value options of
// [A-Za-z0-9._-]; rsm's own (listen, loopback, accept, cookie, connect) are refused.
std::optional<std::string> check_nx_options(std::string_view options);

}  // namespace rsm::config
