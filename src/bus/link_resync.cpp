#include "bus/link_resync.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <poll.h>
#include <string_view>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace rsm::bus {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t marker_size = link_resync_marker.size();

// The failure function of the marker (Knuth-Morris-Pratt): for every prefix
// length, the length of its longest proper prefix that is also its suffix.
// It lets the scan keep its place when the marker is split across reads.
constexpr std::array<std::size_t, marker_size + 1> make_failure_table() {
    std::array<std::size_t, marker_size + 1> table{};
    std::size_t k = 0;
    for (std::size_t i = 1; i < marker_size; ++i) {
        while (k > 0 && link_resync_marker[i] != link_resync_marker[k]) k = table[k];
        if (link_resync_marker[i] == link_resync_marker[k]) ++k;
        table[i + 1] = k;
    }
    return table;
}
constexpr auto failure_table = make_failure_table();

// Advances the number of marker bytes matched so far by one input byte.
std::size_t advance(std::size_t matched, char c) {
    while (matched > 0 && link_resync_marker[matched] != c) matched = failure_table[matched];
    if (link_resync_marker[matched] == c) ++matched;
    return matched;
}

// Milliseconds left until `deadline` for poll(), rounded up so that a
// sub-millisecond remainder still waits; 0 once it has passed.
int remaining_ms(Clock::time_point deadline) {
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return 0;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    return ms > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(ms);
}

// Waits for `events` on fd until `deadline`. Returns 0 when ready, -ETIMEDOUT,
// or -errno. POLLHUP/POLLERR count as ready: the following read or write
// reports what happened.
int wait_for(int fd, short events, Clock::time_point deadline) {
    for (;;) {
        pollfd p{fd, events, 0};
        const int r = ::poll(&p, 1, remaining_ms(deadline));
        if (r > 0) return (p.revents & POLLNVAL) ? -EBADF : 0;
        if (r == 0) return -ETIMEDOUT;
        if (errno != EINTR) return -errno;
    }
}

// Room for the most fds one sendmsg() can pass (SCM_MAX_FD).
constexpr std::size_t max_passed_fds = 253;

// Reads (and so consumes) at most `len` bytes without blocking. File
// descriptors passed along with the bytes (a D-Bus message may carry some)
// are received and closed, so none leak into this process or linger in the
// kernel. Returns the byte count, 0 on EOF, or -errno (-EAGAIN when empty).
long consume(int fd, char* buf, std::size_t len) {
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * max_passed_fds)> control{};
    for (;;) {
        iovec iov{buf, len};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.data();
        msg.msg_controllen = control.size();
        const ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            const unsigned char* data = CMSG_DATA(c);
            for (std::size_t i = 0; i < count; ++i) {
                int passed;
                std::memcpy(&passed, data + i * sizeof(int), sizeof(int));
                ::close(passed);
            }
        }
        return n;
    }
}

// Consumes exactly `len` bytes that a peek has shown to be there.
int consume_exactly(int fd, char* buf, std::size_t len) {
    while (len > 0) {
        const long n = consume(fd, buf, len);
        if (n == 0) return -ECONNRESET;
        if (n < 0) return static_cast<int>(n);
        len -= static_cast<std::size_t>(n);
    }
    return 0;
}

constexpr std::size_t chunk_size = 64 * 1024;

}  // namespace

long drain_socket(int fd) {
    std::vector<char> buf(chunk_size);
    long total = 0;
    for (;;) {
        const long n = consume(fd, buf.data(), buf.size());
        if (n == -EAGAIN || n == -EWOULDBLOCK) return total;
        if (n == 0) return -ECONNRESET;
        if (n < 0) return n;
        total += n;
    }
}

int write_resync_marker(int fd, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::size_t sent = 0;
    while (sent < marker_size) {
        const ssize_t n =
            ::send(fd, link_resync_marker.data() + sent, marker_size - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
        if (const int r = wait_for(fd, POLLOUT, deadline); r < 0) return r;
    }
    return 0;
}

namespace {

// What a client's fresh connection starts with: "\0AUTH EXTERNAL <hex uid>\r\n".
// sd-bus writes its whole handshake with one sendmsg(), so a reader of the
// UNIX stream socket sees the line whole or not at all.
constexpr std::string_view fresh_auth = std::string_view("\0AUTH EXTERNAL ", 15);

// Whether `data` starts with a whole fresh AUTH line.
bool fresh_handshake(std::string_view data) {
    if (!data.starts_with(fresh_auth)) return false;
    for (std::size_t i = fresh_auth.size(); i < data.size() && i <= fresh_auth.size() + 32; ++i) {
        const char c = data[i];
        if (c == '\r') return i > fresh_auth.size() && i + 1 < data.size() && data[i + 1] == '\n';
        if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    }
    return false;
}

}  // namespace

int ResyncReader::feed(int fd, std::size_t budget) {
    if (done_) return 1;
    std::vector<char> buf(std::min(chunk_size, std::max<std::size_t>(budget, 1)));
    std::size_t read_now = 0;
    while (read_now < budget) {
        const std::size_t want = std::min(buf.size(), budget - read_now);
        const ssize_t n = ::recv(fd, buf.data(), want, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0) return -ECONNRESET;
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            return -errno;
        }
        // A previous manager read up to the marker and died before it served
        // the executor's new connection: the link then starts with that
        // connection's handshake, which is where a new server starts too.
        // (Only before anything was consumed: stale bytes are always
        // followed by a marker.)
        if (consumed_ == 0 && matched_ == 0 &&
            fresh_handshake(std::string_view(buf.data(), static_cast<std::size_t>(n)))) {
            done_ = true;
            return 1;
        }
        // Scan what is there; consume only up to the marker's last byte.
        std::size_t take = static_cast<std::size_t>(n);
        bool found = false;
        for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
            matched_ = advance(matched_, buf[i]);
            if (matched_ == marker_size) {
                take = i + 1;
                found = true;
                break;
            }
        }
        if (const int r = consume_exactly(fd, buf.data(), take); r < 0) return r;
        read_now += take;
        consumed_ += take;
        if (found) {
            done_ = true;
            return 1;
        }
    }
    return 0;
}

int skip_to_resync_marker(int fd, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    ResyncReader reader;
    for (;;) {
        const int r = reader.feed(fd);
        if (r != 0) return r < 0 ? r : 0;
        if (Clock::now() >= deadline) return -ETIMEDOUT;
        if (const int w = wait_for(fd, POLLIN, deadline); w < 0) return w;
    }
}

}  // namespace rsm::bus
