// Session profiles as the broker offers them: the options a client shows
// and starts a session with, the X2Go servers behind a profile, its ACL.
// Read from X2Go's own x2gobroker-sessionprofiles.conf (profiles_ini.cpp);
// nothing here knows HTTP or the file format.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/acl.hpp"

namespace rsm::broker {

// Option types follow x2gobroker's defaults (x2gobroker/defaults.py,
// X2GOBROKER_SESSIONPROFILE_DEFAULTS): a key there has that type; any
// other key is text.
enum class ValueType { text, boolean, integer, list };

struct ProfileValue {
    ValueType type = ValueType::text;
    std::string text;
    bool boolean = false;
    long long integer = 0;
    std::vector<std::string> list;

    static ProfileValue of_text(std::string s) { return {ValueType::text, std::move(s), false, 0, {}}; }
    static ProfileValue of_bool(bool b) { return {ValueType::boolean, {}, b, 0, {}}; }
    static ProfileValue of_int(long long i) { return {ValueType::integer, {}, false, i, {}}; }
    static ProfileValue of_list(std::vector<std::string> l) { return {ValueType::list, {}, false, 0, std::move(l)}; }
    bool operator==(const ProfileValue&) const = default;
};
using ProfileOptions = std::map<std::string, ProfileValue, std::less<>>;

// One X2Go server of a profile: `host=name` or `host=name (address[:port])`.
struct Host {
    std::string name;     // what the client is told when no address is given
    std::string address;  // where to connect (== name unless given)
    std::uint16_t port = 22;
};

struct Profile {
    std::string id;          // the INI section name
    ProfileOptions options;  // what a client gets (defaults filled in); "host" = the host names
    std::vector<Host> hosts;
    std::uint16_t sshport = 22;
    Acl acl;
    // Broker autologin (broker-session-autologin, broker-authorized-keys):
    // unset = the broker's default ([autologin] in broker.toml).
    std::optional<bool> autologin;
    std::string authorized_keys;
};

struct ProfileSet {
    std::vector<Profile> profiles;  // sorted by id
    const Profile* find(std::string_view id) const;
};

// x2gobroker's defaults for every profile (before [DEFAULT] and the section).
const ProfileOptions& builtin_defaults();
// The type x2gobroker gives a key's value.
ValueType value_type_of(std::string_view key);

// The options sent to `user`: BROKER_USER in user= replaced by the user's
// name, a desktop session's command upper-cased with rootless=false, and
// for an autologin profile autologin=true and
// key=<will-be-exchanged-during-session-selection> (as x2gobroker's
// get_profile_for_user). `default_autologin`: the broker's default.
ProfileOptions options_for_user(const Profile& profile, std::string_view user, bool default_autologin = false);

// What one user may see: (id, options for that user), sorted by id.
using VisibleProfiles = std::vector<std::pair<std::string, ProfileOptions>>;
// The profiles whose ACL lets `user` (member of `groups`) in from `client_address`.
VisibleProfiles visible_profiles(const ProfileSet& set, std::string_view user, const std::vector<std::string>& groups,
                                 std::string_view client_address, bool default_autologin = false);

// Plain-text form of a value: booleans as 1/0, lists joined with ','.
std::string plain_value(const ProfileValue& v);

}  // namespace rsm::broker
