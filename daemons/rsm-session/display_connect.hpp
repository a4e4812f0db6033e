// A connection to the session's display server, as ConnectSession hands it
// to the gateway. The socket's path is one the user controls (Xvnc's socket
// in the user's socket directory, /tmp/.X11-unix/X<n>): the user can put a
// symlink there to any socket on the system, or a listener of their own. So
// the executor (root) never connects with its own identity, and checks what
// it connected to:
//
// - connect_as_user() makes the connection with the user's uid and gid as
//   effective ids and no supplementary groups (setresgid/setgroups/setresuid
//   around socket()+connect(), put back right after): path lookup and the
//   socket's permission are checked as the user, and the server side records
//   the user in SO_PEERCRED (the credentials at connect time). A symlink to
//   /run/dbus/system_bus_socket yields at most the user's own bus
//   connection, /run/rsm/executor.sock and /run/systemd/private refuse it.
// - check_display_peer() then requires the peer (SO_PEERCRED of the server
//   side's listener) to be the display server the session leader started:
//   its pid and the user's uid. Anything else is closed, and the caller
//   fails ConnectSession.
//
// Why a temporary switch of the effective ids and not a fork: the executor is
// single-threaded (sd-event, no threads; glibc applies set*id to all threads
// anyway), real and saved uid stay 0 so the switch back always works, and
// while the effective uid is the user's no process of the user may signal or
// ptrace the executor (both check the target's real/saved uid, and the
// kernel makes the process non-dumpable). A fork would cost a process and a
// wait in the loop for every ConnectSession and a second child beside the
// leader. Nothing else runs in between: no callback, no allocation that
// could fail half-way without the ids being restored (a failure to restore
// aborts the executor rather than run on with the user's ids).
#pragma once

#include <string>
#include <sys/types.h>

#include "util/fd.hpp"

namespace rsm::session {

// A new, non-blocking connection to the UNIX stream socket at `path`, made
// with the user's effective ids. Throws std::system_error (connect's errno;
// ECONNREFUSED, EACCES, ENOENT, EAGAIN for a full backlog).
UniqueFd connect_as_user(const std::string& path, uid_t uid, gid_t gid);

// Empty when the peer of `fd` (SO_PEERCRED) is process `pid` running as
// `uid`, else why not ("peer is pid 1 uid 0, expected pid 4711 uid 1000").
std::string check_display_peer(int fd, pid_t pid, uid_t uid);

}  // namespace rsm::session
