// The Xauthority file the session leader writes for the user's X display: one
// MIT-MAGIC-COOKIE-1 entry for FamilyWild (any host), so the display server
// (-auth <file>) and every client in the session (XAUTHORITY=<file>) share
// a fresh cookie.
#pragma once

#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace rsm::session::xauth {

constexpr std::size_t cookie_size = 16;

// cookie_size bytes from getrandom(2). Throws std::system_error.
std::vector<std::uint8_t> new_cookie();

// One entry in Xauthority's binary format (all lengths big-endian uint16):
// family, address, display number (as a decimal string), auth name, auth data.
std::string encode_entry(unsigned display_number, const std::vector<std::uint8_t>& cookie);

// Lower-case hex, two digits a byte.
std::string to_hex(const std::vector<std::uint8_t>& bytes);
// Inverse of to_hex; false for an odd length or a character that is not a hex digit.
bool from_hex(const std::string& hex, std::vector<std::uint8_t>& out);

// Writes `path` (mode 0600, replacing an older file) with the user's
// filesystem identity (setfsuid/setfsgid), so the file belongs to the user
// and a symlink or a foreign directory can only do what the user could do
// anyway. Throws std::system_error naming the step.
void write_file(const std::string& path, uid_t uid, gid_t gid, unsigned display_number,
                const std::vector<std::uint8_t>& cookie);

// Removes `path` with the user's filesystem identity. Returns 0 or -errno
// (-ENOENT when it is already gone).
int remove_file(const std::string& path, uid_t uid, gid_t gid) noexcept;

}  // namespace rsm::session::xauth
