#include "broker_service.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "bus/names.hpp"
#include "util/log.hpp"

namespace rsm::broker {

struct BrokerService::Pending {
    Frontend frontend;
    BrokerRequest request;
    std::string client_address;
    http::Responder responder;
};

BrokerService::BrokerService(sd_event* event, const BrokerConfig& config, BrokerCore& core)
    : event_{event}, config_{config}, core_{core},
      authids_{std::uint64_t{config.authid_lifetime_sec} * 1'000'000, 4096} {
    sd_event_source* d = nullptr;
    if (const int r = sd_event_add_defer(event_, &d, &BrokerService::on_defer, this); r < 0)
        throw std::runtime_error(std::string("sd_event_add_defer: ") + std::strerror(-r));
    defer_.reset(d);
    sd_event_source_set_enabled(d, SD_EVENT_OFF);
}

int BrokerService::on_defer(sd_event_source*, void* self) {
    static_cast<BrokerService*>(self)->graveyard_.clear();
    return 0;
}

void BrokerService::retire(std::uint64_t id) {
    const auto it = logins_.find(id);
    if (it == logins_.end()) return;
    graveyard_.push_back(std::move(it->second));
    logins_.erase(it);
    sd_event_source_set_enabled(defer_.get(), SD_EVENT_ONESHOT);
}

void BrokerService::handle(http::Request request, http::Responder responder) {
    const auto route = parse_route(request.path);
    const bool enabled = route && (route->frontend == Frontend::plain ? config_.enable_plain : config_.enable_json);
    const bool backend_ok = route && (route->backend.empty() || std::find(config_.backends.begin(), config_.backends.end(),
                                                                          route->backend) != config_.backends.end());
    if (!enabled || !backend_ok) return responder.send(http::Response::text(404, "no such broker URL\n"));
    auto parsed = parse_request(route->frontend, request.form);
    if (!parsed.request) {
        log::notice("Malformed broker request", {{"RSM_CLIENT_ADDRESS", request.client_address}, {"RSM_ERROR", parsed.error}});
        return responder.send(http::Response::text(400, parsed.error + "\n"));
    }
    auto p = std::make_shared<Pending>(Pending{route->frontend, std::move(*parsed.request), request.client_address,
                                               std::move(responder)});
    // Wipe what we hold of the password: the request copy and the raw body.
    explicit_bzero(request.body.data(), request.body.size());
    if (auto it = request.form.find("password"); it != request.form.end())
        explicit_bzero(it->second.data(), it->second.size());

    std::uint64_t now = 0;
    sd_event_now(event_, CLOCK_MONOTONIC, &now);
    if (config_.auth == AuthMethod::none ||
        (config_.authid_lifetime_sec > 0 && !p->request.authid.empty() &&
         authids_.redeem(p->request.authid, p->request.user, p->client_address, now)))
        return authenticated(p);
    if (p->request.password.empty()) {
        log::notice("Broker authentication failed: no password", {{"USER", p->request.user}, {"RSM_CLIENT_ADDRESS", p->client_address}});
        return p->responder.send(http::Response::empty(401));
    }
    if (logins_.size() >= max_pending_logins)
        return p->responder.send(http::Response::text(503, "too many logins in progress\n"));
    const std::uint64_t id = next_login_++;
    auto client = std::make_unique<gateway::GatewayClient>(event_, config_.gateway_socket);
    gateway::GatewayClient* c = client.get();
    logins_.emplace(id, std::move(client));
    gateway::GatewayRequest g;
    g.user = p->request.user;
    g.password = std::move(p->request.password);
    explicit_bzero(p->request.password.data(), p->request.password.size());
    p->request.password.clear();
    g.client_address = p->client_address;
    g.gateway = "rsm-broker";
    g.want_session = false;
    c->start(std::move(g), [this, id, p](gateway::GatewayOutcome outcome) {
        retire(id);
        if (outcome.ok) return authenticated(p);
        const bool refused = outcome.error_name.starts_with("org.rsm.Error.");
        log::notice("Broker authentication failed",
                    {{"USER", p->request.user}, {"RSM_CLIENT_ADDRESS", p->client_address},
                     {"RSM_ERROR", outcome.error_name + ": " + outcome.error_message}});
        if (refused) return p->responder.send(http::Response::empty(401));
        // rsm unreachable: not the user's fault, and not a 401.
        p->responder.send(http::Response::text(503, "authentication service unavailable\n"));
    });
}

void BrokerService::authenticated(const std::shared_ptr<Pending>& p) {
    std::optional<std::string> cookie;
    if (config_.authid_lifetime_sec > 0) {
        std::uint64_t now = 0;
        sd_event_now(event_, CLOCK_MONOTONIC, &now);
        cookie = authids_.issue(p->request.user, p->client_address, now);
    }
    core_.serve(p->frontend, p->request, p->client_address, cookie,
                [p](http::Response r) { p->responder.send(std::move(r)); });
}

}  // namespace rsm::broker
