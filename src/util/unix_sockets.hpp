// The kernel's table of unix sockets (/proc/net/unix) and which of them a
// process holds (/proc/<pid>/fd), read without touching any socket's path.
//
// Root must not stat, connect to, follow or remove anything under a path in
// a world-writable directory (xrdp's /run/xrdp/sockdir is 1777/3777): anybody
// can plant a file or symlink there. The kernel's view cannot be planted: a
// socket counts only if the process asked about holds it. A socket accepted
// on a listening socket carries the listener's bound name, so "connections a
// server accepted on PATH" are the sockets named PATH that do not listen.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace rsm::unix_sockets {

struct Entry {
    unsigned long inode = 0;
    bool listening = false;  // flag __SO_ACCEPTCON
    bool connected = false;  // state SS_CONNECTED
    std::string path;        // bound name; "" for unbound sockets
};

// Parses the text of /proc/net/unix ("Num: RefCount Protocol Flags Type St
// Inode Path", the header line first). Lines that do not parse are
// skipped; only entries with a path are returned, abstract names included
// ('@' first).
std::vector<Entry> parse_table(std::string_view text);

// The running system's /proc/net/unix (of this network namespace) as text;
// "" if it cannot be read. A kernel file, not a path a user can influence.
std::string system_table_text();

// The socket inodes process `pid` holds (its fds that are "socket:[N]").
// Empty if the process is gone or /proc is unreadable.
std::set<unsigned long> held_by(pid_t pid);

// True if `pid` holds a socket listening on `path` (the exact bound name).
bool listens_on(pid_t pid, const std::string& path) noexcept;

// How many connections accepted on `path` process `pid` holds (0 on any
// error).
std::size_t accepted_on(pid_t pid, const std::string& path) noexcept;

}  // namespace rsm::unix_sockets
