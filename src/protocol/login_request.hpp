// The arguments of org.rsm.Executor1.Login, checked at the executor's edge
// (the manager checked them too; the executor does not rely on that).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace rsm::protocol {

// User names and passwords are checked with rsm::protocol's validators (the
// rules documented in org.rsm.Gateway1.xml), not here.

// How Login runs the PAM stack (see dbus/org.rsm.Executor1.xml).
enum class LoginMode { password, conversation, account };
const char* to_string(LoginMode m) noexcept;
std::optional<LoginMode> login_mode_from_string(std::string_view s) noexcept;

// Why the manager asks for an "account"-mode login (item "purpose").
enum class LoginPurpose {
    peer_credentials,  // "peer-credentials": Gateway1.LoginWithCredentials, needs access.allow_peer_credentials
    session,           // "session": a new session of a connection that logged in already (any kind)
};
const char* to_string(LoginPurpose p) noexcept;
std::optional<LoginPurpose> login_purpose_from_string(std::string_view s) noexcept;

// A file name in /etc/pam.d: 1-64 characters of [a-z0-9._-], not starting
// with '.' (no "..", no hidden files).
bool valid_service_name(std::string_view s) noexcept;

}  // namespace rsm::protocol
