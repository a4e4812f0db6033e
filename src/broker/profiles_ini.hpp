// Reads X2Go's own session profiles file (x2gobroker-sessionprofiles.conf,
// python configparser syntax) with GLib's GKeyFile, so a site moves from
// x2gobroker without rewriting it:
//   [DEFAULT]                    options every profile inherits
//   [profile-id]                 one profile
//   host=a,b (10.0.0.2:2222)     its X2Go servers, "name (address[:port])"
//   sshport=22                   the servers' SSH port
//   acl-users-allow=alice,ALL    ACL keys (acl.hpp)
//   broker-*                     broker-side options (read, not sent)
// Keys are case-insensitive (configparser lower-cases them), values are raw
// (no interpolation, as x2gobroker's RawConfigParser), "not-set" drops a
// key, ';' starts a comment like '#'. Every error names file, line and key.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "broker/profiles.hpp"

namespace rsm::broker {

struct ProfilesResult {
    std::optional<ProfileSet> set;
    std::string error;  // "<file>:<line>: [<section>] <key>: <what is wrong>"
};

ProfilesResult load_profiles_file(const std::string& path);
ProfilesResult parse_profiles(std::string_view text, std::string_view source);

// "name", "name (10.0.0.2)", "name (10.0.0.2:2222)", "name ([2001:db8::1]:22)".
std::optional<Host> parse_host_entry(std::string_view entry, std::uint16_t default_port);

}  // namespace rsm::broker
