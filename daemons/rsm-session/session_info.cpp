#include "session_info.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <string_view>
#include <sys/un.h>

#include "bus/connection.hpp"
#include "bus/dict_reader.hpp"
#include "bus/error.hpp"
#include "bus/names.hpp"
#include "protocol/validate.hpp"
#include "session/display_type.hpp"
#include "session/nx_display.hpp"

namespace rsm::session {
namespace {

using bus::BusError;
namespace err = names::error;

constexpr std::size_t max_argv_entries = 256;
constexpr std::size_t max_arg_bytes = 4096;
constexpr std::size_t max_text_bytes = 255;
constexpr uint32_t max_geometry = 16384;
constexpr uint32_t max_display_number = 65535;
constexpr uint64_t max_span_usec = 100ULL * 365 * 24 * 3600 * 1000 * 1000;

BusError invalid(const std::string& key, const std::string& what) {
    return BusError(err::invalid_argument, "Parameter '" + key + "' " + what);
}

// Enters the variant of `key`, which must hold exactly `type`.
void enter_variant(sd_bus_message* m, const std::string& key, const char* type, const char* type_name) {
    const char* contents = nullptr;
    if (sd_bus_message_peek_type(m, nullptr, &contents) <= 0 || !contents || std::string_view(contents) != type)
        throw invalid(key, std::string("must be ") + type_name + " (" + type + ")");
    bus::check(sd_bus_message_enter_container(m, 'v', type), "enter variant");
}

void exit_variant(sd_bus_message* m) { bus::check(sd_bus_message_exit_container(m), "exit variant"); }

std::string read_string(sd_bus_message* m, const std::string& key) {
    enter_variant(m, key, "s", "a string");
    std::string v = bus::read_string(m);
    exit_variant(m);
    return v;
}

uint32_t read_u32(sd_bus_message* m, const std::string& key) {
    enter_variant(m, key, "u", "a uint32");
    uint32_t v = 0;
    bus::check(sd_bus_message_read_basic(m, 'u', &v), "read u");
    exit_variant(m);
    return v;
}

// Time spans: at most 100 years, so that now + span never overflows a timer.
uint64_t read_usec(sd_bus_message* m, const std::string& key) {
    enter_variant(m, key, "t", "a uint64");
    uint64_t v = 0;
    bus::check(sd_bus_message_read_basic(m, 't', &v), "read t");
    exit_variant(m);
    if (v > max_span_usec) throw invalid(key, "must be at most 100 years");
    return v;
}

std::vector<std::string> read_argv(sd_bus_message* m, const std::string& key) {
    enter_variant(m, key, "as", "a string array");
    char** raw = nullptr;
    bus::check(sd_bus_message_read_strv(m, &raw), "read as");
    std::vector<std::string> out;
    for (char** p = raw; p && *p; ++p) {
        out.emplace_back(*p);
        free(*p);
    }
    free(raw);
    exit_variant(m);
    if (out.size() > max_argv_entries)
        throw invalid(key, "has more than " + std::to_string(max_argv_entries) + " entries");
    for (const auto& a : out)
        if (a.size() > max_arg_bytes) throw invalid(key, "has an entry longer than 4096 bytes");
    if (!out.empty() && out.front().empty()) throw invalid(key, "starts with an empty program name");
    return out;
}

// An absolute path that fits a sockaddr_un (display sockets) or a file name.
void check_path(const std::string& key, const std::string& path, std::size_t max) {
    if (path.empty() || path.front() != '/') throw invalid(key, "must be an absolute path");
    if (path.size() >= max) throw invalid(key, "is too long");
    for (char c : path)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) throw invalid(key, "contains a control character");
}

// XDG_SESSION_DESKTOP-like: letters, digits, '.', '_', '-', ':' (lists).
bool valid_desktop(std::string_view s) {
    if (s.size() > max_text_bytes) return false;
    for (char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-' || c == ':';
        if (!ok) return false;
    }
    return true;
}

std::string checked_address(const std::string& key, const std::string& value) {
    if (value.empty()) return value;
    std::string canonical;
    if (auto e = protocol::canonicalize_address(value, canonical)) throw invalid(key, "is invalid: " + *e);
    return canonical;
}

void check_client_name(const std::string& key, const std::string& value) {
    if (value.empty()) return;
    if (auto e = protocol::validate_host_name(value)) throw invalid(key, "is invalid: " + *e);
}

// Calls fn(key) for every entry of an a{sv}, positioned at the variant; fn
// must consume it. Refuses duplicate keys. The walk is bus::read_dict's.
template <class Fn>
void for_each_entry(sd_bus_message* m, const char* what, Fn&& fn) {
    std::set<std::string> seen;
    bus::DictFailure failure;
    const int r = bus::read_dict(
        m,
        [&](std::string_view k, std::string_view) {
            std::string key{k};
            if (!seen.insert(key).second) throw invalid(key, "is given twice");
            fn(key);
            return 0;
        },
        &failure);
    if (r < 0)
        throw BusError(err::invalid_argument,
                       std::string("malformed ") + what + " a{sv} (at the " + bus::to_string(failure.step) + ")");
}

}  // namespace

StartParams read_start_params(sd_bus_message* m) {
    StartParams p;
    std::set<std::string> given;
    for_each_entry(m, "params", [&](const std::string& key) {
        given.insert(key);
        if (key == "type") p.type = read_string(m, key);
        else if (key == "protocol") p.protocol = read_string(m, key);
        else if (key == "display_argv") p.display_argv = read_argv(m, key);
        else if (key == "display_number") p.display_number = read_u32(m, key);
        else if (key == "display_socket") p.display_socket = read_string(m, key);
        else if (key == "xauthority") p.xauthority = read_string(m, key);
        else if (key == "session_argv") p.session_argv = read_argv(m, key);
        else if (key == "reconnect_argv") p.reconnect_argv = read_argv(m, key);
        else if (key == "display_env") {
            p.display_env = read_argv(m, key);
            for (const auto& e : p.display_env)
                if (e.find('=') == std::string::npos || e.front() == '=') throw invalid(key, "entries must be NAME=value");
        }
        else if (key == "display_client_socket") {
            p.display_client_socket = read_string(m, key);
            if (!p.display_client_socket.empty() &&
                (p.display_client_socket.front() != '/' || p.display_client_socket.size() >= sizeof(sockaddr_un::sun_path)))
                throw invalid(key, "must be an absolute path that fits sockaddr_un");
        }
        else if (key == "display_ready_line" || key == "display_suspend_line" || key == "display_start_line" ||
                 key == "display_resume_line") {
            std::string& line = key == "display_ready_line"    ? p.display_ready_line
                                : key == "display_start_line"  ? p.display_start_line
                                : key == "display_resume_line" ? p.display_resume_line
                                                               : p.display_suspend_line;
            line = read_string(m, key);
            if (line.size() > 200 || !std::all_of(line.begin(), line.end(), [](char c) { return c >= 0x20 && c <= 0x7e; }))
                throw invalid(key, "must be at most 200 printable ASCII characters");
        }
        else if (key == "display_port") {
            p.display_port = read_u32(m, key);
            if (p.display_port == 0 || p.display_port > 65535) throw invalid(key, "must be 1..65535");
        }
        else if (key == "nx_options") {
            p.nx_options = read_string(m, key);
            if (!valid_nx_display_options(p.nx_options)) throw invalid(key, "must be nx/nx, and NAME=value options");
        }
        else if (key == "nx_options_file") p.nx_options_file = read_string(m, key);
        else if (key == "companions") {
            try {
                p.companions = read_companions_variant(m);
            } catch (const std::invalid_argument& e) {
                throw invalid(key, e.what());
            }
        }
        else if (key == "desktop") p.desktop = read_string(m, key);
        else if (key == "current_desktop") p.current_desktop = read_string(m, key);
        else if (key == "xdg_session_type") {
            p.xdg_session_type = read_string(m, key);
            if (p.xdg_session_type != "wayland") throw invalid(key, "must be 'wayland'");
        }
        else if (key == "width") p.width = read_u32(m, key);
        else if (key == "height") p.height = read_u32(m, key);
        else if (key == "depth") p.depth = read_u32(m, key);
        else if (key == "client_address") p.client_address = read_string(m, key);
        else if (key == "client_name") p.client_name = read_string(m, key);
        else if (key == "startup_timeout_usec") p.startup_timeout_usec = read_usec(m, key);
        else if (key == "idle_timeout_usec") p.idle_timeout_usec = read_usec(m, key);
        else if (key == "disconnected_timeout_usec") p.disconnected_timeout_usec = read_usec(m, key);
        else if (key == "max_lifetime_usec") p.max_lifetime_usec = read_usec(m, key);
        else if (key == "manager_pid") p.manager_pid = read_u32(m, key);
        else throw BusError(err::invalid_argument, "Unknown parameter '" + key + "'");
    });

    auto require = [&](const char* key) {
        if (!given.count(key)) throw invalid(key, "is required");
    };
    require("type");
    require("protocol");
    require("session_argv");

    const auto type = display_type_from_string(p.type);
    if (!type) throw invalid("type", "must be one of " + display_type_names());
    // Each type speaks one protocol (session/display_type.hpp).
    if (p.protocol != to_string(protocol_of(*type)))
        throw invalid("protocol", std::string("must be '") + to_string(protocol_of(*type)) + "' for type '" + p.type + "'");
    p.display_type = *type;
    p.display_protocol = protocol_of(*type);
    if (p.display_type == DisplayType::nxagent) {
        require("display_port");
        require("nx_options");
        require("nx_options_file");
        check_path("nx_options_file", p.nx_options_file, 4096);
    } else if (p.display_port || !p.nx_options.empty() || !p.nx_options_file.empty()) {
        throw invalid("display_port", "display_port, nx_options and nx_options_file are for type 'nxagent' only");
    }
    if (p.session_argv.empty()) throw invalid("session_argv", "must not be empty");

    if (p.has_display()) {
        require("display_argv");
        require("display_number");
        require("display_socket");
        require("xauthority");
        if (p.display_argv.empty()) throw invalid("display_argv", "must not be empty for type '" + p.type + "'");
        if (p.display_number > max_display_number) throw invalid("display_number", "must be at most 65535");
        check_path("display_socket", p.display_socket, sizeof(sockaddr_un::sun_path));
        check_path("xauthority", p.xauthority, 4096);
    } else {
        if (!p.display_argv.empty()) throw invalid("display_argv", "must be empty for type 'null'");
        if (!p.display_socket.empty()) throw invalid("display_socket", "must be empty for type 'null'");
        if (!p.xauthority.empty()) throw invalid("xauthority", "must be empty for type 'null'");
    }
    if (!valid_desktop(p.desktop))
        throw invalid("desktop", "must be at most 255 characters of letters, digits, '.', '_', '-' and ':'");
    if (!valid_desktop(p.current_desktop))
        throw invalid("current_desktop", "must be at most 255 characters of letters, digits, '.', '_', '-' and ':'");
    if (!p.xdg_session_type.empty() && p.has_display())
        throw invalid("xdg_session_type", "a Wayland desktop cannot run on a display server");
    if (p.width > max_geometry) throw invalid("width", "must be at most 16384");
    if (p.height > max_geometry) throw invalid("height", "must be at most 16384");
    static const std::set<uint32_t> depths{0, 8, 15, 16, 24, 30, 32};
    if (!depths.count(p.depth)) throw invalid("depth", "must be 8, 15, 16, 24, 30 or 32 (0: unknown)");
    p.client_address = checked_address("client_address", p.client_address);
    check_client_name("client_name", p.client_name);
    if (p.startup_timeout_usec == 0) p.startup_timeout_usec = default_startup_timeout_usec;
    return p;
}

LimitChanges read_limit_changes(sd_bus_message* m) {
    LimitChanges l;
    for_each_entry(m, "limits", [&](const std::string& key) {
        if (key == "max_lifetime_usec") l.max_lifetime_usec = read_usec(m, key);
        else if (key == "disconnected_timeout_usec") l.disconnected_timeout_usec = read_usec(m, key);
        else if (key == "idle_timeout_usec") l.idle_timeout_usec = read_usec(m, key);
        else throw BusError(err::invalid_argument, "Unknown parameter '" + key + "'");
    });
    return l;
}

ClientInfo read_client_info(sd_bus_message* m) {
    ClientInfo c;
    for_each_entry(m, "client", [&](const std::string& key) {
        if (key == "client_address") c.address = checked_address(key, read_string(m, key));
        else if (key == "client_name") {
            c.name = read_string(m, key);
            check_client_name(key, c.name);
        } else {
            throw BusError(err::invalid_argument, "Unknown parameter '" + key + "'");
        }
    });
    return c;
}

ShadowParams read_shadow_params(sd_bus_message* m) {
    ShadowParams p;
    std::set<std::string> given;
    for_each_entry(m, "params", [&](const std::string& key) {
        given.insert(key);
        if (key == "requester") p.requester = read_string(m, key);
        else if (key == "client_address") p.client_address = checked_address(key, read_string(m, key));
        else if (key == "ask_consent") {
            enter_variant(m, key, "b", "a boolean");
            int b = 0;
            bus::check(sd_bus_message_read_basic(m, 'b', &b), "read b");
            exit_variant(m);
            p.ask_consent = b != 0;
        } else if (key == "consent_argv") p.consent_argv = read_argv(m, key);
        else if (key == "consent_timeout_usec") p.consent_timeout_usec = read_usec(m, key);
        else if (key == "argv") p.argv = read_argv(m, key);
        else if (key == "display_number") p.display_number = read_u32(m, key);
        else if (key == "port") p.port = read_u32(m, key);
        else if (key == "nx_options") p.nx_options = read_string(m, key);
        else if (key == "nx_options_file") p.nx_options_file = read_string(m, key);
        else if (key == "xauthority") p.xauthority = read_string(m, key);
        else if (key == "ready_line") p.ready_line = read_string(m, key);
        else if (key == "startup_timeout_usec") p.startup_timeout_usec = read_usec(m, key);
        else throw BusError(err::invalid_argument, "Unknown parameter '" + key + "'");
    });
    for (const char* k : {"requester", "argv", "display_number", "port", "nx_options", "nx_options_file", "xauthority",
                          "ready_line"})
        if (!given.count(k)) throw invalid(k, "is required");
    if (p.argv.empty()) throw invalid("argv", "must name nxagent");
    if (p.ask_consent && p.consent_argv.empty()) throw invalid("consent_argv", "must name the dialog when asking");
    if (p.display_number > max_display_number) throw invalid("display_number", "is out of range");
    if (p.port == 0 || p.port > 65535) throw invalid("port", "is out of range");
    if (!valid_nx_display_options(p.nx_options)) throw invalid("nx_options", "is not an NX display string");
    check_path("nx_options_file", p.nx_options_file, 4096);
    check_path("xauthority", p.xauthority, 4096);
    if (p.ready_line.empty() || p.ready_line.size() > max_text_bytes) throw invalid("ready_line", "must be 1..255 bytes");
    if (p.requester.empty() || p.requester.size() > max_text_bytes) throw invalid("requester", "must be 1..255 bytes");
    return p;
}

namespace {

void append_entry(sd_bus_message* m, const char* key, const char* type, auto value) {
    bus::check(sd_bus_message_append(m, "{sv}", key, type, value), "append record entry");
}

}  // namespace

void append_record(sd_bus_message* m, const Record& r, const std::string& protocol) {
    bus::check(sd_bus_message_open_container(m, 'a', "{sv}"), "open record");
    append_entry(m, "session_id", "s", r.id.c_str());
    append_entry(m, "uid", "u", r.uid);
    append_entry(m, "user", "s", r.user.c_str());
    append_entry(m, "type", "s", r.type.c_str());
    append_entry(m, "protocol", "s", protocol.c_str());
    append_entry(m, "state", "s", to_string(r.state));
    append_entry(m, "display", "s", r.display.c_str());
    if (r.display_number >= 0) append_entry(m, "display_number", "u", static_cast<uint32_t>(r.display_number));
    append_entry(m, "leader_pid", "u", r.leader_pid);
    append_entry(m, "executor_pid", "u", r.executor_pid);
    append_entry(m, "logind_session", "s", r.logind_session.c_str());
    append_entry(m, "desktop", "s", r.desktop.c_str());
    append_entry(m, "width", "u", r.width);
    append_entry(m, "height", "u", r.height);
    append_entry(m, "depth", "u", r.depth);
    append_entry(m, "client_address", "s", r.client_address.c_str());
    append_entry(m, "client_name", "s", r.client_name.c_str());
    append_entry(m, "created_usec", "t", r.created_usec);
    append_entry(m, "connected_usec", "t", r.connected_usec);
    append_entry(m, "disconnected_usec", "t", r.disconnected_usec);
    bus::check(sd_bus_message_close_container(m), "close record");
}

}  // namespace rsm::session
