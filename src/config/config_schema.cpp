// The schema: one row per key rsm.toml may hold (KeyDescriptor, config.hpp),
// in documentation order. A new key is a row here, a member in config.hpp
// and a line in data/rsm.toml.
#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/config_checks.hpp"
#include "protocol/validate.hpp"

namespace rsm::config {
namespace {

// The accessor for Config::*Section.*Member, as a plain function pointer so
// the schema table stays a constant.
template <auto Section, auto Member>
decltype(auto) member(Config& c) {
    return ((c.*Section).*Member);
}

// The same one level deeper: Config::*Section.*Sub.*Member.
template <auto Section, auto Sub, auto Member>
decltype(auto) nested_member(Config& c) {
    return (((c.*Section).*Sub).*Member);
}

constexpr KeyDescriptor count_key(std::string_view section, std::string_view key,
                                  unsigned& (*get)(Config&), std::int64_t min, std::int64_t max,
                                  std::string_view doc) {
    return {section, key, get, min, max, nullptr, doc};
}

constexpr KeyDescriptor seconds_key(std::string_view section, std::string_view key,
                                    std::chrono::seconds& (*get)(Config&), std::int64_t min,
                                    std::int64_t max, std::string_view doc) {
    return {section, key, get, min, max, nullptr, doc};
}

constexpr KeyDescriptor bool_key(std::string_view section, std::string_view key,
                                 bool& (*get)(Config&), std::string_view doc) {
    return {section, key, get, 0, 0, nullptr, doc};
}

constexpr KeyDescriptor string_key(std::string_view section, std::string_view key,
                                   std::string& (*get)(Config&), KeyDescriptor::StringCheck check,
                                   std::string_view doc) {
    return {section, key, get, 0, 0, check, doc};
}

constexpr KeyDescriptor list_key(std::string_view section, std::string_view key,
                                 std::vector<std::string>& (*get)(Config&),
                                 KeyDescriptor::StringCheck check, std::string_view doc) {
    return {section, key, get, 0, 0, check, doc};
}

// A display-server template: a whole list, so that argv[0] is known.
constexpr KeyDescriptor template_key(std::string_view section, std::string_view key,
                                     std::vector<std::string>& (*get)(Config&),
                                     KeyDescriptor::ListCheck list_check, std::string_view doc) {
    return {section, key, get, 0, 0, nullptr, doc, list_check};
}

using M = Manager;
using G = Gateway;
using T = Throttle;
using A = Access;
using S = Session;

constexpr std::array schema_rows = {
    // [manager]
    seconds_key("manager", "idle_exit_sec", &member<&Config::manager, &M::idle_exit_sec>, 0, 86400,
                "seconds without sessions, connections or work before the manager exits; 0 = never"),
    // [gateway]
    seconds_key("gateway", "login_timeout", &member<&Config::gateway, &G::login_timeout>, 1, 3600,
                "seconds a connection may take to log in"),
    count_key("gateway", "max_login_attempts", &member<&Config::gateway, &G::max_login_attempts>,
              0, 100, "failed logins per connection before it is closed; 0 = no limit"),
    count_key("gateway", "max_connections", &member<&Config::gateway, &G::max_connections>, 1,
              65536, "open gateway connections at once; more are closed at once"),
    count_key("gateway", "max_unauthenticated",
              &member<&Config::gateway, &G::max_unauthenticated>, 1, 65536,
              "connections not yet logged in; beyond this one of the peer holding most is dropped"),
    count_key("gateway", "max_connections_per_uid", &member<&Config::gateway, &G::max_connections_per_uid>, 1,
              65536, "connections one peer uid may hold at once (trusted gateways exempt)"),
    count_key("gateway", "max_logins_per_uid", &member<&Config::gateway, &G::max_logins_per_uid>, 1, 1024,
              "logins running at once for one peer uid; more wait in line"),
    count_key("gateway", "max_logins_per_source", &member<&Config::gateway, &G::max_logins_per_source>, 1,
              1024, "logins running at once for one source; more wait in line"),
    count_key("gateway", "failure_delay_ms", &member<&Config::gateway, &G::failure_delay_ms>, 0, 60000,
              "milliseconds after its start a failed login is answered, never earlier"),
    list_key("gateway", "trusted_users", &member<&Config::gateway, &G::trusted_users>,
             protocol::validate_user_name, "users whose client address and host name claims are believed"),
    list_key("gateway", "trusted_groups", &member<&Config::gateway, &G::trusted_groups>,
             protocol::validate_group_name, "groups whose members' client claims are believed"),
    // [throttle]
    count_key("throttle", "max_failures", &member<&Config::throttle, &T::max_failures>, 0, 10000,
              "failed password logins per source and user within window before throttling; 0 disables"),
    count_key("throttle", "max_failures_per_source", &member<&Config::throttle, &T::max_failures_per_source>, 0,
              100000, "failed password logins per source, all users, within window; 0 = no such limit"),
    seconds_key("throttle", "window", &member<&Config::throttle, &T::window>, 1, 86400,
                "seconds over which failures are counted"),
    seconds_key("throttle", "lockout", &member<&Config::throttle, &T::lockout>, 1, 86400,
                "seconds a throttled source is refused"),
    // [access]
    bool_key("access", "allow_root", &member<&Config::access, &A::allow_root>,
             "whether uid 0 may log in"),
    list_key("access", "allowed_users", &member<&Config::access, &A::allowed_users>,
             protocol::validate_user_name, "user names allowed to log in; empty = any"),
    list_key("access", "denied_users", &member<&Config::access, &A::denied_users>,
             protocol::validate_user_name, "user names refused, whatever else matches"),
    list_key("access", "allowed_groups", &member<&Config::access, &A::allowed_groups>,
             protocol::validate_group_name, "groups whose members may log in; empty = any"),
    list_key("access", "denied_groups", &member<&Config::access, &A::denied_groups>,
             protocol::validate_group_name, "groups whose members are refused"),
    bool_key("access", "allow_peer_credentials", &member<&Config::access, &A::allow_peer_credentials>,
             "whether LoginWithCredentials (login by the peer's uid) is allowed"),
    list_key("access", "peer_credential_groups", &member<&Config::access, &A::peer_credential_groups>,
             protocol::validate_group_name, "if not empty, only members may log in by peer credentials"),
    bool_key("access", "allow_system_accounts", &member<&Config::access, &A::allow_system_accounts>,
             "whether accounts below UID_MIN of /etc/login.defs may log in"),
    bool_key("access", "allow_any_shell", &member<&Config::access, &A::allow_any_shell>,
             "whether accounts whose shell is not in /etc/shells may log in"),
    // [pam]
    string_key("pam", "service", &member<&Config::pam, &Pam::service>, check_pam_service,
               "PAM service name (/etc/pam.d/<service>)"),
    // [session]
    string_key("session", "default_type", &member<&Config::session, &S::default_type>, check_display_type,
               "display type of a session when the request names none"),
    string_key("session", "reconnect_policy", &member<&Config::session, &S::reconnect_policy>,
               check_reconnect_policy, "which existing session a request reconnects to (U, B, D, I, C letters)"),
    count_key("session", "max_sessions", &member<&Config::session, &S::max_sessions>, 0, max_sessions_ceiling,
              "sessions of all users at once; 0 = as many as the manager's fd store keeps"),
    count_key("session", "max_sessions_per_user", &member<&Config::session, &S::max_sessions_per_user>, 0,
              100000, "sessions of one user at once; 0 = no limit"),
    seconds_key("session", "startup_timeout", &member<&Config::session, &S::startup_timeout>, 1, 600,
                "seconds the display server has to become ready"),
    seconds_key("session", "disconnected_timeout", &member<&Config::session, &S::disconnected_timeout>, 0,
                31536000, "seconds after which a disconnected session is ended; 0 = never"),
    seconds_key("session", "idle_timeout", &member<&Config::session, &S::idle_timeout>, 0, 31536000,
                "seconds without activity after which a connected session is disconnected; 0 = never"),
    seconds_key("session", "max_lifetime", &member<&Config::session, &S::max_lifetime>, 0, 31536000,
                "seconds after which any session is ended; 0 = never"),
    string_key("session", "start_script", &member<&Config::session, &S::start_script>, check_absolute_path,
               "session program when the request names no desktop"),
    string_key("session", "reconnect_script", &member<&Config::session, &S::reconnect_script>,
               check_optional_absolute_path, "program run in the session on every reconnect; \"\" = none"),
    string_key("session", "slice", &member<&Config::session, &S::slice>, check_slice,
               "slice unit the session scopes are placed in"),
    string_key("session", "memory_max", &member<&Config::session, &S::memory_max>, check_memory_max,
               "MemoryMax= of each session scope; \"\" = unset"),
    count_key("session", "tasks_max", &member<&Config::session, &S::tasks_max>, 0, 4194304,
              "TasksMax= of each session scope; 0 = unset"),
    count_key("session", "cpu_weight", &member<&Config::session, &S::cpu_weight>, 0, 10000,
              "CPUWeight= of each session scope; 0 = unset"),
    count_key("session", "display_first", &member<&Config::session, &S::display_first>, 0, 65535,
              "lowest X display number rsm hands out"),
    count_key("session", "display_last", &member<&Config::session, &S::display_last>, 0, 65535,
              "highest X display number rsm hands out"),
    // [display.*]
    template_key("display.xvnc", "argv", &nested_member<&Config::display, &Displays::xvnc, &Display::argv>,
                 check_display_template, "Xvnc command line template"),
    template_key("display.xvfb", "argv", &nested_member<&Config::display, &Displays::xvfb, &Display::argv>,
                 check_display_template, "Xvfb command line template"),
    template_key("display.xorg", "argv", &nested_member<&Config::display, &Displays::xorg, &Display::argv>,
                 check_display_template, "Xorg (xorgxrdp) command line template"),
    list_key("display.xvnc", "environment", &nested_member<&Config::display, &Displays::xvnc, &Display::environment>,
             check_environment_entry, "NAME=value entries added to Xvnc's environment"),
    list_key("display.xvfb", "environment", &nested_member<&Config::display, &Displays::xvfb, &Display::environment>,
             check_environment_entry, "NAME=value entries added to Xvfb's environment"),
    list_key("display.xorg", "environment", &nested_member<&Config::display, &Displays::xorg, &Display::environment>,
             check_environment_entry, "NAME=value entries added to Xorg's environment"),
    string_key("display.xvnc", "client_socket",
               &nested_member<&Config::display, &Displays::xvnc, &Display::client_socket>, check_ready_socket,
               "socket the server accepts its gateway on; the session is disconnected when that goes; \"\" = unused"),
    string_key("display.xvfb", "client_socket",
               &nested_member<&Config::display, &Displays::xvfb, &Display::client_socket>, check_ready_socket,
               "socket the server accepts its gateway on; the session is disconnected when that goes; \"\" = unused"),
    string_key("display.xorg", "client_socket",
               &nested_member<&Config::display, &Displays::xorg, &Display::client_socket>, check_ready_socket,
               "socket the server accepts its gateway on; the session is disconnected when that goes; \"\" = unused"),
    // [display.nxagent]
    template_key("display.nxagent", "argv", &nested_member<&Config::display, &Displays::nxagent, &Display::argv>,
                 check_display_template, "nxagent command line template"),
    list_key("display.nxagent", "environment",
             &nested_member<&Config::display, &Displays::nxagent, &Display::environment>, check_environment_entry,
             "NAME=value entries added to nxagent's environment"),
    string_key("display.nxagent", "ready_line",
               &nested_member<&Config::display, &Displays::nxagent, &Display::ready_line>, check_output_line,
               "stderr text that marks nxagent ready; \"\" = the display number on fd 3"),
    string_key("display.nxagent", "suspend_line",
               &nested_member<&Config::display, &Displays::nxagent, &Display::suspend_line>, check_output_line,
               "stderr text saying nxagent suspended itself; answered with SIGHUP (listen again); \"\" = none"),
    string_key("display.nxagent", "resume_line",
               &nested_member<&Config::display, &Displays::nxagent, &Display::resume_line>, check_output_line,
               "stderr text saying nxagent acts on the SIGHUP; it is repeated until then; \"\" = one SIGHUP"),
    string_key("display.nxagent", "start_line",
               &nested_member<&Config::display, &Displays::nxagent, &Display::start_line>, check_output_line,
               "stderr text after which nxagent takes X clients: the session program starts then; \"\" = at ready"),
    string_key("display.nxagent", "nx_options",
               &nested_member<&Config::display, &Displays::nxagent, &Display::nx_options>, check_nx_options,
               "options of nxagent's NX display string besides rsm's listen, loopback, accept and cookie"),
    // [display.xpra], [display.xpra-desktop]
    template_key("display.xpra", "argv", &nested_member<&Config::display, &Displays::xpra, &Display::argv>,
                 check_display_template, "xpra (seamless) command line template"),
    list_key("display.xpra", "environment", &nested_member<&Config::display, &Displays::xpra, &Display::environment>,
             check_environment_entry, "NAME=value entries added to xpra's environment"),
    template_key("display.xpra-desktop", "argv",
                 &nested_member<&Config::display, &Displays::xpra_desktop, &Display::argv>, check_display_template,
                 "xpra start-desktop command line template"),
    list_key("display.xpra-desktop", "environment",
             &nested_member<&Config::display, &Displays::xpra_desktop, &Display::environment>,
             check_environment_entry, "NAME=value entries added to xpra start-desktop's environment"),
    // [companion.*]
    template_key("companion.chansrv", "argv",
                 &nested_member<&Config::companion, &Companions::chansrv, &Companion::argv>,
                 check_companion_template, "xrdp-chansrv command line template; [] = disabled"),
    list_key("companion.chansrv", "environment",
             &nested_member<&Config::companion, &Companions::chansrv, &Companion::environment>,
             check_environment_entry, "NAME=value entries added to chansrv's environment"),
    string_key("companion.chansrv", "ready_socket",
               &nested_member<&Config::companion, &Companions::chansrv, &Companion::ready_socket>,
               check_ready_socket, "socket chansrv listens on when ready; \"\" = do not wait"),
    seconds_key("companion.chansrv", "ready_timeout",
                &nested_member<&Config::companion, &Companions::chansrv, &Companion::ready_timeout>, 1, 600,
                "seconds the session waits for chansrv's socket before it is reported ready anyway"),
    // [shadow]
    bool_key("shadow", "allow_other_users", &member<&Config::shadow, &Shadow::allow_other_users>,
             "whether users may ask to shadow other users' sessions (the owner is asked)"),
    template_key("shadow", "consent_argv", &member<&Config::shadow, &Shadow::consent_argv>,
                 check_display_template, "the owner's consent dialog; exit status 0 = consent"),
    seconds_key("shadow", "consent_timeout", &member<&Config::shadow, &Shadow::consent_timeout>, 1, 600,
                "seconds the owner has to answer; no answer = refused"),
    template_key("shadow", "argv", &member<&Config::shadow, &Shadow::argv>, check_display_template,
                 "the shadowing nxagent's command line template"),
    string_key("shadow", "nx_options", &member<&Config::shadow, &Shadow::nx_options>, check_nx_options,
               "options of the shadowing nxagent's NX display string besides rsm's"),
    string_key("shadow", "ready_line", &member<&Config::shadow, &Shadow::ready_line>, check_output_line,
               "stderr text that marks the shadowing nxagent ready"),
};

}  // namespace

std::span<const KeyDescriptor> schema() { return schema_rows; }

}  // namespace rsm::config
