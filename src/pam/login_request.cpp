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
constexpr bool ascii_alnum(char c) { return ascii_lower_or_digit(c) || (c >= 'A' && c <= 'Z'); }

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

bool valid_user_name(std::string_view s) noexcept {
    if (s.empty() || s.size() > 32 || s.front() == '-') return false;
    if (s.back() == '$') s.remove_suffix(1);
    if (s.empty()) return false;
    for (char c : s)
        if (!ascii_alnum(c) && c != '.' && c != '_' && c != '-') return false;
    return true;
}

bool valid_service_name(std::string_view s) noexcept {
    if (s.empty() || s.size() > 64 || s.front() == '.') return false;
    for (char c : s)
        if (!ascii_lower_or_digit(c) && c != '.' && c != '_' && c != '-') return false;
    return true;
}

bool valid_password(std::string_view s) noexcept {
    return s.size() <= max_password_size && s.find('\0') == std::string_view::npos;
}

}  // namespace rsm::pam
