// rsm-scp: xrdp 0.9.21's session manager protocol (SCP v0) in front of rsm.
// Socket-activated (units/rsm-scp.socket listens where xrdp looks for
// sesman); every TCP connection is one login, served by ScpConnection as a
// trusted gateway of rsm-manager (docs/xrdp.md). Options, for tests:
//   --gateway-socket=PATH   the manager's gateway socket (/run/rsm/gateway.sock)
//   --max-connections=N     concurrent SCP connections (64)
#include <csignal>
#include <cstring>
#include <string>
#include <string_view>
#include <systemd/sd-daemon.h>

#include "scp_server.hpp"
#include "util/event_loop.hpp"
#include "util/log.hpp"

using namespace rsm;

int main(int argc, char** argv) {
    std::string gateway_socket = "/run/rsm/gateway.sock";
    std::size_t max_connections = 64;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a.starts_with("--gateway-socket=")) {
            gateway_socket = std::string(a.substr(17));
        } else if (a.starts_with("--max-connections=")) {
            max_connections = std::stoul(std::string(a.substr(18)));
        } else {
            log::error("unknown option", {{"RSM_OPTION", std::string(a)}});
            return 2;
        }
    }
    EventPtr event;
    try {
        event = loop_ended_by_signals();
    } catch (const std::exception& ex) {
        log::error("cannot set up the event loop", {{"RSM_ERROR", ex.what()}});
        return 1;
    }
    sd_event* e = event.get();

    try {
        scp_daemon::ScpServer server{e, gateway_socket, max_connections};
        const int n = sd_listen_fds(1);
        if (n <= 0) {
            log::error("rsm-scp is socket-activated: no listening sockets passed (rsm-scp.socket)");
            return 1;
        }
        for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; ++fd) {
            if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
                log::error("a passed fd is not a listening stream socket", {{"RSM_FD", std::to_string(fd)}});
                return 1;
            }
            server.add_listener(UniqueFd{fd});
        }
        log::info("rsm-scp serving SCP v0", {{"RSM_LISTENERS", std::to_string(n)},
                                             {"RSM_GATEWAY_SOCKET", gateway_socket}});
        sd_notify(0, "READY=1\nSTATUS=Serving SCP v0");
        const int r = sd_event_loop(e);
        sd_notify(0, "STOPPING=1");
        if (r < 0) {
            log::error("event loop failed", {{"RSM_ERRNO", std::strerror(-r)}});
            return 1;
        }
    } catch (const std::exception& ex) {
        log::error("rsm-scp failed", {{"RSM_ERROR", ex.what()}});
        return 1;
    }
    return 0;
}
