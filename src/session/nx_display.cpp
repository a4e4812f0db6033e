#include "session/nx_display.hpp"

namespace rsm::session {

std::string nx_display_options(std::string_view extra, unsigned port) {
    std::string s = "nx/nx,";
    if (!extra.empty()) {
        s += extra;
        s += ',';
    }
    s += "listen=" + std::to_string(port) + ",loopback=1,accept=127.0.0.1";
    return s;
}

bool valid_nx_display_options(std::string_view options) noexcept {
    constexpr std::string_view prefix = "nx/nx,";
    if (!options.starts_with(prefix) || options.size() > 1024) return false;
    std::string_view rest = options.substr(prefix.size());
    for (;;) {
        const std::size_t comma = rest.find(',');
        const std::string_view opt = rest.substr(0, comma);
        const std::size_t eq = opt.find('=');
        if (eq == std::string_view::npos || eq == 0 || eq + 1 == opt.size()) return false;
        for (char c : opt)
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-' || c == '='))
                return false;
        if (comma == std::string_view::npos) return true;
        rest.remove_prefix(comma + 1);
    }
}

std::string nx_shadow_options(std::string_view options, unsigned target_display, bool interactive, unsigned uid) {
    std::string s{options};
    s += ",shadow=:" + std::to_string(target_display);
    s += interactive ? ",shadowmode=1" : ",shadowmode=0";
    s += ",shadowuid=" + std::to_string(uid);
    return s;
}

std::string nx_options_file_text(std::string_view options, std::string_view cookie_hex, unsigned display) {
    std::string s{options};
    s += ",cookie=";
    s += cookie_hex;
    s += ':' + std::to_string(display);
    return s;
}

}  // namespace rsm::session
