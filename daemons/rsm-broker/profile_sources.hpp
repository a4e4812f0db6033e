// The broker's profiles from every source broker.toml names: X2Go's INI
// file ([broker] profiles, "" for none) and broker.toml's own
// [profiles.<id>] tables. A profile id in both is an error naming both.
#pragma once

#include <string_view>

#include "broker/profile_builder.hpp"
#include "broker_config.hpp"

namespace rsm::broker {

ProfilesResult load_profiles(const BrokerConfig& config, std::string_view config_path);

}  // namespace rsm::broker
