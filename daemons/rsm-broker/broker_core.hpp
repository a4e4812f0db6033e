// What the broker does for an authenticated user, whatever the front end
// (HTTP plain/JSON, or the SSH command): list the profiles the ACLs let
// the user see, select a server for one, test the connection. Answers are
// complete HTTP responses; the SSH front end prints their bodies.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/broker_request.hpp"
#include "broker/profiles.hpp"
#include "autologin_keys.hpp"
#include "broker_config.hpp"
#include "host_probe.hpp"
#include "host_selection.hpp"
#include "http/http_types.hpp"
#include "util/handles.hpp"
#include "util/worker_pool.hpp"

namespace rsm::broker {

class BrokerCore {
public:
    using Reply = std::function<void(http::Response)>;
    BrokerCore(sd_event* event, const BrokerConfig& config, ProfileSet profiles, HostDirectory hosts);
    BrokerCore(const BrokerCore&) = delete;
    BrokerCore& operator=(const BrokerCore&) = delete;

    // `authid`: the cookie to hand out with this answer (nullopt: none).
    // `reply` is called once, maybe from the loop later (selectsession).
    void serve(Frontend frontend, const BrokerRequest& request, const std::string& client_address,
               const std::optional<std::string>& authid, Reply reply);

    const ProfileSet& profiles() const noexcept { return profiles_; }
    // A reload's new profiles and their servers' addresses, from the next request on.
    void replace_profiles(ProfileSet profiles, HostDirectory hosts);
    // For blocking calls (NSS, DNS) off the loop.
    WorkerPool& blocking() noexcept { return blocking_; }

private:
    void serve_with_groups(Frontend frontend, const BrokerRequest& request, const std::string& client_address,
                           const std::optional<std::string>& authid, const std::vector<std::string>& groups,
                           Reply reply);
    void select(Frontend frontend, const Profile& profile, const std::string& user, const std::string& pubkey,
                const std::optional<std::string>& authid, Reply reply);
    // The autologin key line for this selection, or "" (logged why).
    std::string autologin_line(const Profile& profile, const std::string& user, const std::string& pubkey) const;
    void retire(std::uint64_t id);
    static int on_defer(sd_event_source*, void* self);

    sd_event* event_;
    const BrokerConfig& config_;
    ProfileSet profiles_;
    HostDirectory hosts_;
    unsigned agent_slots_ = 0;  // x2gobroker-agent ssh processes running (HostSelection); outlives them
    std::map<std::uint64_t, std::unique_ptr<HostSelection>> selections_;
    std::uint64_t next_selection_ = 1;
    std::vector<std::unique_ptr<HostSelection>> graveyard_;
    AutologinKeys keys_;
    EventSourcePtr defer_;
    WorkerPool blocking_;  // NSS lookups off the loop; last: its workers stop before the rest goes
};

}  // namespace rsm::broker
