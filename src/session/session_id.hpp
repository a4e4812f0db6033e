// Session ids: 128 random bits (sd_id128_randomize) as 32 lower-case hex digits.
#pragma once

#include <string>
#include <string_view>

namespace rsm::session {

std::string new_session_id();
// Exactly 32 characters of [0-9a-f].
bool valid_session_id(std::string_view id) noexcept;

}  // namespace rsm::session
