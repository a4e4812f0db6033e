#include "session/display_type.hpp"

#include <array>
#include <utility>

namespace rsm::session {

namespace {

constexpr std::array<std::pair<DisplayType, const char*>, 7> display_types{{
    {DisplayType::xvnc, "xvnc"},
    {DisplayType::xvfb, "xvfb"},
    {DisplayType::xorg, "xorg"},
    {DisplayType::null, "null"},
    {DisplayType::xpra, "xpra"},
    {DisplayType::xpra_desktop, "xpra-desktop"},
    {DisplayType::nxagent, "nxagent"},
}};

constexpr std::array<std::pair<DisplayProtocol, const char*>, 5> protocols{{
    {DisplayProtocol::rfb, "rfb"},
    {DisplayProtocol::x11, "x11"},
    {DisplayProtocol::none, "none"},
    {DisplayProtocol::xpra, "xpra"},
    {DisplayProtocol::nx, "nx"},
}};

template <class Enum, std::size_t N>
const char* name_of(const std::array<std::pair<Enum, const char*>, N>& table, Enum value) noexcept {
    for (const auto& [e, name] : table)
        if (e == value) return name;
    return "unknown";
}

template <class Enum, std::size_t N>
std::optional<Enum> value_of(const std::array<std::pair<Enum, const char*>, N>& table, std::string_view s) noexcept {
    for (const auto& [e, name] : table)
        if (s == name) return e;
    return std::nullopt;
}

}  // namespace

const char* to_string(DisplayType t) noexcept { return name_of(display_types, t); }
std::optional<DisplayType> display_type_from_string(std::string_view s) noexcept {
    return value_of(display_types, s);
}

std::string display_type_names() {
    std::string out;
    for (const auto& [t, name] : display_types) out += (out.empty() ? "" : ", ") + std::string(name);
    return out;
}

const char* to_string(DisplayProtocol p) noexcept { return name_of(protocols, p); }
std::optional<DisplayProtocol> display_protocol_from_string(std::string_view s) noexcept {
    return value_of(protocols, s);
}

DisplayProtocol protocol_of(DisplayType t) noexcept {
    switch (t) {
    case DisplayType::xvnc: return DisplayProtocol::rfb;
    case DisplayType::xvfb:
    case DisplayType::xorg: return DisplayProtocol::x11;
    case DisplayType::null: return DisplayProtocol::none;
    case DisplayType::xpra:
    case DisplayType::xpra_desktop: return DisplayProtocol::xpra;
    case DisplayType::nxagent: return DisplayProtocol::nx;
    }
    return DisplayProtocol::none;
}

}  // namespace rsm::session
