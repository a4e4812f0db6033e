#include "session/session_id.hpp"

#include <array>
#include <cstdio>
#include <system_error>
#include <systemd/sd-id128.h>

namespace rsm::session {

std::string new_session_id() {
    sd_id128_t id;
    if (const int r = sd_id128_randomize(&id); r < 0)
        throw std::system_error(-r, std::generic_category(), "sd_id128_randomize");
    std::array<char, SD_ID128_STRING_MAX> text{};
    std::snprintf(text.data(), text.size(), SD_ID128_FORMAT_STR, SD_ID128_FORMAT_VAL(id));
    return std::string{text.data()};
}

bool valid_session_id(std::string_view id) noexcept {
    if (id.size() != 32)
        return false;
    for (const char c : id) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

std::string scope_unit_name(std::string_view id) { return "rsm-session-" + std::string(id) + ".scope"; }

}  // namespace rsm::session
