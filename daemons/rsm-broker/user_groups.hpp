// The groups x2gobroker's group ACLs look at: the user's supplementary
// groups by name (x2gobroker's ignore-primary-group-memberships=true
// default leaves the primary group out). NSS lookups, after authentication.
#pragma once

#include <string>
#include <vector>

namespace rsm::broker {

std::vector<std::string> user_groups(const std::string& user);

}  // namespace rsm::broker
