#include "protocol/login_request.hpp"

#include <array>
#include <utility>

namespace rsm::protocol {
namespace {

constexpr std::array<std::pair<LoginMode, const char*>, 3> mode_names{{
    {LoginMode::password, "password"},
    {LoginMode::conversation, "conversation"},
    {LoginMode::account, "account"},
}};

constexpr std::array<std::pair<LoginPurpose, const char*>, 2> purpose_names{{
    {LoginPurpose::peer_credentials, "peer-credentials"},
    {LoginPurpose::session, "session"},
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

const char* to_string(LoginPurpose p) noexcept {
    for (const auto& [purpose, name] : purpose_names)
        if (purpose == p) return name;
    return "unknown";
}

std::optional<LoginPurpose> login_purpose_from_string(std::string_view s) noexcept {
    for (const auto& [purpose, name] : purpose_names)
        if (s == name) return purpose;
    return std::nullopt;
}

bool valid_service_name(std::string_view s) noexcept {
    if (s.empty() || s.size() > 64 || s.front() == '.') return false;
    for (char c : s)
        if (!ascii_lower_or_digit(c) && c != '.' && c != '_' && c != '-') return false;
    return true;
}

}  // namespace rsm::protocol
