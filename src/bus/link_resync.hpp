// Resynchronising an executor link after the manager died.
//
// The manager keeps every executor link in systemd's fd store, so a link
// survives `kill -9` of the manager; but the D-Bus connection on it does not:
// the new manager cannot resume the old SASL state, and the socket may still
// hold bytes of messages the dead manager never read. So the two sides start a
// fresh D-Bus connection on the same socket:
//
//   executor: notices the manager's death (a pidfd of the manager becomes
//             readable), drops its sd-bus connection (keeping the socket),
//             drains whatever the old manager sent, writes the marker, then
//             starts a new client connection (SASL from scratch) on the socket.
//   manager:  takes the fd back from the store and calls skip_to_marker(),
//             which discards everything up to and including the marker, then
//             starts a server connection on it as usual.
//
// The marker is a fixed byte string that cannot start a D-Bus message (which
// begins with 'l' or 'B') and is long enough not to occur inside one by chance.
#pragma once

#include <chrono>
#include <string_view>

namespace rsm::bus {

inline constexpr std::string_view link_resync_marker = "\n\x01RSM-LINK-RESYNC-3b9f0c27d8e4a615\x01\n";

// Reads and discards everything the socket has until the buffer is empty
// (non-blocking reads until EAGAIN; the fd's O_NONBLOCK flag is left as it was).
// Returns the number of bytes dropped, or -errno (EOF gives -ECONNRESET).
long drain_socket(int fd);

// Writes the marker completely (blocking, with `timeout`). Returns 0 or -errno.
int write_resync_marker(int fd, std::chrono::milliseconds timeout);

// Discards bytes from `fd` until the marker has been read, waiting at most
// `timeout` in total. Never consumes a byte after the marker (it peeks, then
// reads exactly up to the marker's end). Returns 0, -ETIMEDOUT, -ECONNRESET
// on EOF, or another -errno.
int skip_to_resync_marker(int fd, std::chrono::milliseconds timeout);

}  // namespace rsm::bus
