#include "gateway_server.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <sys/socket.h>

#include "bus/error.hpp"
#include "util/log.hpp"

namespace rsm::manager {

// The last phase of a gateway connection: its bus stays attached to the
// loop, reading and dropping whatever the peer still sends, until every
// queued reply is written, the peer hangs up, or drain_timeout passes; then
// it is closed without a flush. The same shape as the executor's control
// channel (daemons/rsm-session/control_channel.cpp).
class BusDrain {
public:
    BusDrain(GatewayServer& server, uint64_t id, BusPtr bus) : server_(server), id_(id), bus_(std::move(bus)) {
        sd_event* e = server_.event();
        sd_bus_slot* slot = nullptr;
        bus::check(sd_bus_add_filter(bus_.get(), &slot, &BusDrain::drop, this), "adding the drain filter");
        filter_.reset(slot);
        sd_event_source* s = nullptr;
        // A defer source looks once, at the next iteration; the post source
        // then looks after every iteration in which something happened.
        bus::check(sd_event_add_defer(e, &s, &BusDrain::on_check, this), "adding the drain check");
        kick_.reset(s);
        bus::check(sd_event_add_post(e, &s, &BusDrain::on_check, this), "adding the drain check");
        check_.reset(s);
        bus::check(sd_event_add_time_relative(
                       e, &s, CLOCK_MONOTONIC,
                       std::chrono::duration_cast<std::chrono::microseconds>(GatewayServer::drain_timeout).count(), 0,
                       &BusDrain::on_timeout, this),
                   "adding the drain deadline");
        timeout_.reset(s);
    }
    ~BusDrain() {
        kick_.reset();
        check_.reset();
        timeout_.reset();
        filter_.reset();
        bus_.reset();  // sd_bus_close_unref: no flush
    }
    BusDrain(const BusDrain&) = delete;
    BusDrain& operator=(const BusDrain&) = delete;

private:
    static int drop(sd_bus_message*, void*, sd_bus_error*) { return 1; }
    static int on_check(sd_event_source*, void* userdata) {
        auto* self = static_cast<BusDrain*>(userdata);
        uint64_t queued = 0;
        if (self->done_) return 0;
        if (sd_bus_is_open(self->bus_.get()) <= 0 || sd_bus_get_n_queued_write(self->bus_.get(), &queued) < 0 ||
            queued == 0)
            self->finish();
        return 0;
    }
    static int on_timeout(sd_event_source*, uint64_t, void* userdata) {
        auto* self = static_cast<BusDrain*>(userdata);
        uint64_t queued = 0;
        (void)sd_bus_get_n_queued_write(self->bus_.get(), &queued);
        log::info("A gateway peer did not read its last replies; closing its connection anyway",
                  {{"RSM_GATEWAY_CONNECTION", std::to_string(self->id_)}, {"RSM_QUEUED", std::to_string(queued)}});
        self->finish();
        return 0;
    }
    void finish() {
        done_ = true;
        sd_bus_close(bus_.get());
        for (auto* src : {kick_.get(), check_.get(), timeout_.get()})
            if (src) sd_event_source_set_enabled(src, SD_EVENT_OFF);
        server_.drained(id_);
    }

    GatewayServer& server_;
    uint64_t id_;
    BusPtr bus_;
    SlotPtr filter_;
    EventSourcePtr kick_, check_, timeout_;
    bool done_ = false;
};

GatewayServer::GatewayServer(sd_event* event, ChildReaper& reaper, SessionRegistry& sessions,
                             GatewaySettings settings, config::Throttle throttle, UniqueFd listen_fd)
    : event_(event), reaper_(reaper), sessions_(sessions), settings_(std::move(settings)), throttle_(throttle),
      slots_({settings_.max_logins_per_uid, settings_.max_logins_per_source}), listen_fd_(std::move(listen_fd)) {
    sd_event_source* s = nullptr;
    bus::check(sd_event_add_io(event_, &s, listen_fd_.get(), EPOLLIN, &GatewayServer::on_listen_ready, this),
               "watching the gateway socket");
    listen_source_.reset(s);
    bus::check(sd_event_add_defer(event_, &s, &GatewayServer::on_collect, this), "adding the collector");
    collect_source_.reset(s);
    sd_event_source_set_enabled(collect_source_.get(), SD_EVENT_OFF);
}

GatewayServer::~GatewayServer() {
    // Connections destroyed now hand their bus to drain(), which closes it
    // at once: nothing waits for peers on the way out.
    shutting_down_ = true;
    listen_source_.reset();
    collect_source_.reset();
    connections_.clear();
    closing_.clear();
    retired_links_.clear();
    draining_.clear();
    drained_.clear();
}

void GatewayServer::reconfigure(GatewaySettings settings, config::Throttle throttle) {
    settings_ = std::move(settings);
    throttle_.reconfigure(throttle);
    start_waiting(slots_.reconfigure({settings_.max_logins_per_uid, settings_.max_logins_per_source}));
}

std::optional<access::LoginThrottle::Refusal> GatewayServer::throttled_for(const std::string& source,
                                                                           const std::string& user) {
    return throttle_.refused_for(source, user, std::chrono::steady_clock::now());
}
void GatewayServer::throttle_failure(const std::string& source, const std::string& user) {
    throttle_.record_failure(source, user, std::chrono::steady_clock::now());
}
void GatewayServer::throttle_success(const std::string& source, const std::string& user) {
    throttle_.record_success(source, user, std::chrono::steady_clock::now());
}

bool GatewayServer::request_login_slot(const GatewayConnection& c, const std::string& source) {
    return slots_.request(c.id(), c.peer().uid, !c.trusted(), source);
}

void GatewayServer::release_login_slot(uint64_t id) { start_waiting(slots_.release(id)); }

void GatewayServer::start_waiting(const std::vector<access::LoginSlots::Ticket>& tickets) {
    for (auto id : tickets) {
        const auto it = connections_.find(id);
        if (it == connections_.end()) {
            // Gone meanwhile (should not happen: closing releases first).
            slots_.release(id);
            continue;
        }
        it->second->start_queued_login();
    }
}

void GatewayServer::schedule_collect() { sd_event_source_set_enabled(collect_source_.get(), SD_EVENT_ONESHOT); }

void GatewayServer::request_close(uint64_t id, std::string_view reason) {
    auto node = connections_.extract(id);
    if (node.empty()) return;
    // Serve nothing more from this peer (replies already queued are still
    // written while the bus drains).
    node.mapped()->stop_serving();
    log::debug("Closing gateway connection", {{"RSM_GATEWAY_CONNECTION", std::to_string(id)},
                                               {"RSM_REASON", std::string(reason)}});
    closing_.push_back(std::move(node.mapped()));
    // Its login slot goes now, so a waiting login can start at once.
    release_login_slot(id);
    schedule_collect();
}

void GatewayServer::retire(std::unique_ptr<ExecutorLink> link) {
    if (!link) return;
    // A connection's executor holds no session. One that is still inside its
    // Login (the connection's login deadline passed, or it closed) may be
    // blocked in PAM or NSS and would never see its link close: kill it.
    if (link->login_pending()) {
        const pid_t pid = link->pid();
        log::info("Killing a login process whose login was abandoned", {{"RSM_CHILD_PID", std::to_string(pid)}});
        (void)reaper_.kill(pid, SIGKILL);
    }
    link->detach();
    retired_links_.push_back(std::move(link));
    schedule_collect();
}

void GatewayServer::drain(uint64_t id, BusPtr bus) {
    if (!bus || shutting_down_) return;  // closed without a flush
    try {
        draining_[id] = std::make_unique<BusDrain>(*this, id, std::move(bus));
    } catch (const std::exception& e) {
        log::warning("Could not drain a gateway connection; closing it", {{"RSM_ERROR", e.what()}});
    }
}

void GatewayServer::drained(uint64_t id) {
    // Called from the drain's own callback: freed by the collector.
    auto node = draining_.extract(id);
    if (node.empty()) return;
    drained_.push_back(std::move(node.mapped()));
    schedule_collect();
}

int GatewayServer::on_collect(sd_event_source*, void* userdata) {
    auto* self = static_cast<GatewayServer*>(userdata);
    // Destroying a connection may retire its executor and start a drain:
    // loop until everything queued is gone.
    while (!self->closing_.empty() || !self->retired_links_.empty() || !self->drained_.empty()) {
        std::vector<std::unique_ptr<GatewayConnection>> closing;
        closing.swap(self->closing_);
        closing.clear();
        std::vector<std::unique_ptr<ExecutorLink>> links;
        links.swap(self->retired_links_);
        links.clear();
        std::vector<std::unique_ptr<BusDrain>> drained;
        drained.swap(self->drained_);
        drained.clear();
    }
    return 0;
}

bool GatewayServer::is_trusted(const ucred& peer, const std::vector<gid_t>& groups) const {
    if (peer.uid == 0) return true;
    if (settings_.trusted_uids.count(peer.uid)) return true;
    if (settings_.trusted_gids.count(peer.gid)) return true;
    return std::any_of(groups.begin(), groups.end(), [&](gid_t g) { return settings_.trusted_gids.count(g) > 0; });
}

bool GatewayServer::make_room_for_unauthenticated(const std::string& newcomer_key) {
    // Group the connections not logged in (mid-login ones included) by who
    // holds them: the peer uid, or for a trusted gateway the source its
    // login named. The group holding most (the newcomer counted) loses its
    // oldest connection, so a uid that floods the socket evicts itself, not
    // the others.
    std::map<std::string, std::pair<std::size_t, GatewayConnection*>> groups;
    std::size_t unauthenticated = 0;
    for (auto& [id, c] : connections_) {
        if (c->state() == LoginState::authenticated) continue;
        ++unauthenticated;
        auto& g = groups[c->source()];
        ++g.first;
        if (!g.second) g.second = c.get();  // ids grow with time: the first met is the oldest
    }
    if (unauthenticated < settings_.max_unauthenticated) return true;
    ++groups[newcomer_key].first;
    GatewayConnection* victim = nullptr;
    std::size_t most = 0;
    for (auto& [key, g] : groups) {
        if (!g.second) continue;  // only the newcomer: nothing of its own to evict
        if (g.first > most || (g.first == most && victim && g.second->id() < victim->id())) {
            most = g.first;
            victim = g.second;
        }
    }
    if (!victim) return false;
    log::notice("Too many connections without a login; dropping the oldest one of the peer holding most",
                {{"RSM_GATEWAY_CONNECTION", std::to_string(victim->id())},
                 {"RSM_PEER_UID", std::to_string(victim->peer().uid)},
                 {"RSM_HOLDER", victim->source()},
                 {"RSM_HELD", std::to_string(most)}});
    victim->abort_pending(names::error::failed, "dropped: too many connections without a login");
    request_close(victim->id(), "evicted");
    return true;
}

namespace {

// SO_PEERGROUPS: the peer's supplementary groups as of connect(), from the
// kernel (no NSS).
std::vector<gid_t> peer_groups(int fd) {
    std::vector<gid_t> groups(16);
    for (int tries = 0; tries < 4; ++tries) {
        socklen_t len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
            groups.resize(len / sizeof(gid_t));
            return groups;
        }
        if (errno != ERANGE) break;
        groups.resize(len / sizeof(gid_t) + 1);
    }
    return {};
}

}  // namespace

void GatewayServer::accept_one(UniqueFd fd) {
    ucred peer{};
    socklen_t len = sizeof peer;
    if (getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0) {
        log::warning("Could not read peer credentials; closing", {{"RSM_ERROR", strerror(errno)}});
        return;
    }
    const log::Fields who{{"RSM_PEER_UID", std::to_string(peer.uid)}, {"RSM_PEER_PID", std::to_string(peer.pid)}};
    if (connections_.size() >= settings_.max_connections) {
        log::warning("Gateway connection refused: max_connections reached", who);
        return;
    }
    const bool trusted = is_trusted(peer, peer_groups(fd.get()));
    if (!trusted) {
        const auto held = std::count_if(connections_.begin(), connections_.end(), [&](const auto& e) {
            return !e.second->trusted() && e.second->peer().uid == peer.uid;
        });
        if (static_cast<std::size_t>(held) >= settings_.max_connections_per_uid) {
            log::warning("Gateway connection refused: max_connections_per_uid reached for uid " +
                             std::to_string(peer.uid),
                         who);
            return;
        }
    }
    if (!make_room_for_unauthenticated("uid:" + std::to_string(peer.uid))) {
        log::warning("Gateway connection refused: too many connections without a login", who);
        return;
    }
    const uint64_t id = next_id_++;
    try {
        connections_.emplace(id, std::make_unique<GatewayConnection>(*this, id, std::move(fd), peer, trusted));
    } catch (const std::exception& e) {
        log::error("Could not set up a gateway connection", {{"RSM_ERROR", e.what()}});
        return;
    }
    log::debug("Gateway connection accepted", {{"RSM_GATEWAY_CONNECTION", std::to_string(id)},
                                                {"RSM_PEER_UID", std::to_string(peer.uid)},
                                                {"RSM_PEER_PID", std::to_string(peer.pid)},
                                                {"RSM_TRUSTED_GATEWAY", trusted ? "yes" : "no"}});
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
