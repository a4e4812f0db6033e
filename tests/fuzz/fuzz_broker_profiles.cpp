// Fuzz target: X2Go's session profiles file as rsm-broker reads it
// (src/broker/profiles_ini.cpp: a line scanner in front of GLib's
// GKeyFile). Properties: no crash; exactly one of a profile set or an
// error naming the source; every accepted profile has a valid SSH port,
// as many host names as hosts (none when host=not-set), and renders as plain text and JSON.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "broker/profiles_ini.hpp"
#include "broker/replies.hpp"
#include "fuzz_check.hpp"

using namespace rsm::broker;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto r = parse_profiles(text, "fuzz.conf");
    FUZZ_CHECK(r.set.has_value() != !r.error.empty());
    if (!r.set) {
        FUZZ_CHECK(r.error.starts_with("fuzz.conf"));
        return 0;
    }
    for (const auto& p : r.set->profiles) {
        FUZZ_CHECK(p.sshport >= 1);
        const auto host = p.options.find("host");
        FUZZ_CHECK((host == p.options.end() ? 0 : host->second.list.size()) == p.hosts.size());
        FUZZ_CHECK(r.set->find(p.id) == &p);
    }
    const auto visible = visible_profiles(*r.set, "alice", {"staff"}, "10.0.0.1");
    (void)plain_list(std::nullopt, visible);
    (void)json_list(std::string("x"), visible);
    return 0;
}
