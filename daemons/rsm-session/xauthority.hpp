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

// Lower-case hex, two digits a byte.
std::string to_hex(const std::vector<std::uint8_t>& bytes);
// Inverse of to_hex; false for an odd length or a character that is not a hex digit.
bool from_hex(const std::string& hex, std::vector<std::uint8_t>& out);

// Writes `path` (a new file, mode 0600) holding one entry, with libXau's
// XauWriteAuth. Runs with the user's filesystem identity (setfsuid/setfsgid),
// so the file belongs to the user and every check is the user's own; and
// whatever the user planted at `path` (a FIFO, a symlink to /etc/shadow, a
// file of someone else) is unlinked, never opened or followed
// (safe::create_fresh): nothing there can block or redirect the root leader.
// Throws std::system_error naming the step.
void write_file(const std::string& path, uid_t uid, gid_t gid, unsigned display_number,
                const std::vector<std::uint8_t>& cookie);

// The same with several entries (a shadowing nxagent's file: its own
// display's cookie and the shadowed session's).
struct Entry {
    unsigned display;
    std::vector<std::uint8_t> cookie;
};
void write_file(const std::string& path, uid_t uid, gid_t gid, const std::vector<Entry>& entries);

// Writes `text` to `path` the same way (a new file of the user's, 0600,
// nothing planted there followed): nxagent's options file, which holds the
// cookie. Throws std::system_error naming the step.
void write_user_file(const std::string& path, uid_t uid, gid_t gid, const std::string& text);

// Removes `path` (whatever it is, never followed) through its directory, with
// the user's filesystem identity. Returns 0 or -errno (-ENOENT when it is
// already gone).
int remove_file(const std::string& path, uid_t uid, gid_t gid) noexcept;

}  // namespace rsm::session::xauth
