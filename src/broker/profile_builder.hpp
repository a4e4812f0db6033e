// Builds session profiles from the keys of a profile source, whatever its
// format: X2Go's INI file (profiles_ini.cpp) and rsm-broker's TOML
// [profiles.<id>] tables (daemons/rsm-broker/broker_config.cpp) both hand
// over sections of key = value text, each entry saying where it was
// written, and get x2gobroker's semantics from one place: the built-in
// defaults, [DEFAULT] inherited, typed values, "not-set", ACL keys, hosts.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/profiles.hpp"
#include "util/ascii.hpp"

namespace rsm::broker {

// One key as written. `value` is in the INI's text form (booleans as
// true/false/yes/no/1/0, lists joined with ','); `where` is "FILE:LINE".
struct SourceEntry {
    std::string key;  // lower case
    std::string value;
    std::string where;
};

// A section: a profile, or "DEFAULT" (inherited by every profile of the same source).
struct SourceSection {
    std::string id;
    std::string where;  // of its header
    std::vector<SourceEntry> entries;
};

struct ProfilesResult {
    std::optional<ProfileSet> set;
    std::string error;  // "<file>:<line>: [<section>] <key>: <what is wrong>"
};

// The profiles of one source, sorted by id. The first error ends the build.
ProfilesResult build_profiles(const std::vector<SourceSection>& sections);

// Joins two sources' profiles; a profile id in both is an error naming both.
ProfilesResult merge_profiles(ProfileSet a, std::string_view a_source, ProfileSet b, std::string_view b_source);

// The INI reading both sources share: blanks (space, tab, CR) trimmed at
// both ends; ASCII lower case (configparser's key folding).
std::string_view trim_blanks(std::string_view s);
using util::ascii_lower;  // util/ascii.hpp

// "name", "name (10.0.0.2)", "name (10.0.0.2:2222)", "name ([2001:db8::1]:22)".
std::optional<Host> parse_host_entry(std::string_view entry, std::uint16_t default_port);

}  // namespace rsm::broker
