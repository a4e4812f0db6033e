// Validation of untrusted input: everything a gateway (or an admin, through
// rsm.toml) hands us that later ends up in PAM, a passwd lookup, a log line
// or a session record.
//
// One convention throughout: a validator returns std::nullopt when the input
// is acceptable, else a short English text saying what is wrong with it
// (without repeating the value for secrets). Callers prefix the argument name
// and turn it into org.rsm.Error.InvalidArgument or a config error. A
// validator that also normalises its input writes the normal form to an
// out-parameter, and only on success.
//
// The limits are those documented in dbus/org.rsm.Gateway1.xml.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace rsm::protocol {

// nullopt = valid; otherwise the reason the value was refused.
using ValidationError = std::optional<std::string>;

inline constexpr std::size_t max_user_name_length = 32;
inline constexpr std::size_t max_group_name_length = 256;
inline constexpr std::size_t max_secret_bytes = 512;  // passwords and PAM answers
inline constexpr std::size_t max_host_name_length = 253;
inline constexpr std::size_t max_gateway_name_length = 64;

// A login name: 1-32 characters of [a-zA-Z0-9._-], optionally ending in '$'
// (Samba machine accounts), not starting with '-' (it would read as an
// option to tools we hand it to), not all digits (it would read as a uid),
// not "." or "..".
ValidationError validate_user_name(std::string_view name);

// A group name as it may appear in rsm.toml. More liberal than user names
// because directory services (sssd, winbind) produce names like
// "domain users": 1-256 bytes of valid UTF-8, no control characters, no ':'
// (the group(5) field separator), not starting with '-'.
ValidationError validate_group_name(std::string_view name);

// A password: at most 512 bytes of valid UTF-8 without NUL. May be empty
// (PAM decides whether empty passwords are acceptable).
ValidationError validate_password(std::string_view password);

// One answer to a PAM prompt: the same limits as a password.
ValidationError validate_answer(std::string_view answer);

// An IPv4 or IPv6 literal (no port, no brackets, no zone). On success writes
// inet_ntop's canonical form, so "::FFFF:10.0.0.1" and "::ffff:10.0.0.1"
// throttle as one source.
ValidationError canonicalize_address(std::string_view address, std::string& canonical);

// A client host name: 1-253 characters of letters, digits, '-', '_', '.'.
ValidationError validate_host_name(std::string_view host_name);

// A gateway's name: 1-64 printable ASCII characters (0x20-0x7e).
ValidationError validate_gateway_name(std::string_view gateway);

// The client dictionary of LoginWithPassword and BeginLogin. Every key is
// optional; absent keys leave the field empty.
struct ClientInfo {
    std::string address;    // canonical IP literal, "" if not given
    std::string host_name;  // "" if not given
    std::string gateway;    // "" if not given

    bool operator==(const ClientInfo&) const = default;
};

// The client dictionary after its variants have been unpacked to strings.
using ClientInfoMap = std::map<std::string, std::string, std::less<>>;

// Validates every entry of the dictionary and fills `out` on success. The
// error names the offending key; unknown keys are refused, so that a gateway
// that misspells "address" finds out instead of silently losing throttling.
ValidationError client_info_from_map(const ClientInfoMap& entries, ClientInfo& out);

// Quotes a string from an untrusted peer for an error message or a log line:
// at most 64 bytes, non-printable and non-ASCII bytes as \xNN, in single
// quotes, "..." appended when cut.
std::string quote_untrusted(std::string_view text);

}  // namespace rsm::protocol
