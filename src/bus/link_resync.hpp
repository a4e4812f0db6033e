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
//   manager:  takes the fd back from the store and reads it with a
//             ResyncReader from its event loop, which discards everything up
//             to and including the marker, then starts a server connection on
//             it as usual.
//
// The marker is a fixed byte string that cannot start a D-Bus message (which
// begins with 'l' or 'B') and is long enough not to occur inside one by chance.
#pragma once

#include <chrono>
#include <cstddef>
#include <string_view>

namespace rsm::bus {

inline constexpr std::string_view link_resync_marker = "\n\x01RSM-LINK-RESYNC-3b9f0c27d8e4a615\x01\n";

// Reads and discards everything the socket has until the buffer is empty
// (non-blocking reads until EAGAIN; the fd's O_NONBLOCK flag is left as it was).
// Returns the number of bytes dropped, or -errno (EOF gives -ECONNRESET).
long drain_socket(int fd);

// Writes the marker completely (blocking, with `timeout`). Returns 0 or -errno.
int write_resync_marker(int fd, std::chrono::milliseconds timeout);

// The manager's side, incrementally: feed() reads what the socket holds now
// (never blocking, whatever the fd's O_NONBLOCK flag) and discards it up to
// and including the marker, keeping its place when the marker is split
// across reads. So the manager can wait for many links in its event loop at
// once, and a link that never sends its marker delays nobody else.
class ResyncReader {
public:
    // 1 once the marker has been consumed (feed() then reads nothing more),
    // 0 when the socket is empty before the marker (wait for POLLIN, call
    // again), -ECONNRESET on EOF, or another -errno. Never consumes a byte
    // after the marker (it peeks, then reads exactly up to the marker's end).
    // At most `budget` bytes are read per call, so one chatty link cannot
    // hold the loop either; 0 is returned when the budget is used up.
    // A link whose first read (before anything was consumed) starts with a
    // client's whole fresh "\0AUTH EXTERNAL <hex>\r\n" line counts as
    // resynchronised without a marker, nothing consumed: a previous manager
    // read the marker and died before it served the executor's new
    // connection. (Stale bytes are always followed by a marker.)
    int feed(int fd, std::size_t budget = 256 * 1024);
    bool done() const noexcept { return done_; }
    // Bytes consumed so far, the marker included (for logs and tests).
    std::size_t consumed() const noexcept { return consumed_; }

private:
    std::size_t matched_ = 0;  // marker bytes at the end of what was consumed so far
    std::size_t consumed_ = 0;
    bool done_ = false;
};

// Discards bytes from `fd` until the marker has been read, waiting at most
// `timeout` in total (a ResyncReader plus poll()). Returns 0, -ETIMEDOUT,
// -ECONNRESET on EOF, or another -errno. Blocks: for tools and tests; the
// manager uses ResyncReader from its event loop.
int skip_to_resync_marker(int fd, std::chrono::milliseconds timeout);

}  // namespace rsm::bus
