// Every bus name, object path, interface and error name rsm uses, in one
// place. The interface XML in dbus/ is the documentation of record; these
// constants must match it (tests/integration checks introspection).
#pragma once

namespace rsm::names {

// Gateway socket: peer-to-peer D-Bus on /run/rsm/gateway.sock.
inline constexpr const char* gateway_interface = "org.rsm.Gateway1";
inline constexpr const char* gateway_path = "/org/rsm/Gateway1";
// The name the gateway socket answers Hello with as "bus" name and accepts
// as a destination (clients such as gdbus pass --dest org.rsm.Gateway1).
inline constexpr const char* gateway_bus_name = "org.rsm.Gateway1";

// The private link between the manager and one rsm-session executor.
inline constexpr const char* executor_interface = "org.rsm.Executor1";
inline constexpr const char* executor_path = "/org/rsm/Executor1";
// The manager's side of that link (the executor calls back into it).
inline constexpr const char* executor_manager_interface = "org.rsm.Executor1.Manager";
inline constexpr const char* executor_manager_path = "/org/rsm/Executor1/Manager";

// The admin interface on the system bus (dbus/org.rsm.Manager1.xml,
// dbus/org.rsm.Session1.xml); session objects are
// <session_path_prefix>/<sd_bus_path_encode'd id>.
inline constexpr const char* manager_bus_name = "org.rsm.Manager1";
inline constexpr const char* manager_path = "/org/rsm/Manager1";
inline constexpr const char* manager_interface = "org.rsm.Manager1";
inline constexpr const char* session_interface = "org.rsm.Session1";
inline constexpr const char* session_path_prefix = "/org/rsm/Manager1/session";

// The bus-daemon interface the gateway socket emulates for Hello.
inline constexpr const char* dbus_interface = "org.freedesktop.DBus";
inline constexpr const char* dbus_path = "/org/freedesktop/DBus";

namespace error {
inline constexpr const char* failed = "org.rsm.Error.Failed";
inline constexpr const char* invalid_argument = "org.rsm.Error.InvalidArgument";
inline constexpr const char* not_authenticated = "org.rsm.Error.NotAuthenticated";
inline constexpr const char* already_authenticated = "org.rsm.Error.AlreadyAuthenticated";
inline constexpr const char* login_in_progress = "org.rsm.Error.LoginInProgress";
inline constexpr const char* no_login_in_progress = "org.rsm.Error.NoLoginInProgress";
inline constexpr const char* authentication_failed = "org.rsm.Error.AuthenticationFailed";
inline constexpr const char* conversation_required = "org.rsm.Error.ConversationRequired";
inline constexpr const char* login_denied = "org.rsm.Error.LoginDenied";
inline constexpr const char* account_unavailable = "org.rsm.Error.AccountUnavailable";
inline constexpr const char* password_expired = "org.rsm.Error.PasswordExpired";
inline constexpr const char* too_many_attempts = "org.rsm.Error.TooManyAttempts";
inline constexpr const char* throttled = "org.rsm.Error.Throttled";
inline constexpr const char* timed_out = "org.rsm.Error.TimedOut";
inline constexpr const char* no_such_user = "org.rsm.Error.NoSuchUser";
inline constexpr const char* no_such_session = "org.rsm.Error.NoSuchSession";
inline constexpr const char* session_not_ready = "org.rsm.Error.SessionNotReady";
inline constexpr const char* session_limit = "org.rsm.Error.SessionLimit";
inline constexpr const char* session_failed = "org.rsm.Error.SessionFailed";
// ConnectSession: the session's display server does not accept connections
// (yet): nothing listens on its port (nxagent between a client's loss and
// listening again) or the connect timed out. Worth trying again shortly.
inline constexpr const char* display_not_listening = "org.rsm.Error.DisplayNotListening";
inline constexpr const char* no_session_for_pid = "org.rsm.Error.NoSessionForPID";
// ShadowSession: the session's owner refused or did not answer.
inline constexpr const char* consent_refused = "org.rsm.Error.ConsentRefused";
}  // namespace error

// The control channel an executor hands a gateway on Connect (the seed's
// CCP): peer-to-peer D-Bus, the executor serves this object.
inline constexpr const char* session_control_interface = "org.rsm.SessionControl1";
inline constexpr const char* session_control_path = "/org/rsm/SessionControl1";

}  // namespace rsm::names
