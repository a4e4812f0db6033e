// The listening side of /run/rsm/gateway.sock: accepts connections, owns
// them, and enforces the limits that keep one peer from starving the others
// (max_connections, max_unauthenticated with eviction of the oldest idle
// connection, the per-connection login deadline, the per-source throttle).
//
// Objects are never destroyed inside their own callbacks: request_close()
// and retire() queue them, and a deferred event source frees them once the
// current dispatch is over.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "access/throttle.hpp"
#include "config/config.hpp"
#include "child_reaper.hpp"
#include "executor_link.hpp"
#include "gateway_connection.hpp"
#include "gateway_settings.hpp"
#include "util/fd.hpp"
#include "util/handles.hpp"

namespace rsm::manager {

class SessionRegistry;

class GatewayServer {
public:
    GatewayServer(sd_event* event, ChildReaper& reaper, SessionRegistry& sessions, GatewaySettings settings,
                  config::Throttle throttle, UniqueFd listen_fd);
    ~GatewayServer();
    GatewayServer(const GatewayServer&) = delete;
    GatewayServer& operator=(const GatewayServer&) = delete;

    sd_event* event() const { return event_; }
    ChildReaper& reaper() { return reaper_; }
    SessionRegistry& sessions() { return sessions_; }
    // Connections open now (for exit-on-idle and status).
    std::size_t connection_count() const { return connections_.size(); }
    const GatewaySettings& settings() const { return settings_; }
    // New settings apply to new connections and new logins.
    void reconfigure(GatewaySettings settings, config::Throttle throttle);

    // Closes a connection after the current dispatch (its pending replies are
    // flushed first).
    void request_close(uint64_t id, std::string_view reason);
    // Takes an executor link its owner no longer wants; it is closed after
    // the current dispatch, which makes an idle executor exit.
    void retire(std::unique_ptr<ExecutorLink> link);

    std::optional<std::chrono::seconds> throttled_for(const std::string& source);
    void throttle_failure(const std::string& source);
    void throttle_success(const std::string& source);

private:
    static int on_listen_ready(sd_event_source* s, int fd, uint32_t revents, void* userdata);
    static int on_collect(sd_event_source* s, void* userdata);
    void accept_one(UniqueFd fd);
    bool make_room_for_unauthenticated();
    void schedule_collect();

    sd_event* event_;
    ChildReaper& reaper_;
    SessionRegistry& sessions_;
    GatewaySettings settings_;
    access::LoginThrottle throttle_;
    UniqueFd listen_fd_;
    EventSourcePtr listen_source_;
    EventSourcePtr collect_source_;
    uint64_t next_id_ = 1;
    std::map<uint64_t, std::unique_ptr<GatewayConnection>> connections_;
    std::vector<std::unique_ptr<GatewayConnection>> closing_;
    std::vector<std::unique_ptr<ExecutorLink>> retired_links_;
};

}  // namespace rsm::manager
