// The display types a session can have and the protocol each one speaks to
// the gateway, as enums with their string tables (logind's
// session_type_to_string pattern). Records, config and the wire keep the
// names; code compares enums.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rsm::session {

enum class DisplayType {
    xvnc,  // Xvnc: RFB on a unix socket, X11 for the desktop
    xvfb,  // Xvfb: X11 only
    xorg,  // Xorg (xorgxrdp): X11
    null,  // no display server: the session program alone
    xpra,          // xpra server, seamless (windows, no desktop): xpra on a unix socket
    xpra_desktop,  // "xpra-desktop": xpra start-desktop, a whole desktop
    nxagent,       // nxagent (nx-libs): NX on a loopback TCP port, X11 for the desktop
};
const char* to_string(DisplayType t) noexcept;
std::optional<DisplayType> display_type_from_string(std::string_view s) noexcept;
// Every type's name, for error messages: "xvnc, xvfb, ..., nxagent".
std::string display_type_names();

// What a gateway speaks to the session's display ("Protocol" on the bus).
enum class DisplayProtocol {
    rfb,
    x11,
    none,
    xpra,  // xpra's own protocol
    nx,    // the NX protocol (nxproxy <-> nxagent)
};
const char* to_string(DisplayProtocol p) noexcept;
std::optional<DisplayProtocol> display_protocol_from_string(std::string_view s) noexcept;

DisplayProtocol protocol_of(DisplayType t) noexcept;

}  // namespace rsm::session
