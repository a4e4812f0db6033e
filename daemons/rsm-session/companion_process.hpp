// Readiness of a session's companions (session/companion.hpp), as the
// (root) session leader sees it without touching the socket's path.
//
// A companion's ready socket usually lives in a directory every user can
// write to (xrdp's /run/xrdp/sockdir is 1777/3777): root must not stat,
// connect to, follow or remove anything there, since anybody can plant a
// file or symlink under that name. So the leader asks the kernel instead:
// the companion is ready once *its own process* holds a listening unix
// socket bound to that path. /proc/net/unix lists the listening sockets
// (flag __SO_ACCEPTCON) of the network namespace with their bound path and
// inode; /proc/<pid>/fd says which inodes the companion holds. A socket
// somebody else bound at that path (a squatter, a stale server) does not
// count, and nothing ever connects to the companion (chansrv serves exactly
// one connection: a probe would cost xrdp its turn).
#pragma once

#include <string>
#include <sys/types.h>

namespace rsm::session::companion {

// True if process `pid` holds a unix socket that listens on `path` (the
// exact bound name). False on any error (the process is gone, /proc is
// unreadable). Reads only procfs.
bool listens_on(pid_t pid, const std::string& path) noexcept;

}  // namespace rsm::session::companion
