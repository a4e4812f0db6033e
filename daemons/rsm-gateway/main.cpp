// rsm-gateway: one public entry point for users' desktops. Socket-activated
// with Accept=yes (units/rsm-gateway.socket): each TCP connection is its own
// process, running as a transient unprivileged user in group rsm-gateway
// (trusted by rsm-manager to name the client's address), which serves this
// one client and exits. So far it serves VNC viewers (RFB 3.8 with VeNCrypt)
// and xpra clients (xpra_session.hpp), plain or inside TLS (tls_entry.hpp,
// with a configured certificate), and browsers over HTTP or, inside that
// TLS, HTTPS (noVNC's files and RFB over a WebSocket, web_session.hpp);
// other clients that speak first are recognised and turned away
// (docs/rsm-gateway.md). Options, for tests:
//   --gateway-socket=PATH   the manager's gateway socket (/run/rsm/gateway.sock)
//   --config=PATH           rsm-gateway's configuration (/etc/rsm/gateway.toml)
//   --user-mode             serve only the user this process runs as
//                           (units/user/rsm-gateway@.service.in: a user's own
//                           gateway, an untrusted peer of rsm; user_mode.hpp)
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <string_view>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "gateway_config.hpp"
#include "rfb_session.hpp"
#include "sniff.hpp"
#include "tls_entry.hpp"
#include "web_session.hpp"
#include "xpra_session.hpp"
#include "util/log.hpp"

using namespace rsm;
using namespace rsm::gateway;

namespace {

struct Peer {
    std::string address;  // numeric, "" if unknown
    bool loopback = false;
};

Peer peer_of(int fd) {
    Peer p;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return p;
    char text[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
        p.loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    } else if (ss.ss_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            in_addr v4{};
            std::memcpy(&v4, a->sin6_addr.s6_addr + 12, 4);
            inet_ntop(AF_INET, &v4, text, sizeof text);
            p.loopback = (ntohl(v4.s_addr) >> 24) == 127;
        } else {
            inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
            p.loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
        }
    }
    p.address = text;
    return p;
}

// Waits up to sniff_timeout_usec for the client to speak first and peeks at
// what it said (the bytes stay queued for whichever protocol serves it).
FirstBytes sniff(int fd, bool& closed) {
    closed = false;
    pollfd p{fd, POLLIN, 0};
    int r;
    do r = ::poll(&p, 1, static_cast<int>(sniff_timeout_usec / 1000));
    while (r < 0 && errno == EINTR);
    if (r <= 0) return FirstBytes::silent;
    std::uint8_t buf[16];
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    if (n <= 0) {
        closed = true;
        return FirstBytes::unknown;
    }
    return classify_first_bytes(std::span(buf, static_cast<std::size_t>(n)));
}

// A FIN, not a reset: closing with unread bytes queued makes the kernel
// send RST, which the client sees as an error rather than a refusal. So
// shut down the sending side, then read and drop what the client sent (a
// bounded amount, for a bounded time) until it closes too.
void close_cleanly(int fd) {
    ::shutdown(fd, SHUT_WR);
    std::uint8_t buf[4096];
    std::size_t dropped = 0;
    for (int rounds = 0; rounds < 20 && dropped < 256 * 1024; ++rounds) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) return;
        dropped += static_cast<std::size_t>(n);
    }
}

}  // namespace

#if defined(__SANITIZE_ADDRESS__)
// In sanitizer builds (CI): LeakSanitizer's exit-time check stops the
// process's threads with ptrace, which this process forbids itself
// (PR_SET_DUMPABLE 0) and its unit's system-call filter kills, so the
// process would hang at exit instead of ending with its client. AddressSanitizer
// and UBSan stay on; the parsers are leak-checked in the unit and fuzz
// tiers, outside the sandbox.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }
#endif

int main(int argc, char** argv) {
    std::string gateway_socket = "/run/rsm/gateway.sock";
    std::string config_path = "/etc/rsm/gateway.toml";
    bool user_mode = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a.starts_with("--gateway-socket=")) {
            gateway_socket = std::string(a.substr(17));
        } else if (a.starts_with("--config=")) {
            config_path = std::string(a.substr(9));
        } else if (a == "--user-mode") {
            user_mode = true;
        } else {
            log::error("unknown option", {{"RSM_OPTION", std::string(a)}});
            return 2;
        }
    }
    // Network bytes are never read as root (units/rsm-gateway@.service.in
    // runs this as a dynamic user).
    if (geteuid() == 0) {
        log::error("rsm-gateway refuses to run as root: run it from rsm-gateway@.service (DynamicUser=yes)");
        return 1;
    }
    // The instances of rsm-gateway@.service share one transient uid: no
    // other instance may read this one's memory (passwords, TLS keys)
    // through ptrace or /proc/<pid>/mem.
    if (prctl(PR_SET_DUMPABLE, 0) < 0) {
        log::error("prctl(PR_SET_DUMPABLE) failed", {{"RSM_ERRNO", std::strerror(errno)}});
        return 1;
    }
    std::signal(SIGPIPE, SIG_IGN);
    if (sd_listen_fds(1) != 1 || sd_is_socket(SD_LISTEN_FDS_START, AF_UNSPEC, SOCK_STREAM, 0) <= 0) {
        log::error("rsm-gateway serves one accepted connection: run it from rsm-gateway.socket (Accept=yes)");
        return 1;
    }
    UniqueFd connection{SD_LISTEN_FDS_START};
    const Peer peer = peer_of(connection.get());
    const log::Field client{"RSM_CLIENT_ADDRESS", peer.address};

    ConfigResult loaded = load_gateway_config(config_path);
    if (!loaded.config) {
        log::error("rsm-gateway: bad configuration", {{"RSM_ERROR", loaded.error}, client});
        return 1;
    }
    if (user_mode) {
        std::string error;
        loaded.config->served_user = served_user_of(geteuid(), error);
        if (!loaded.config->served_user) {
            log::error("rsm-gateway --user-mode: who am I?", {{"RSM_ERROR", error}, client});
            return 1;
        }
    }
    bool closed = false;
    const FirstBytes first = sniff(connection.get(), closed);
    if (closed) {
        log::info("client closed the connection before speaking", {client});
        return 0;
    }
    if (first == FirstBytes::xpra) {
        XpraOptions options;
        options.config = *loaded.config;
        options.gateway_socket = gateway_socket;
        options.client_address = peer.address;
        options.loopback = peer.loopback;
        return serve_xpra(std::move(connection), options);
    }
    if (first == FirstBytes::http) {
        // A browser: noVNC's files, and RFB over a WebSocket (web_session.hpp).
        // sniff() only peeked: the HTTP server reads the request whole.
        RfbOptions options;
        options.config = *loaded.config;
        options.gateway_socket = gateway_socket;
        options.client_address = peer.address;
        options.loopback = peer.loopback;
        return serve_web(std::move(connection), options);
    }
    if (first == FirstBytes::tls && !loaded.config->certificate.empty()) {
        // TLS with [tls]'s certificate, then the protocol inside (tls_entry.hpp).
        XpraOptions options;
        options.config = *loaded.config;
        options.gateway_socket = gateway_socket;
        options.client_address = peer.address;
        options.loopback = peer.loopback;
        return serve_tls(std::move(connection), options);
    }
    if (first != FirstBytes::silent) {
        // Hooks for HTTP/noVNC and xpra: they will take the connection here.
        log::notice("protocol not served yet", {{"RSM_PROTOCOL", std::string(to_string(first))}, client});
        close_cleanly(connection.get());
        return 0;
    }
    RfbOptions options;
    options.config = *loaded.config;
    options.gateway_socket = gateway_socket;
    options.client_address = peer.address;
    options.loopback = peer.loopback;
    return serve_rfb(std::move(connection), options);
}
