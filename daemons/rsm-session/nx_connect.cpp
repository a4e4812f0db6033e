#include "nx_connect.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace rsm::session {
namespace {

[[noreturn]] void fail(int e, const std::string& what) { throw std::system_error(e, std::generic_category(), what); }

constexpr int connect_timeout_ms = 1000;
// TCP states as inet_diag numbers them (include/net/tcp_states.h).
constexpr unsigned tcp_established = 1, tcp_syn_recv = 3, tcp_listen = 10;

struct Owner {
    uint32_t uid;
    uint32_t inode;
    uint16_t local_port;
};

// Sends one inet_diag request and collects the sockets it answers with.
std::vector<Owner> query(const inet_diag_req_v2& req, bool dump) {
    UniqueFd nl{socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)};
    if (!nl) fail(errno, "socket(NETLINK_SOCK_DIAG)");
    struct {
        nlmsghdr nlh;
        inet_diag_req_v2 req;
    } msg{};
    msg.nlh.nlmsg_len = sizeof msg;
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0);
    msg.req = req;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (sendto(nl.get(), &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
        fail(errno, "sendto(NETLINK_SOCK_DIAG)");
    std::vector<Owner> found;
    std::vector<char> buf(32768);
    for (;;) {
        pollfd pfd{nl.get(), POLLIN, 0};
        if (poll(&pfd, 1, connect_timeout_ms) <= 0) fail(ETIMEDOUT, "sock_diag answer");
        const ssize_t n = recv(nl.get(), buf.data(), buf.size(), 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail(errno, "recv(NETLINK_SOCK_DIAG)");
        }
        // Netlink messages, 4-byte aligned (the NLMSG_* macros, without their casts).
        constexpr std::size_t align = 4, header = (sizeof(nlmsghdr) + align - 1) & ~(align - 1);
        std::size_t at = 0;
        const auto size = static_cast<std::size_t>(n);
        while (size - at >= sizeof(nlmsghdr)) {
            nlmsghdr h{};
            std::memcpy(&h, buf.data() + at, sizeof h);
            if (h.nlmsg_len < header || h.nlmsg_len > size - at) break;
            const char* data = buf.data() + at + header;
            const std::size_t data_len = h.nlmsg_len - header;
            if (h.nlmsg_type == NLMSG_DONE) return found;
            if (h.nlmsg_type == NLMSG_ERROR) {
                nlmsgerr e{};
                if (data_len < sizeof e) fail(EPROTO, "sock_diag");
                std::memcpy(&e, data, sizeof e);
                if (e.error == 0 || e.error == -ENOENT) return found;
                fail(-e.error, "sock_diag");
            }
            if (h.nlmsg_type == SOCK_DIAG_BY_FAMILY && data_len >= sizeof(inet_diag_msg)) {
                inet_diag_msg d{};
                std::memcpy(&d, data, sizeof d);
                found.push_back({d.idiag_uid, d.idiag_inode, ntohs(d.id.idiag_sport)});
            }
            at += (h.nlmsg_len + align - 1) & ~(align - 1);
        }
        if (!dump) return found;
    }
}

}  // namespace

UniqueFd connect_loopback_tcp(uint16_t port) {
    UniqueFd fd{socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (!fd) fail(errno, "socket(AF_INET)");
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const std::string what = "connect to 127.0.0.1:" + std::to_string(port);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) < 0) {
        if (errno != EINPROGRESS) fail(errno, what);
        pollfd pfd{fd.get(), POLLOUT, 0};
        int r;
        while ((r = poll(&pfd, 1, connect_timeout_ms)) < 0 && errno == EINTR) {
        }
        if (r == 0) fail(ETIMEDOUT, what);
        int error = 0;
        socklen_t len = sizeof error;
        if (r < 0 || getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &len) < 0) fail(errno, what);
        if (error) fail(error, what);
    }
    const int flags = fcntl(fd.get(), F_GETFL);
    if (flags < 0 || fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) < 0) fail(errno, "fcntl");
    const int one = 1;
    (void)setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

bool not_listening(const std::system_error& e) noexcept {
    return e.code() == std::errc::connection_refused || e.code() == std::errc::timed_out;
}

std::string check_tcp_peer_owner(int fd, uint16_t port, uid_t uid) {
    sockaddr_in local{};
    socklen_t len = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) < 0 || local.sin_family != AF_INET)
        return std::string("getsockname: ") + std::strerror(errno);
    try {
        // The other end: local 127.0.0.1:port, remote our address.
        inet_diag_req_v2 req{};
        req.sdiag_family = AF_INET;
        req.sdiag_protocol = IPPROTO_TCP;
        req.idiag_states = (1U << tcp_established) | (1U << tcp_syn_recv);
        req.id.idiag_sport = htons(port);
        req.id.idiag_dport = local.sin_port;
        req.id.idiag_src[0] = htonl(INADDR_LOOPBACK);
        req.id.idiag_dst[0] = local.sin_addr.s_addr;
        req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
        req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
        const auto peer = query(req, false);
        if (peer.empty()) return "the other end of the connection is gone";
        if (peer.front().uid == uid) return {};
        if (peer.front().uid != 0 || peer.front().inode != 0)
            return "port " + std::to_string(port) + " belongs to uid " + std::to_string(peer.front().uid) +
                   ", expected " + std::to_string(uid);
        // Not accept()ed yet, on a kernel that reports such a socket as
        // root's: every listener of the port must be the user's.
        inet_diag_req_v2 listeners{};
        listeners.sdiag_family = AF_INET;
        listeners.sdiag_protocol = IPPROTO_TCP;
        listeners.idiag_states = 1U << tcp_listen;
        bool mine = false;
        for (const Owner& o : query(listeners, true)) {
            if (o.local_port != port) continue;
            if (o.uid != uid)
                return "port " + std::to_string(port) + " has a listener of uid " + std::to_string(o.uid) +
                       ", expected " + std::to_string(uid);
            mine = true;
        }
        if (!mine) return "nothing of uid " + std::to_string(uid) + " listens on port " + std::to_string(port);
        return {};
    } catch (const std::system_error& e) {
        return e.what();
    }
}

}  // namespace rsm::session
