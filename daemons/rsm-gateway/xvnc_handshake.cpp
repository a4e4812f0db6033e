#include "xvnc_handshake.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <span>
#include <string_view>
#include <sys/socket.h>
#include <vector>

#include "client_link.hpp"

namespace rsm::gateway {

namespace {

// Exactly n bytes (never more: what follows belongs to the relay).
bool read_exact(int fd, std::uint8_t* buf, std::size_t n, std::uint64_t deadline, std::string& error) {
    std::size_t got = 0;
    while (got < n) {
        const ssize_t r = ::recv(fd, buf + got, n - got, MSG_DONTWAIT);
        if (r > 0) {
            got += static_cast<std::size_t>(r);
            continue;
        }
        if (r == 0) {
            error = "the display server closed the connection during the handshake";
            return false;
        }
        if (errno != EAGAIN && errno != EINTR) {
            error = std::string("reading from the display server: ") + std::strerror(errno);
            return false;
        }
        const std::uint64_t now = now_usec();
        if (now >= deadline) {
            error = "the display server did not finish the handshake in time";
            return false;
        }
        pollfd p{fd, POLLIN, 0};
        ::poll(&p, 1, static_cast<int>((deadline - now + 999) / 1000));
    }
    return true;
}

bool write_all(int fd, std::string_view s, std::uint64_t deadline, std::string& error) {
    while (!s.empty()) {
        const ssize_t r = ::send(fd, s.data(), s.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r >= 0) {
            s.remove_prefix(static_cast<std::size_t>(r));
            continue;
        }
        if (errno != EAGAIN && errno != EINTR) {
            error = std::string("writing to the display server: ") + std::strerror(errno);
            return false;
        }
        const std::uint64_t now = now_usec();
        if (now >= deadline) {
            error = "the display server did not finish the handshake in time";
            return false;
        }
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, static_cast<int>((deadline - now + 999) / 1000));
    }
    return true;
}

std::uint32_t be32(const std::uint8_t* b) {
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

}  // namespace

std::string xvnc_handshake(int fd, std::uint64_t deadline) {
    const int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return std::string("fcntl: ") + std::strerror(errno);
    std::string error;
    std::uint8_t version[12];
    if (!read_exact(fd, version, sizeof version, deadline, error)) return error;
    if (std::memcmp(version, "RFB 003.", 8) != 0 || version[11] != '\n')
        return "the display server sent no RFB version";
    const int minor = (version[8] - '0') * 100 + (version[9] - '0') * 10 + (version[10] - '0');
    if (minor < 7) {
        // RFB 3.3: the server names the type, a u32.
        if (!write_all(fd, "RFB 003.003\n", deadline, error)) return error;
        std::uint8_t type[4];
        if (!read_exact(fd, type, 4, deadline, error)) return error;
        if (be32(type) != 1) return "the display server (RFB 3.3) wants authentication";
        return {};
    }
    if (!write_all(fd, minor >= 8 ? "RFB 003.008\n" : "RFB 003.007\n", deadline, error)) return error;
    std::uint8_t count = 0;
    if (!read_exact(fd, &count, 1, deadline, error)) return error;
    if (count == 0) return "the display server refused the connection";
    std::uint8_t types[255];
    if (!read_exact(fd, types, count, deadline, error)) return error;
    if (std::find(types, types + count, 1) == types + count) return "the display server does not offer security type None";
    if (!write_all(fd, std::string_view("\x01", 1), deadline, error)) return error;
    if (minor >= 8) {  // 3.7 sends no SecurityResult for None
        std::uint8_t result[4];
        if (!read_exact(fd, result, 4, deadline, error)) return error;
        if (be32(result) != 0) return "the display server's security result is a failure";
    }
    return {};
}

}  // namespace rsm::gateway
