// The listening side of /run/rsm/gateway.sock: accepts connections, owns
// them, and enforces the limits that keep one peer from starving the others:
// max_connections, max_connections_per_uid (untrusted peers), eviction when
// max_unauthenticated is reached (the oldest connection of whoever holds
// most), the login slots per uid and per source, and the throttle keyed on
// (source, user). Which peers are trusted gateways is decided here, at
// accept time, from SO_PEERCRED and SO_PEERGROUPS.
//
// Objects are never destroyed inside their own callbacks: request_close()
// and retire() queue them, and a deferred event source frees them once the
// current dispatch is over. A closed connection's bus is drained
// asynchronously (BusDrain): written out until its queue is empty or
// drain_timeout passes, never with a blocking sd_bus_flush().
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "access/login_slots.hpp"
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
class BusDrain;

class GatewayServer {
public:
    // How long a closed connection's queued replies may take to be read.
    static constexpr std::chrono::milliseconds drain_timeout{2000};

    GatewayServer(sd_event* event, ChildReaper& reaper, SessionRegistry& sessions, GatewaySettings settings,
                  config::Throttle throttle, UniqueFd listen_fd);
    ~GatewayServer();
    GatewayServer(const GatewayServer&) = delete;
    GatewayServer& operator=(const GatewayServer&) = delete;

    sd_event* event() const { return event_; }
    ChildReaper& reaper() { return reaper_; }
    SessionRegistry& sessions() { return sessions_; }
    // Connections open now (for exit-on-idle and status); draining ones
    // are not counted.
    std::size_t connection_count() const { return connections_.size(); }
    // Connections open, closing or draining, or executor links not closed
    // yet: exit-on-idle waits for all of them.
    bool has_work() const {
        return !connections_.empty() || !closing_.empty() || !retired_links_.empty() || !draining_.empty() ||
               !drained_.empty();
    }
    // The listening socket (exit-on-idle polls its backlog), and the end of
    // accepting on it: later connections wait in the backlog, which systemd
    // keeps, for the next manager.
    int listen_fd() const { return listen_fd_.get(); }
    void stop_accepting() { listen_source_.reset(); }
    const GatewaySettings& settings() const { return settings_; }
    // New settings apply to new connections and new logins.
    void reconfigure(GatewaySettings settings, config::Throttle throttle);

    // Closes a connection after the current dispatch (its queued replies
    // are drained first, within drain_timeout).
    void request_close(uint64_t id, std::string_view reason);
    // Takes an executor link its owner no longer wants; it is closed after
    // the current dispatch, which makes an idle executor exit.
    void retire(std::unique_ptr<ExecutorLink> link);
    // Takes the bus of a connection being destroyed and drains it.
    void drain(uint64_t id, BusPtr bus);

    std::optional<access::LoginThrottle::Refusal> throttled_for(const std::string& source, const std::string& user);
    void throttle_failure(const std::string& source, const std::string& user);
    void throttle_success(const std::string& source, const std::string& user);

    // Login slots (see access/login_slots.hpp). request_login_slot() is true
    // if the connection may start its executor now; otherwise the server
    // calls its start_queued_login() when a slot frees.
    bool request_login_slot(const GatewayConnection& c, const std::string& source);
    void release_login_slot(uint64_t id);

private:
    friend class BusDrain;
    static int on_listen_ready(sd_event_source* s, int fd, uint32_t revents, void* userdata);
    static int on_collect(sd_event_source* s, void* userdata);
    void accept_one(UniqueFd fd);
    bool is_trusted(const ucred& peer, const std::vector<gid_t>& groups) const;
    bool make_room_for_unauthenticated(const std::string& newcomer_key);
    void start_waiting(const std::vector<access::LoginSlots::Ticket>& tickets);
    void drained(uint64_t id);
    void schedule_collect();

    sd_event* event_;
    ChildReaper& reaper_;
    SessionRegistry& sessions_;
    GatewaySettings settings_;
    access::LoginThrottle throttle_;
    access::LoginSlots slots_;
    UniqueFd listen_fd_;
    EventSourcePtr listen_source_;
    EventSourcePtr collect_source_;
    uint64_t next_id_ = 1;
    bool shutting_down_ = false;
    std::map<uint64_t, std::unique_ptr<GatewayConnection>> connections_;
    std::vector<std::unique_ptr<GatewayConnection>> closing_;
    std::vector<std::unique_ptr<ExecutorLink>> retired_links_;
    std::map<uint64_t, std::unique_ptr<BusDrain>> draining_;
    std::vector<std::unique_ptr<BusDrain>> drained_;
};

}  // namespace rsm::manager
