#include "gateway_server.hpp"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>

#include "bus/error.hpp"
#include "util/log.hpp"

namespace rsm::manager {

GatewayServer::GatewayServer(sd_event* event, ChildReaper& reaper, SessionRegistry& sessions,
                             GatewaySettings settings, config::Throttle throttle, UniqueFd listen_fd)
    : event_(event), reaper_(reaper), sessions_(sessions), settings_(std::move(settings)), throttle_(throttle),
      listen_fd_(std::move(listen_fd)) {
    sd_event_source* s = nullptr;
    bus::check(sd_event_add_io(event_, &s, listen_fd_.get(), EPOLLIN, &GatewayServer::on_listen_ready, this),
               "watching the gateway socket");
    listen_source_.reset(s);
    bus::check(sd_event_add_defer(event_, &s, &GatewayServer::on_collect, this), "adding the collector");
    collect_source_.reset(s);
    sd_event_source_set_enabled(collect_source_.get(), SD_EVENT_OFF);
}

GatewayServer::~GatewayServer() {
    listen_source_.reset();
    collect_source_.reset();
    connections_.clear();
    closing_.clear();
    retired_links_.clear();
}

void GatewayServer::reconfigure(GatewaySettings settings, config::Throttle throttle) {
    settings_ = std::move(settings);
    throttle_.reconfigure(throttle);
}

std::optional<std::chrono::seconds> GatewayServer::throttled_for(const std::string& source) {
    return throttle_.refused_for(source, std::chrono::steady_clock::now());
}
void GatewayServer::throttle_failure(const std::string& source) {
    throttle_.record_failure(source, std::chrono::steady_clock::now());
}
void GatewayServer::throttle_success(const std::string& source) {
    throttle_.record_success(source, std::chrono::steady_clock::now());
}

void GatewayServer::schedule_collect() { sd_event_source_set_enabled(collect_source_.get(), SD_EVENT_ONESHOT); }

void GatewayServer::request_close(uint64_t id, std::string_view reason) {
    auto node = connections_.extract(id);
    if (node.empty()) return;
    // Read nothing more from this peer: what it sends after this point is
    // not served (replies already queued are still flushed on close).
    node.mapped()->stop_reading();
    log::debug("Closing gateway connection", {{"RSM_GATEWAY_CONNECTION", std::to_string(id)},
                                               {"RSM_REASON", std::string(reason)}});
    closing_.push_back(std::move(node.mapped()));
    schedule_collect();
}

void GatewayServer::retire(std::unique_ptr<ExecutorLink> link) {
    if (!link) return;
    link->detach();
    retired_links_.push_back(std::move(link));
    schedule_collect();
}

int GatewayServer::on_collect(sd_event_source*, void* userdata) {
    auto* self = static_cast<GatewayServer*>(userdata);
    // Destroying a connection may retire its executor: loop until both are empty.
    while (!self->closing_.empty() || !self->retired_links_.empty()) {
        std::vector<std::unique_ptr<GatewayConnection>> closing;
        closing.swap(self->closing_);
        closing.clear();
        std::vector<std::unique_ptr<ExecutorLink>> links;
        links.swap(self->retired_links_);
        links.clear();
    }
    return 0;
}

bool GatewayServer::make_room_for_unauthenticated() {
    std::size_t unauthenticated = 0;
    GatewayConnection* oldest_idle = nullptr;
    for (auto& [id, c] : connections_) {
        if (c->state() == LoginState::authenticated) continue;
        ++unauthenticated;
        // Ids grow with time, so the first idle one met is the oldest.
        if (!oldest_idle && c->state() == LoginState::unauthenticated) oldest_idle = c.get();
    }
    if (unauthenticated < settings_.max_unauthenticated) return true;
    if (!oldest_idle) return false;  // everyone is mid-login: refuse the newcomer
    log::notice("Too many connections without a login; dropping the oldest idle one",
                {{"RSM_GATEWAY_CONNECTION", std::to_string(oldest_idle->id())}});
    oldest_idle->abort_pending(names::error::failed, "dropped: too many connections without a login");
    request_close(oldest_idle->id(), "evicted");
    return true;
}

void GatewayServer::accept_one(UniqueFd fd) {
    ucred peer{};
    socklen_t len = sizeof peer;
    if (getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0) {
        log::warning("Could not read peer credentials; closing", {{"RSM_ERROR", strerror(errno)}});
        return;
    }
    if (connections_.size() >= settings_.max_connections) {
        log::warning("Gateway connection refused: max_connections reached",
                     {{"RSM_PEER_UID", std::to_string(peer.uid)}, {"RSM_PEER_PID", std::to_string(peer.pid)}});
        return;
    }
    if (!make_room_for_unauthenticated()) {
        log::warning("Gateway connection refused: every unauthenticated connection is mid-login",
                     {{"RSM_PEER_UID", std::to_string(peer.uid)}, {"RSM_PEER_PID", std::to_string(peer.pid)}});
        return;
    }
    const uint64_t id = next_id_++;
    try {
        connections_.emplace(id, std::make_unique<GatewayConnection>(*this, id, std::move(fd), peer));
    } catch (const std::exception& e) {
        log::error("Could not set up a gateway connection", {{"RSM_ERROR", e.what()}});
        return;
    }
    log::debug("Gateway connection accepted", {{"RSM_GATEWAY_CONNECTION", std::to_string(id)},
                                                {"RSM_PEER_UID", std::to_string(peer.uid)},
                                                {"RSM_PEER_PID", std::to_string(peer.pid)}});
}

int GatewayServer::on_listen_ready(sd_event_source*, int fd, uint32_t, void* userdata) {
    auto* self = static_cast<GatewayServer*>(userdata);
    // Accept a bounded batch per wakeup so a connection storm cannot keep the
    // loop from serving existing connections.
    for (int i = 0; i < 64; ++i) {
        UniqueFd conn{accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)};
        if (!conn) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return 0;
            log::error("accept() on the gateway socket failed", {{"RSM_ERROR", strerror(errno)}});
            return 0;
        }
        self->accept_one(std::move(conn));
    }
    return 0;
}

}  // namespace rsm::manager
