// Per-user socket directories, /run/rsm/user/<uid>: mode 0700, owned by the
// user. Gateways put their sockets there (Gateway1.CreateSockdir) and so do
// sessions (Xvnc's RFB socket, the Xauthority file).
#pragma once

#include <string>
#include <sys/types.h>

#include "util/fd.hpp"
#include "util/log.hpp"

namespace rsm::manager {

// Creates runtime_dir/user/<uid> if needed and repairs owner and mode without
// following symlinks. Returns the path. Throws std::runtime_error saying what failed.
std::string ensure_user_sockdir(const std::string& runtime_dir, uid_t uid);

// The existing runtime_dir/user/<uid>, opened O_DIRECTORY|O_NOFOLLOW (its
// parents are root's), for unlinkat/fstatat of what is in it; it must belong
// to `uid`. Empty when it is missing or anything else is found there. Never
// throws.
UniqueFd open_user_sockdir(const std::string& runtime_dir, uid_t uid) noexcept;

// What a session keeps in its user's socket directory: "Xauthority-<id>" and,
// for xvnc, Xvnc's RFB socket "vnc-<id>".
std::string xauthority_file_name(const std::string& session_id);
std::string vnc_socket_name(const std::string& session_id);
// For xpra and xpra-desktop, xpra's socket "xpra-<id>".
std::string xpra_socket_name(const std::string& session_id);
// For nxagent, its options file "nx-options-<id>" (the display string with the cookie).
std::string nx_options_file_name(const std::string& session_id);
// A shadowing nxagent's files (session_shadow.cpp), on its own display number.
std::string shadow_xauthority_file_name(const std::string& session_id, unsigned display);
std::string shadow_options_file_name(const std::string& session_id, unsigned display);

// Removes them for a session that is gone (also when its display server or
// executor crashed and left them), through the directory's fd (opened
// without following links) and unlinkat, which never follows or opens what
// the user put there. Failures other than "not there" are logged with `f`.
void remove_session_files(const std::string& runtime_dir, uid_t uid, const std::string& session_id,
                          const log::Fields& f);

}  // namespace rsm::manager
