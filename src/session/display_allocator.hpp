// X display numbers for new sessions, without races: the manager (one thread)
// hands out numbers it does not already use, skipping any the system shows as
// taken. If the display server still finds the number taken (a server outside
// rsm started in between), the session fails with that server's error and the
// number stays reserved until release().
//
// What "taken" means, without opening anything a user can plant (the rule in
// docs/design-notes.md, "Paths a user can influence"): a socket listening on
// /tmp/.X11-unix/X<n> or the abstract @/tmp/.X11-unix/X<n>, as the kernel
// lists it in /proc/net/unix, or anything at all at /tmp/.X11-unix/X<n>
// (lstat, never open: it may be a FIFO or a symlink). Lock files
// (/tmp/.X<n>-lock) play no part: the servers rsm starts take -displayfd and
// create none here, and a root process must not open what any user can put
// in /tmp.
//
// Display types of the nx protocol (nxagent) also need TCP port
// nx_port_base + n (session/nx_display.hpp) on 127.0.0.1: the manager passes
// nx_port_in_use to allocate() for them, so that a foreign listener there
// makes it skip n instead of nxagent failing to start.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace rsm::session {

// The display numbers with a listening socket (flag __SO_ACCEPTCON) named
// /tmp/.X11-unix/X<n> or @/tmp/.X11-unix/X<n> in a /proc/net/unix text.
// Other sockets, other names and malformed lines are ignored.
std::set<unsigned> x_displays_listening(std::string_view proc_net_unix);
// The same from the running system's /proc/net/unix (empty if unreadable).
std::set<unsigned> x_displays_listening();

// True when display n is taken: listening per /proc/net/unix, or
// /tmp/.X11-unix/X<n> exists in any form (a dangling symlink counts) or cannot
// be checked (say, EACCES), so doubt means taken.
bool x_display_in_use(unsigned n);
// The parts of it, for tests: an entry under tmp_dir/.X11-unix, or n in
// `listening`.
bool x_display_in_use_under(const std::string& tmp_dir, unsigned n, const std::set<unsigned>& listening = {});

// An X server killed outright leaves its socket file /tmp/.X11-unix/X<n>
// behind, and the number would stay "in use" until reboot. Removes it when it
// is stale: a socket (not followed: fstatat AT_SYMLINK_NOFOLLOW on an
// O_NOFOLLOW directory fd, then unlinkat) owned by `owner` (the session's
// user, as whom the server ran) that nobody listens on (per /proc/net/unix:
// rsm never connects to it). Anything else, a live listener, another owner,
// another file type, or a /tmp/.X11-unix not owned by root, is left alone.
// Returns true if it removed the socket.
bool remove_stale_x_display(unsigned n, uid_t owner);
bool remove_stale_x_display_under(const std::string& tmp_dir, unsigned n, uid_t owner,
                                  const std::set<unsigned>& listening, std::optional<uid_t> dir_owner);

// True when 127.0.0.1:`port` cannot be bound now: a listener (on 127.0.0.1
// or a wildcard address), any other socket holding the port, or any other
// failure of the test (doubt means taken). The test socket is closed before
// this returns: it never holds the port against the server that binds it
// next (and, never connected, it leaves no TIME_WAIT behind).
bool loopback_port_in_use(unsigned port);
// Display n's NX port (nx_port_base + n) in use per loopback_port_in_use.
// False for numbers without a port (> 65535 - nx_port_base): the session
// start refuses those with its own error.
bool nx_port_in_use(unsigned n);

class DisplayAllocator {
public:
    using Probe = std::function<bool(unsigned)>;
    // Numbers first..last inclusive. Throws std::invalid_argument if first > last.
    // An empty probe means nothing outside this allocator takes numbers.
    DisplayAllocator(unsigned first, unsigned last, Probe probe = x_display_in_use);

    // Lowest number in range that is neither reserved here nor taken per probe
    // nor per `also_taken` (a display type's own needs, e.g. nx_port_in_use);
    // it is reserved. nullopt when none is left.
    std::optional<unsigned> allocate(const Probe& also_taken = {});
    // A new range for the numbers handed out from now on (a configuration
    // reload); numbers in use stay reserved wherever they are, until
    // released. Throws std::invalid_argument if first > last.
    void set_range(unsigned first, unsigned last);
    // Marks n as used (a recovered session); numbers outside the range are kept too.
    void reserve(unsigned n);
    void release(unsigned n);
    bool reserved(unsigned n) const { return used_.count(n) != 0; }
    std::size_t size() const { return used_.size(); }

private:
    unsigned first_ = 0, last_ = 0;
    Probe probe_;
    std::set<unsigned> used_;
};

}  // namespace rsm::session
