// Fuzz target: the executor link's resync reader (src/bus/link_resync.*).
// After a manager restart, whatever the old link still holds is untrusted:
// the executor runs in the user's session scope. The reader must consume
// exactly up to the end of the first marker and leave the rest, or report
// EOF when there is none, however the bytes are split into writes and reads,
// and must not leak the fds that come along with skipped bytes.
//
// Input: byte 0 says how the rest is written and read: bits 0-5 give the
// write size (1-64 bytes), bit 6 attaches an fd to every write, bit 7 reads
// with the blocking skip_to_resync_marker() (everything written first, in
// one write) instead of the event loop's ResyncReader. Byte 1 is the reader's budget
// per feed() (1-255 bytes, 0 = the default). In ResyncReader mode each write
// is followed by feed() calls until the socket is empty, so every split
// point of the marker across reads is reached deterministically.
#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <string>
#include <string_view>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bus/link_resync.hpp"
#include "fuzz_check.hpp"

using rsm::bus::link_resync_marker;

namespace {

int open_fd_count() {
    DIR* d = ::opendir("/proc/self/fd");
    FUZZ_CHECK(d != nullptr);
    int n = 0;
    while (::readdir(d)) ++n;
    ::closedir(d);
    return n;
}

void send_chunk(int fd, std::string_view chunk, int passed) {
    iovec iov{const_cast<char*>(chunk.data()), chunk.size()};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (passed >= 0) {
        msg.msg_control = control.data();
        msg.msg_controllen = control.size();
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &passed, sizeof(int));
    }
    while (iov.iov_len > 0) {
        const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        FUZZ_CHECK(n > 0);
        iov.iov_base = static_cast<char*>(iov.iov_base) + n;
        iov.iov_len -= static_cast<std::size_t>(n);
        msg.msg_control = nullptr;  // the fd went with the first byte
        msg.msg_controllen = 0;
    }
}

// Everything until EOF, closing fds that arrive with it.
std::string read_rest(int fd) {
    std::string out;
    std::array<char, 4096> buf{};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * 16)> control{};
    for (;;) {
        iovec iov{buf.data(), buf.size()};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.data();
        msg.msg_controllen = control.size();
        const ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        FUZZ_CHECK(n >= 0);
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (std::size_t i = 0; i < count; ++i) {
                int passed;
                std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                ::close(passed);
            }
        }
        if (n == 0) return out;
        out.append(buf.data(), static_cast<std::size_t>(n));
    }
}

// Feeds until the marker is found, an error, or the socket is empty (the
// budget may stop feed() earlier); checks the budget and the return values.
int feed_all(rsm::bus::ResyncReader& reader, int fd, std::size_t budget) {
    for (;;) {
        const std::size_t before = reader.consumed();
        const int r = budget ? reader.feed(fd, budget) : reader.feed(fd);
        FUZZ_CHECK(reader.consumed() - before <= (budget ? budget : 256u * 1024u));
        FUZZ_CHECK((r == 1) == reader.done());
        if (r != 0) return r;
        int queued = 0;
        FUZZ_CHECK(::ioctl(fd, SIOCINQ, &queued) == 0);
        if (queued == 0) return 0;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return -1;
    const std::size_t chunk = (data[0] & 0x3f) + 1u;
    const bool with_fds = (data[0] & 0x40) != 0;
    const bool blocking = (data[0] & 0x80) != 0;
    const std::size_t budget = data[1];
    const std::string_view payload{reinterpret_cast<const char*>(data) + 2, size - 2};

    const int fds_before = with_fds ? open_fd_count() : 0;
    int sv[2];
    FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    const int reader_fd = sv[0], writer = sv[1];
    const int passed = with_fds ? ::open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;

    int r = 0;
    rsm::bus::ResyncReader reader;
    // Small writes only while the reader reads after each: unread, every
    // write is an skb of its own and a few hundred fill the socket buffer.
    // In blocking mode, or once the marker is found, the rest goes in one.
    for (std::size_t at = 0; at < payload.size(); at += chunk) {
        if (blocking || reader.done()) {
            send_chunk(writer, payload.substr(at), passed);
            break;
        }
        send_chunk(writer, payload.substr(at, chunk), passed);
        r = feed_all(reader, reader_fd, budget);
        FUZZ_CHECK(r >= 0);
    }
    ::shutdown(writer, SHUT_WR);
    std::size_t consumed = 0;
    if (blocking) {
        r = rsm::bus::skip_to_resync_marker(reader_fd, std::chrono::seconds(10));
    } else {
        r = feed_all(reader, reader_fd, budget);
        consumed = reader.consumed();
        if (reader.done()) FUZZ_CHECK(reader.feed(reader_fd) == 1 && reader.consumed() == consumed);
    }
    const std::string rest = read_rest(reader_fd);
    ::close(reader_fd);
    ::close(writer);
    if (passed >= 0) ::close(passed);

    // A first read that starts with a client's whole fresh handshake line is
    // a resynchronised link as it is (ResyncReader, link_resync.hpp).
    // (what the first feed() peeks: one write, at most the budget or 64 KiB)
    const std::string_view first =
        payload.substr(0, blocking ? 64u * 1024u : std::min<std::size_t>(chunk, budget ? budget : 64u * 1024u));
    const auto cr = first.find("\r\n");
    const bool fresh = first.starts_with(std::string_view("\0AUTH EXTERNAL ", 15)) && cr != std::string_view::npos &&
                       cr > 15 && cr <= 15 + 32 &&
                       first.substr(15, cr - 15).find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
    const auto at = payload.find(link_resync_marker);
    if (fresh) {
        FUZZ_CHECK(r == (blocking ? 0 : 1));
        FUZZ_CHECK(rest == payload);
        FUZZ_CHECK(blocking || consumed == 0);
    } else if (at == std::string_view::npos) {
        FUZZ_CHECK(r == -ECONNRESET);
        FUZZ_CHECK(rest.empty());
        FUZZ_CHECK(blocking || consumed == payload.size());
    } else {
        FUZZ_CHECK(r == (blocking ? 0 : 1));
        FUZZ_CHECK(rest == payload.substr(at + link_resync_marker.size()));
        FUZZ_CHECK(blocking || consumed == at + link_resync_marker.size());
    }
    if (with_fds) FUZZ_CHECK(open_fd_count() == fds_before);
    return 0;
}
