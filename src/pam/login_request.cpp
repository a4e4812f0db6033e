#include "pam/login_request.hpp"

#include <array>
#include <utility>

namespace rsm::pam {
namespace {

constexpr std::array<std::pair<LoginMode, const char*>, 3> mode_names{{
    {LoginMode::password, "password"},
    {LoginMode::conversation, "conversation"},
    {LoginMode::account, "account"},
}};

constexpr bool ascii_lower_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

}  // namespace

const char* to_string(LoginMode m) noexcept {
    for (const auto& [mode, name] : mode_names)
        if (mode == m) return name;
    return "unknown";
}

std::optional<LoginMode> login_mode_from_string(std::string_view s) noexcept {
    for (const auto& [mode, name] : mode_names)
        if (s == name) return mode;
    return std::nullopt;
}

bool valid_service_name(std::string_view s) noexcept {
    if (s.empty() || s.size() > 64 || s.front() == '.') return false;
    for (char c : s)
        if (!ascii_lower_or_digit(c) && c != '.' && c != '_' && c != '-') return false;
    return true;
}

}  // namespace rsm::pam
