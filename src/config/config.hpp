// rsm's configuration: the Config aggregate, its schema and the loader.
//
// Sources, later overriding earlier key by key:
//   1. the defaults compiled in below (also shipped, documented, as
//      /usr/share/rsm/rsm.toml, which the loader does not read);
//   2. /etc/rsm/rsm.toml (a missing file is fine);
//   3. every /etc/rsm/rsm.toml.d/*.toml, in byte order of the file name
//      (hidden files and other names are ignored).
// A key set in a later file replaces the earlier value whole; arrays are
// replaced, not merged. Anything the schema does not know is an error, so a
// misspelt key never silently does nothing.
//
// To add a key: add the member (with its default) below, then one row to the
// schema table in config_schema.cpp, then document it in data/rsm.toml and
// docs/configuration.md (a unit test checks both mention every key).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "rsm-build-config.h"

namespace rsm::config {

// [manager]: the daemon's own life, whatever it serves (the gateway socket,
// the system bus name, the executors' socket).
struct Manager {
    // Exit (STOPPING=1, status 0) after this long with no session, no
    // connection and no work in flight; the sockets and the bus name start
    // the manager again. 0 = never exit on idle.
    std::chrono::seconds idle_exit_sec{300};

    bool operator==(const Manager&) const = default;
};

// [gateway]: limits on connections to /run/rsm/gateway.sock.
struct Gateway {
    std::chrono::seconds login_timeout{30};
    unsigned max_login_attempts = 3;  // 0 = no per-connection limit
    unsigned max_connections = 1024;
    unsigned max_unauthenticated = 64;
    // Connections one peer uid may hold open at once (trusted gateways are
    // exempt: every client of theirs arrives under their uid).
    unsigned max_connections_per_uid = 32;
    // Login executors (PAM running) at once for one peer uid, and for one
    // source (the client address a trusted gateway names, else uid:<n>);
    // further logins wait in line for a slot, in order.
    unsigned max_logins_per_uid = 4;
    unsigned max_logins_per_source = 2;
    // Every failed password/conversation login is answered this many
    // milliseconds after it began, never earlier, whatever failed (unknown
    // user, wrong password, refused by [access]): no timing oracle.
    unsigned failure_delay_ms = 2000;
    // Peers whose claims about their client (address, host name) are
    // believed: root always, plus these users and members of these groups.
    // Names are resolved when the configuration is loaded.
    std::vector<std::string> trusted_users;
    std::vector<std::string> trusted_groups{"rsm-gateway"};

    bool operator==(const Gateway&) const = default;
};

// [throttle]: per-source lockout after repeated failed password logins.
struct Throttle {
    unsigned max_failures = 5;  // per source and target user; 0 disables throttling
    unsigned max_failures_per_source = 20;  // all target users of one source together; 0 = no such limit
    std::chrono::seconds window{60};
    std::chrono::seconds lockout{60};

    bool operator==(const Throttle&) const = default;
};

// [access]: who may log in at all (see access/access_policy.hpp).
struct Access {
    bool allow_root = false;
    std::vector<std::string> allowed_users;  // empty = no user restriction
    std::vector<std::string> denied_users;
    std::vector<std::string> allowed_groups;  // empty = no group restriction
    std::vector<std::string> denied_groups;
    // Login by peer credentials (LoginWithCredentials): off unless enabled;
    // when enabled and peer_credential_groups is not empty, only members.
    bool allow_peer_credentials = false;
    std::vector<std::string> peer_credential_groups;
    // Accounts below UID_MIN of /etc/login.defs (service accounts) and
    // accounts whose shell is not in /etc/shells are refused unless allowed.
    bool allow_system_accounts = false;
    bool allow_any_shell = false;

    bool operator==(const Access&) const = default;
};

// [pam]
struct Pam {
    std::string service = "rsm";

    bool operator==(const Pam&) const = default;
};

// The most sessions the manager keeps at once, whatever max_sessions says:
// every session's executor link is kept in rsm-manager.service's fd store
// (FileDescriptorStoreMax=RSM_FD_STORE_MAX) so that it survives a restart,
// with room to spare.
inline constexpr unsigned max_sessions_ceiling = RSM_FD_STORE_MAX - 384;

// [session]: how sessions start, live and end.
struct Session {
    std::string default_type = "xvnc";     // one of xvnc, xvfb, xorg, null
    std::string reconnect_policy = "UBD";  // letters, see session/reconnect_policy.hpp
    unsigned max_sessions = 100;           // all users together; 0 = max_sessions_ceiling
    unsigned max_sessions_per_user = 5;    // 0 = no limit
    std::chrono::seconds startup_timeout{30};      // the display must be ready within this
    std::chrono::seconds disconnected_timeout{0};  // end a session disconnected this long; 0 = never
    std::chrono::seconds idle_timeout{0};          // disconnect a connected session idle this long; 0 = never
    std::chrono::seconds max_lifetime{0};          // end a session this old; 0 = never
    std::string start_script = "/etc/rsm/startwm.sh";  // session program when no desktop is named
    std::string reconnect_script;                      // run in the session on each reconnect; "" = none
    std::string slice = "rsm.slice";                   // slice of the sessions' scopes
    std::string memory_max;  // MemoryMax= of each scope: "" unset, see parse_memory_size()
    unsigned tasks_max = 0;   // TasksMax= of each scope; 0 = unset
    unsigned cpu_weight = 0;  // CPUWeight= of each scope; 0 = unset
    unsigned display_first = 10, display_last = 1000;  // X display numbers rsm hands out

    bool operator==(const Session&) const = default;
};

// [display.<type>]: the display server of a session type.
struct Display {
    std::vector<std::string> argv = {};  // template, see session/argv_template.hpp
    // "NAME=value" entries added to the server's environment (over the
    // session's): xorgxrdp reads XRDP_SOCKET_PATH to know where xrdp looks.
    std::vector<std::string> environment = {};
    // Template of a unix socket the server listens on for its one gateway
    // (xorgxrdp's xrdp_display_<N>): while set, a connected session counts
    // as connected only while the server holds a connection accepted on it
    // ("" = the control channel alone tells).
    std::string client_socket = {};
    // Readiness from the server's stderr instead of -displayfd: the session
    // is ready once a line containing this text appears ("" = the display
    // number on fd 3). Every line still goes to the journal.
    std::string ready_line = {};
    // A stderr line (substring) saying the server lost its client and
    // suspended itself; the leader answers it with SIGHUP so that the server
    // listens again (nxagent). "" = none.
    std::string suspend_line = {};
    // A stderr line (substring) saying the server acts on that SIGHUP
    // (nxagent: "Session: Resuming session"); the leader repeats the SIGHUP
    // until it comes. "" = one SIGHUP.
    std::string resume_line = {};
    // A stderr line (substring) after which the server takes X clients: the
    // session program and companions start only then ("" = at ready).
    // nxagent's X server runs only once its first NX client connected.
    std::string start_line = {};
    // nxagent only: options of its NX display string; rsm appends
    // listen=<4000+N>,loopback=1,accept=127.0.0.1,cookie=<session cookie>.
    std::string nx_options = {};

    bool operator==(const Display&) const = default;
};

// The display servers rsm can start (the "null" type has none). The server
// gets its readiness pipe on fd 3 ("-displayfd 3"); %s is the socket rsm
// connects the gateway to.
struct Displays {
    // Designated initializers: members left out keep their defaults.
    Display xvnc{.argv = {"Xvnc", ":%d", "-displayfd", "3", "-auth", "%a", "-geometry", "%g", "-depth", "%b",
                          "-SecurityTypes", "None", "-rfbunixpath", "%s", "-rfbunixmode", "0600", "-rfbport", "-1",
                          "-nolisten", "tcp"}};
    Display xvfb{.argv = {"Xvfb", ":%d", "-displayfd", "3", "-auth", "%a", "-screen", "0", "%gx%b", "-nolisten",
                          "tcp"}};
    Display xorg{.argv = {"/usr/lib/xorg/Xorg", ":%d", "-displayfd", "3", "-auth", "%a", "-config",
                          "xrdp/xorg.conf", "-noreset", "-nolisten", "tcp", "-logfile", ".xorgxrdp.%d.log"},
                 .environment = {"XRDP_SOCKET_PATH=/run/xrdp/sockdir"},
                 .client_socket = "/run/xrdp/sockdir/xrdp_display_%d"};
    // nxagent reads its display string (with the cookie) from %o, a file of
    // the user's that only they can read, not from its command line.
    Display nxagent{.argv = {"nxagent", "-display", "nx/nx,options=%o:%d", ":%d", "-auth", "%a", "-geometry", "%g",
                             "-nolisten", "tcp"},
                    .ready_line = "Waiting for connection",
                    .suspend_line = "Session: Session suspended",
                    .resume_line = "Session: Resuming session",
                    .start_line = "Session: Session started",
                    .nx_options = "link=lan"};
    // xpra 3.1 as a headless server for one user: seamless ("xpra start")
    // and a whole desktop ("xpra start-desktop"). It writes its display
    // number on fd 3 once its Xvfb runs and then binds %s; rsm waits for
    // that socket to listen. Nothing that reaches out: no mDNS, no D-Bus
    // launch, no audio, printing, webcam, HTML or TCP sockets.
    static std::vector<std::string> xpra_argv(const char* mode) {
        return {"xpra", mode, ":%d", "--daemon=no", "--displayfd=3", "--bind=%s", "--socket-permissions=600",
                "--systemd-run=no", "--mdns=no", "--dbus-launch=", "--dbus-proxy=no", "--dbus-control=no",
                "--pulseaudio=no", "--speaker=off", "--microphone=off", "--av-sync=no", "--webcam=no",
                "--printing=no", "--file-transfer=no", "--open-files=no", "--open-url=no",
                "--forward-xdg-open=no", "--notifications=no", "--system-tray=no", "--html=off",
                "--ssh-upgrade=no", "--rfb-upgrade=0", "--start-new-commands=no", "--remote-logging=no",
                "--xvfb=Xvfb +extension GLX +extension Composite -screen 0 5760x2560x24+32 -dpi 96 "
                "-nolisten tcp -noreset -auth %a"};
    }
    static Display display_of(std::vector<std::string> argv) {
        Display d;
        d.argv = std::move(argv);
        return d;
    }
    Display xpra = display_of(xpra_argv("start"));
    Display xpra_desktop = display_of(xpra_argv("start-desktop"));

    bool operator==(const Displays&) const = default;
};

// [companion.<name>]: a program a gateway may ask to run next to the display
// server (CreateSession option "companions"), as the user, in the session,
// ended with it; e.g. xrdp's channel server. See session/companion.hpp.
struct Companion {
    std::vector<std::string> argv;         // template like [display.*]; empty = disabled
    std::vector<std::string> environment;  // "NAME=value", over the session's
    // Unix socket path (template, %d etc.) the program listens on when
    // ready; the session is reported ready only then (or after
    // ready_timeout). "" = do not wait.
    std::string ready_socket;
    std::chrono::seconds ready_timeout{10};

    bool operator==(const Companion&) const = default;
};

struct Companions {
    // xrdp's chansrv, as sesman starts it: it listens on
    // XRDP_SOCKET_PATH/xrdp_chansrv_socket_<display> (compiled in), and xrdp
    // shows nothing until it answers there.
    Companion chansrv{{"/usr/sbin/xrdp-chansrv"},
                      {"XRDP_SOCKET_PATH=/run/xrdp/sockdir"},
                      "/run/xrdp/sockdir/xrdp_chansrv_socket_%d",
                      std::chrono::seconds{10}};

    bool operator==(const Companions&) const = default;
};

// The companion called `name`, or nullptr for a name the schema does not know.
const Companion* find_companion(const Companions& c, std::string_view name);

// [shadow]: watching and controlling another session's desktop (NX
// attachsession, Gateway1.ShadowSession; docs/nx.md "Shadowing"). nxagent
// in shadow mode (-S) runs as the session's owner, in the session's scope,
// on a display number of its own, attached to the session's X display; the
// asking gateway gets a connection to it, never the session's cookie.
struct Shadow {
    // Whether a user may ask to shadow another user's session at all (the
    // owner is asked each time; their own sessions they may always shadow).
    bool allow_other_users = true;
    // Run as the owner on their display when another user asks; exit status
    // 0 = consent, anything else or no answer within consent_timeout =
    // refused. A template (session/argv_template.hpp): %u is the user who
    // asks, %i the session id, %D the session's display.
    std::vector<std::string> consent_argv = {
        "xmessage", "-center", "-buttons", "Allow:0,Deny:1", "-default", "Deny",
        "User %u asks to see and control your desktop (rsm session %i). Allow?"};
    std::chrono::seconds consent_timeout{30};
    // The shadowing nxagent: %d its own display number, %o its options file
    // (rsm writes nx/nx,<nx_options>,listen=%p,loopback=1,accept=127.0.0.1,
    // shadow=<the session's display>,shadowmode=1,cookie=<new cookie>:%d
    // there), %a its Xauthority file (its own display and the session's).
    std::vector<std::string> argv = {"nxagent", "-S", "-nopersistent", "-display", "nx/nx,options=%o:%d",
                                     ":%d", "-auth", "%a", "-nolisten", "tcp"};
    std::string nx_options = "link=lan";
    std::string ready_line = "Waiting for connection";

    bool operator==(const Shadow&) const = default;
};

struct Config {
    Manager manager;
    Gateway gateway;
    Throttle throttle;
    Access access;
    Pam pam;
    Session session;
    Displays display;
    Companions companion;
    Shadow shadow;

    bool operator==(const Config&) const = default;
};

// A [session] memory_max value: "" = unset (nullopt); "infinity" = no limit
// (UINT64_MAX, systemd's value for MemoryMax=infinity); else a positive
// number of bytes with an optional suffix K, M, G or T (powers of 1024).
// Throws std::invalid_argument saying what is wrong (no sign, spaces,
// fractions or other suffixes; no overflow).
std::optional<std::uint64_t> parse_memory_size(std::string_view text);

// A configuration error. what() reads "FILE:LINE: SECTION.KEY: MESSAGE"
// (or "FILE:LINE:COLUMN: MESSAGE" for TOML syntax errors, "FILE: MESSAGE"
// when the file cannot be read), ready to log or print as is.
class ConfigError : public std::runtime_error {
public:
    ConfigError(std::string file, std::size_t line, std::size_t column, std::string key,
                std::string message);

    const std::string& file() const noexcept { return file_; }
    std::size_t line() const noexcept { return line_; }      // 1-based, 0 if unknown
    std::size_t column() const noexcept { return column_; }  // 1-based, 0 if unknown
    const std::string& key() const noexcept { return key_; }  // "section.key", may be ""
    const std::string& message() const noexcept { return message_; }

private:
    std::string file_;
    std::size_t line_;
    std::size_t column_;
    std::string key_;
    std::string message_;
};

// Where load() looks. Injectable so tests need no /etc.
struct LoadPaths {
    std::filesystem::path main_file;   // read if it exists
    std::filesystem::path dropin_dir;  // *.toml read if the directory exists

    // /etc/rsm/rsm.toml and /etc/rsm/rsm.toml.d.
    static LoadPaths system();
};

// Builds a Config from the defaults and the files in `paths`. Keys that must
// agree with each other are checked once all files are read, and an error
// names the one set last. Throws ConfigError for the first problem found; nothing is partially applied, so
// a manager re-loading on SIGHUP keeps its old Config when this throws.
// Re-loading is simply calling load() again.
Config load(const LoadPaths& paths);

// Defaults overridden by one TOML document; `source_name` stands for the file
// name in errors. For tests and tools.
Config parse_string(std::string_view toml, std::string_view source_name);

// Applies one TOML document over an existing Config (the step load() takes
// per file), then checks keys that must agree with each other
// (session.display_first <= session.display_last). On error `config` may be
// partly updated.
void apply_string(Config& config, std::string_view toml, std::string_view source_name);

// Renders every key of `config` as TOML that parse_string() reads back to an
// equal Config; for "show the effective configuration" tools.
std::string to_toml(const Config& config);

// --- The schema -----------------------------------------------------------

// One row per key. A section may be dotted ("display.xvnc"): it is then
// written as a nested TOML table, [display.xvnc]. The accessor's type decides
// the TOML type accepted:
//   unsigned              -> integer in [min, max]
//   std::chrono::seconds  -> integer number of seconds in [min, max]
//   bool                  -> boolean
//   std::string           -> string, checked by `check`
//   vector<std::string>   -> array of strings, each checked by `check`
struct KeyDescriptor {
    using Accessor = std::variant<unsigned& (*)(Config&), std::chrono::seconds& (*)(Config&),
                                  bool& (*)(Config&), std::string& (*)(Config&),
                                  std::vector<std::string>& (*)(Config&)>;
    // nullopt if the string is acceptable, else why not.
    using StringCheck = std::optional<std::string> (*)(std::string_view);
    // The same for a whole string array (after each element passed `check`).
    using ListCheck = std::optional<std::string> (*)(const std::vector<std::string>&);

    std::string_view section;
    std::string_view key;
    Accessor access;
    std::int64_t min = 0;  // integers only
    std::int64_t max = 0;
    StringCheck check = nullptr;  // strings and string arrays only; may be null
    std::string_view doc;         // one line, for tools and tests
    ListCheck list_check = nullptr;  // string arrays only; may be null
};

// Every key rsm knows, grouped by section in documentation order.
std::span<const KeyDescriptor> schema();

}  // namespace rsm::config
