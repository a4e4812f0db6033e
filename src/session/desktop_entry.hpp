// Desktop sessions by name, as display managers find them: desktop entries
// <name>.desktop in /usr/share/xsessions (X11) and /usr/share/wayland-sessions,
// read with GLib's GKeyFile (Exec= split with g_shell_parse_argv, field codes
// rejected, Hidden=true / NoDisplay / TryExec missing treated as absent).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace rsm::session {

struct DesktopSession {
    std::string name;                // the file name without .desktop
    std::string display_name;        // Name= (the name when absent)
    std::vector<std::string> argv;   // from Exec=
    std::string desktop_names;       // DesktopNames= (for XDG_CURRENT_DESKTOP), ';' -> ':'
    bool wayland = false;            // found in wayland-sessions

    bool operator==(const DesktopSession&) const = default;
};

// Desktop names are [A-Za-z0-9._-]+ (no '/'); anything else is rejected.
bool valid_desktop_name(const std::string& name) noexcept;

// Looks `name` up in `dirs` (first hit wins). Returns nullopt if there is no
// usable entry; throws std::runtime_error naming the file for a broken one.
// The first file found decides, as a desktop entry shadows those of the same
// name in later directories: if it is Hidden=true, NoDisplay=true or its
// TryExec= program is not found (searched in PATH unless absolute) or not
// executable, the result is nullopt. Broken means: not a valid key file, no
// [Desktop Entry] group, no or empty Exec=, Exec= that does not split as shell
// words, or Exec= with a field code (%f, %U ...; "%%" is a literal '%').
// Throws std::invalid_argument for an invalid name.
std::optional<DesktopSession> find_desktop_session(const std::string& name, const std::vector<std::string>& dirs = {
    "/usr/share/xsessions", "/usr/share/wayland-sessions"});

}  // namespace rsm::session
