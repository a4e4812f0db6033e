// What StartSession asks the executor for, and the record the executor
// reports about its session (StartSession and Attach replies, the
// StateChanged signal, SessionControl1.GetSession). Keys, types and rules are
// documented in dbus/org.rsm.Executor1.xml.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <systemd/sd-bus.h>

#include "session/companion.hpp"
#include "session/display_type.hpp"
#include "session/record.hpp"

namespace rsm::session {

// StartSession's params (a{sv}), validated.
struct StartParams {
    std::string type;      // a session/display_type.hpp name, as received (records, the bus)
    std::string protocol;  // the type's protocol name (protocol_of)
    // The same, parsed once by read_start_params: what the code compares.
    DisplayType display_type = DisplayType::null;
    DisplayProtocol display_protocol = DisplayProtocol::none;
    std::vector<std::string> display_argv;  // empty for "null"
    uint32_t display_number = 0;
    std::string display_socket;  // what Connect connects to; "" for "null"
    std::string xauthority;      // "" for "null"
    std::vector<std::string> session_argv;
    std::vector<std::string> reconnect_argv;
    std::vector<std::string> display_env;               // "NAME=value", the display server's only
    std::string display_client_socket;  // where the server accepts its gateway; "" = unused (display_client_watch.hpp)
    std::string display_ready_line, display_suspend_line;  // [display.*] ready_line, suspend_line; "" = unused
    std::string display_start_line;                        // [display.*] start_line; "" = unused
    std::string display_resume_line;                       // [display.*] resume_line; "" = unused
    uint32_t display_port = 0;  // nxagent: its listen port on 127.0.0.1 (Connect's target)
    std::string nx_options, nx_options_file;  // nxagent: its display string (session/nx_display.hpp), its file
    std::vector<CompanionCommand> companions;  // session/companion.hpp
    std::string desktop;          // XDG_SESSION_DESKTOP: the desktop entry's name
    std::string current_desktop;  // XDG_CURRENT_DESKTOP ("" = desktop)
    std::string xdg_session_type;  // "wayland" for a Wayland desktop entry without a display server, else ""
    uint32_t width = 0, height = 0, depth = 0;
    std::string client_address, client_name;
    // 0 = off, except startup (0 = default_startup_timeout_usec).
    uint64_t startup_timeout_usec = 0, idle_timeout_usec = 0, disconnected_timeout_usec = 0,
             max_lifetime_usec = 0;
    uint32_t manager_pid = 0;  // 0 = nobody to watch

    bool has_display() const noexcept { return display_type != DisplayType::null; }
};

inline constexpr uint64_t default_startup_timeout_usec = 60ULL * 1000 * 1000;

// Reads and validates StartSession's a{sv}. Throws BusError(InvalidArgument)
// naming the key for an unknown key, a wrong type, a duplicate, a bad value or
// a missing required key.
StartParams read_start_params(sd_bus_message* m);

// SetLimits' dictionary (a configuration reload): "max_lifetime_usec",
// "disconnected_timeout_usec", "idle_timeout_usec" t, each optional (absent
// = unchanged). Throws BusError(InvalidArgument) like above.
struct LimitChanges {
    std::optional<uint64_t> max_lifetime_usec, disconnected_timeout_usec, idle_timeout_usec;
};
LimitChanges read_limit_changes(sd_bus_message* m);

// Connect's client dictionary: "client_address" s, "client_name" s, both
// optional ("" when absent). Throws BusError(InvalidArgument) like above.
struct ClientInfo {
    std::string address, name;
};
ClientInfo read_client_info(sd_bus_message* m);

// Shadow's params (a{sv}; dbus/org.rsm.Executor1.xml), validated like
// StartSession's: the shadowing nxagent (shadow_session.hpp) and the owner's
// consent dialog.
struct ShadowParams {
    std::string requester, client_address;
    bool ask_consent = true;
    std::vector<std::string> consent_argv;
    uint64_t consent_timeout_usec = 0;
    std::vector<std::string> argv;
    uint32_t display_number = 0, port = 0;
    std::string nx_options, nx_options_file, xauthority, ready_line;
    uint64_t startup_timeout_usec = 0;
};
ShadowParams read_shadow_params(sd_bus_message* m);

// Appends `r` (plus the display protocol, which the record does not hold) as
// the record dictionary a{sv}. Throws std::system_error.
void append_record(sd_bus_message* m, const Record& r, const std::string& protocol);

}  // namespace rsm::session
