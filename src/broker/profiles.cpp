#include "broker/profiles.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace rsm::broker {

const Profile* ProfileSet::find(std::string_view id) const {
    const auto it = std::lower_bound(profiles.begin(), profiles.end(), id,
                                     [](const Profile& p, std::string_view v) { return p.id < v; });
    return it != profiles.end() && it->id == id ? &*it : nullptr;
}

const ProfileOptions& builtin_defaults() {
    using V = ProfileValue;
    static const ProfileOptions defaults{
        {"command", V::of_text("TERMINAL")},   {"kdrive", V::of_bool(false)},
        {"defsndport", V::of_bool(true)},      {"useiconv", V::of_bool(false)},
        {"iconvfrom", V::of_text("UTF-8")},    {"height", V::of_int(600)},
        {"export", V::of_text("")},            {"quality", V::of_int(9)},
        {"fullscreen", V::of_bool(false)},     {"layout", V::of_text("")},
        {"useexports", V::of_bool(true)},      {"width", V::of_int(800)},
        {"speed", V::of_int(2)},               {"soundsystem", V::of_text("pulse")},
        {"print", V::of_bool(true)},           {"type", V::of_text("auto")},
        {"sndport", V::of_int(4713)},          {"xinerama", V::of_bool(true)},
        {"variant", V::of_text("")},           {"usekbd", V::of_bool(true)},
        {"fstunnel", V::of_bool(true)},
        {"applications", V::of_list({"TERMINAL", "WWWBROWSER", "MAILCLIENT", "OFFICE"})},
        {"multidisp", V::of_bool(false)},      {"sshproxyport", V::of_int(22)},
        {"sound", V::of_bool(true)},           {"rootless", V::of_bool(true)},
        {"iconvto", V::of_text("UTF-8")},      {"soundtunnel", V::of_bool(true)},
        {"dpi", V::of_int(96)},                {"sshport", V::of_int(22)},
        {"setdpi", V::of_int(0)},              {"pack", V::of_text("16m-jpeg")},
        {"user", V::of_text("BROKER_USER")},   {"host", V::of_list({"localhost"})},
        {"directrdp", V::of_bool(false)},
    };
    return defaults;
}

ValueType value_type_of(std::string_view key) {
    const auto& d = builtin_defaults();
    const auto it = d.find(key);
    return it == d.end() ? ValueType::text : it->second.type;
}

ProfileOptions options_for_user(const Profile& profile, std::string_view user, bool default_autologin) {
    // x2gobroker/defaults.py, X2GO_DESKTOP_SESSIONS.
    static constexpr std::array<std::string_view, 11> desktops{
        "KDE", "GNOME", "XFCE", "CINNAMON", "MATE", "LXDE", "TRINITY", "UNITY", "ICEWM", "OPENBOX", "XDMCP"};
    ProfileOptions options = profile.options;
    if (auto it = options.find("user"); it != options.end() && it->second.text == "BROKER_USER")
        it->second.text = std::string(user);
    if (auto it = options.find("command"); it != options.end()) {
        std::string upper = it->second.text;
        std::transform(upper.begin(), upper.end(), upper.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (std::find(desktops.begin(), desktops.end(), upper) != desktops.end()) {
            it->second.text = upper;
            options["rootless"] = ProfileValue::of_bool(false);
        }
    }
    if (profile.autologin.value_or(default_autologin)) {
        options["autologin"] = ProfileValue::of_bool(true);
        options["key"] = ProfileValue::of_text("<will-be-exchanged-during-session-selection>");
    }
    return options;
}

VisibleProfiles visible_profiles(const ProfileSet& set, std::string_view user, const std::vector<std::string>& groups,
                                 std::string_view client_address, bool default_autologin) {
    VisibleProfiles out;
    for (const auto& p : set.profiles)
        if (acl_permits(p.acl, user, groups, client_address))
            out.emplace_back(p.id, options_for_user(p, user, default_autologin));
    return out;
}

std::string plain_value(const ProfileValue& v) {
    switch (v.type) {
    case ValueType::boolean: return v.boolean ? "1" : "0";
    case ValueType::integer: return std::to_string(v.integer);
    case ValueType::list: {
        std::string out;
        for (const auto& item : v.list) {
            if (!out.empty()) out += ',';
            out += item;
        }
        return out;
    }
    case ValueType::text: break;
    }
    return v.text;
}

}  // namespace rsm::broker
