#include "profile_sources.hpp"

#include "broker/profiles_ini.hpp"

namespace rsm::broker {

ProfilesResult load_profiles(const BrokerConfig& config, std::string_view config_path) {
    ProfilesResult toml = build_profiles(config.toml_profiles);
    if (!toml.set || config.profiles.empty()) return toml;
    ProfilesResult ini = load_profiles_file(config.profiles);
    if (!ini.set) return ini;
    return merge_profiles(std::move(*ini.set), config.profiles, std::move(*toml.set), config_path);
}

}  // namespace rsm::broker
