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

#include "broker/profile_builder.hpp"

namespace rsm::broker {

ProfilesResult load_profiles_file(const std::string& path);
ProfilesResult parse_profiles(std::string_view text, std::string_view source);

}  // namespace rsm::broker
