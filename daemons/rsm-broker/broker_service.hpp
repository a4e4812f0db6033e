// rsm-broker's HTTP front end: routes POST /plain/<backend>/ and
// /json/<backend>/, validates the form, authenticates (never itself: a
// password login through rsm's gateway socket as a trusted gateway, with
// the client's address; or an authid cookie; or nobody with auth "none"),
// then lets BrokerCore answer. A failed authentication is HTTP 401 with no
// body, as x2goclient and python-x2go expect.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "broker/authid_store.hpp"
#include "broker_core.hpp"
#include "gateway/gateway_client.hpp"
#include "http/http_server.hpp"

namespace rsm::broker {

class BrokerService {
public:
    BrokerService(sd_event* event, const BrokerConfig& config, BrokerCore& core);
    BrokerService(const BrokerService&) = delete;
    BrokerService& operator=(const BrokerService&) = delete;

    void handle(http::Request request, http::Responder responder);

    // Logins waiting for rsm at once; more are answered 503.
    static constexpr std::size_t max_pending_logins = 128;

private:
    struct Pending;
    void authenticated(const std::shared_ptr<Pending>& p);
    void retire(std::uint64_t id);
    static int on_defer(sd_event_source*, void* self);

    sd_event* event_;
    const BrokerConfig& config_;
    BrokerCore& core_;
    AuthidStore authids_;
    std::map<std::uint64_t, std::unique_ptr<gateway::GatewayClient>> logins_;
    std::vector<std::unique_ptr<gateway::GatewayClient>> graveyard_;
    std::uint64_t next_login_ = 1;
    EventSourcePtr defer_;
};

}  // namespace rsm::broker
