// Session ids: 128 random bits (sd_id128_randomize) as 32 lower-case hex digits.
#pragma once

#include <string>
#include <string_view>

namespace rsm::session {

std::string new_session_id();
// Exactly 32 characters of [0-9a-f].
bool valid_session_id(std::string_view id) noexcept;

// The transient scope a session's executor runs in: "rsm-session-<id>.scope".
std::string scope_unit_name(std::string_view id);

}  // namespace rsm::session
