// rsm-scp's listening sockets (from systemd socket activation: rsm-scp.socket
// passes [::1]:3350 and 127.0.0.1:3350) and the connections accepted on
// them. A connection that is finished is retired: moved aside and destroyed
// from a deferred event, never inside one of its own callbacks.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "scp_connection.hpp"

namespace rsm::scp_daemon {

class ScpServer {
public:
    ScpServer(sd_event* event, std::string gateway_socket, std::size_t max_connections);
    ScpServer(const ScpServer&) = delete;
    ScpServer& operator=(const ScpServer&) = delete;

    // Takes a listening socket (non-blocking is set here).
    void add_listener(UniqueFd fd);
    std::size_t connections() const noexcept { return connections_.size(); }

private:
    static int on_accept(sd_event_source*, int fd, std::uint32_t, void* self);
    static int on_defer(sd_event_source*, void* self);
    void retire(ScpConnection* c);

    sd_event* event_;
    std::string gateway_socket_;
    std::size_t max_connections_;
    std::vector<std::pair<UniqueFd, EventSourcePtr>> listeners_;
    std::map<ScpConnection*, std::unique_ptr<ScpConnection>> connections_;
    std::vector<std::unique_ptr<ScpConnection>> graveyard_;
    EventSourcePtr defer_;
};

}  // namespace rsm::scp_daemon
