#include "scp_server.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdexcept>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "util/log.hpp"

namespace rsm::scp_daemon {

namespace {

std::string describe_peer(const sockaddr_storage& ss) {
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss.ss_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
    }
    return std::string(host) + " port " + std::to_string(port);
}

}  // namespace

ScpServer::ScpServer(sd_event* event, std::string gateway_socket, std::size_t max_connections)
    : event_{event}, gateway_socket_{std::move(gateway_socket)}, max_connections_{max_connections} {
    sd_event_source* d = nullptr;
    if (const int r = sd_event_add_defer(event_, &d, &ScpServer::on_defer, this); r < 0)
        throw std::runtime_error(std::string("sd_event_add_defer: ") + std::strerror(-r));
    defer_.reset(d);
    sd_event_source_set_enabled(d, SD_EVENT_OFF);
}

void ScpServer::add_listener(UniqueFd fd) {
    const int flags = fcntl(fd.get(), F_GETFL);
    if (flags < 0 || fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) < 0)
        throw std::runtime_error(std::string("fcntl: ") + std::strerror(errno));
    sd_event_source* s = nullptr;
    if (const int r = sd_event_add_io(event_, &s, fd.get(), EPOLLIN, &ScpServer::on_accept, this); r < 0)
        throw std::runtime_error(std::string("sd_event_add_io: ") + std::strerror(-r));
    listeners_.emplace_back(std::move(fd), EventSourcePtr{s});
}

int ScpServer::on_accept(sd_event_source*, int fd, std::uint32_t, void* self) {
    auto* server = static_cast<ScpServer*>(self);
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    UniqueFd c{::accept4(fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC | SOCK_NONBLOCK)};
    if (!c) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            log::warning("accept failed", {{"RSM_ERRNO", std::strerror(errno)}});
        return 0;
    }
    const std::string peer = describe_peer(ss);
    if (server->connections_.size() >= server->max_connections_) {
        // Over the limit: a deny at once (always a reply: never a black
        // screen), from a fresh socket whose buffer certainly takes 14 bytes.
        log::warning("too many SCP connections; denied", {{"RSM_SCP_PEER", peer}});
        const auto deny = scp::encode_v0_deny();
        (void)::send(c.get(), deny.data(), deny.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        return 0;
    }
    try {
        auto conn = std::make_unique<ScpConnection>(server->event_, std::move(c), peer, server->gateway_socket_,
                                                    [server](ScpConnection* x) { server->retire(x); });
        ScpConnection* key = conn.get();
        server->connections_.emplace(key, std::move(conn));
    } catch (const std::exception& e) {
        log::error("cannot serve an SCP connection", {{"RSM_ERROR", e.what()}});
    }
    return 0;
}

void ScpServer::retire(ScpConnection* c) {
    auto it = connections_.find(c);
    if (it == connections_.end()) return;
    graveyard_.push_back(std::move(it->second));
    connections_.erase(it);
    sd_event_source_set_enabled(defer_.get(), SD_EVENT_ONESHOT);
}

int ScpServer::on_defer(sd_event_source*, void* self) {
    static_cast<ScpServer*>(self)->graveyard_.clear();
    return 0;
}

}  // namespace rsm::scp_daemon
