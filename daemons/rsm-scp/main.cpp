// rsm-scp: xrdp 0.9.21's session manager protocol (SCP v0) in front of rsm.
// Socket-activated (units/rsm-scp.socket listens where xrdp looks for
// sesman); every TCP connection is one login, served by ScpConnection as a
// trusted gateway of rsm-manager (docs/xrdp.md). Options, for tests:
//   --gateway-socket=PATH   the manager's gateway socket (/run/rsm/gateway.sock)
//   --max-connections=N     concurrent SCP connections (64)
#include <string>
#include <string_view>

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
        auto listeners = passed_listeners("rsm-scp.socket");
        const std::size_t n = listeners.size();
        for (auto& fd : listeners) server.add_listener(std::move(fd));
        log::info("rsm-scp serving SCP v0", {{"RSM_LISTENERS", std::to_string(n)},
                                             {"RSM_GATEWAY_SOCKET", gateway_socket}});
        return serve_until_signal(e, "Serving SCP v0");
    } catch (const std::exception& ex) {
        log::error("rsm-scp failed", {{"RSM_ERROR", ex.what()}});
        return 1;
    }
}
