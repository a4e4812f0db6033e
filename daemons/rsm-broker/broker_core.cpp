#include "broker_core.hpp"

#include <algorithm>
#include <ctime>
#include <cstring>
#include <stdexcept>

#include "broker/authkey.hpp"
#include "broker/replies.hpp"
#include "user_groups.hpp"
#include "util/log.hpp"

namespace rsm::broker {

namespace {

http::Response body(Frontend f, std::string text) {
    http::Response r = http::Response::text(200, std::move(text));
    if (f == Frontend::json) r.content_type = "text/json; charset=utf-8";  // as x2gobroker
    return r;
}

http::Response selection_reply(Frontend f, const std::optional<std::string>& authid, const Selection& s) {
    return body(f, f == Frontend::plain ? plain_select(authid, s) : json_select(authid, s));
}

}  // namespace

BrokerCore::BrokerCore(sd_event* event, const BrokerConfig& config, ProfileSet profiles, HostDirectory hosts)
    : event_{event}, config_{config}, profiles_{std::move(profiles)}, hosts_{std::move(hosts)},
      keys_{event, config, agent_slots_}, blocking_{event} {
    sd_event_source* d = nullptr;
    if (const int r = sd_event_add_defer(event_, &d, &BrokerCore::on_defer, this); r < 0)
        throw std::runtime_error(std::string("sd_event_add_defer: ") + std::strerror(-r));
    defer_.reset(d);
    sd_event_source_set_enabled(d, SD_EVENT_OFF);
}

void BrokerCore::replace_profiles(ProfileSet profiles, HostDirectory hosts) {
    // Requests in flight hold copies of what they use (hosts, profile id).
    profiles_ = std::move(profiles);
    hosts_ = std::move(hosts);
}

int BrokerCore::on_defer(sd_event_source*, void* self) {
    static_cast<BrokerCore*>(self)->graveyard_.clear();
    return 0;
}

void BrokerCore::serve(Frontend frontend, const BrokerRequest& request, const std::string& client_address,
                       const std::optional<std::string>& authid, Reply reply) {
    // The group ACLs need the user's groups: NSS (maybe LDAP), off the loop.
    blocking_.run<std::vector<std::string>>(
        [user = request.user] { return user_groups(user); },
        [this, frontend, request, client_address, authid, reply = std::move(reply)](std::vector<std::string> groups) mutable {
            serve_with_groups(frontend, request, client_address, authid, groups, std::move(reply));
        });
}

void BrokerCore::serve_with_groups(Frontend frontend, const BrokerRequest& request, const std::string& client_address,
                                   const std::optional<std::string>& authid, const std::vector<std::string>& groups,
                                   Reply reply) {
    switch (request.task) {
    case Task::listsessions:
    case Task::listprofiles: {
        const VisibleProfiles visible = visible_profiles(profiles_, request.user, groups, client_address, config_.autologin_default);
        log::info("Profiles listed", {{"USER", request.user},
                                      {"RSM_CLIENT_ADDRESS", client_address},
                                      {"RSM_BROKER_PROFILES", std::to_string(visible.size())}});
        return reply(body(frontend, frontend == Frontend::plain ? plain_list(authid, visible) : json_list(authid, visible)));
    }
    case Task::selectsession: {
        const Profile* p = profiles_.find(request.profile_id);
        // A profile the ACLs hide is as unknown as one that does not exist.
        if (p && !acl_permits(p->acl, request.user, groups, client_address)) p = nullptr;
        if (!p) {
            log::notice("Unknown or forbidden profile selected",
                        {{"USER", request.user}, {"RSM_CLIENT_ADDRESS", client_address}, {"RSM_BROKER_PROFILE", request.profile_id}});
            return reply(selection_reply(frontend, authid, Selection{"no-server-available", 22, {}}));
        }
        return select(frontend, *p, request.server_user(), request.pubkey, authid, std::move(reply));
    }
    case Task::testcon:
        if (frontend == Frontend::plain) return reply(body(frontend, plain_testcon()));
        return reply(body(frontend, json_header_only("testcon", authid)));
    case Task::checkaccess:
        if (frontend == Frontend::plain) return reply(body(frontend, plain_header(authid)));
        return reply(body(frontend, json_header_only("", authid)));
    case Task::setpass:
        return reply(http::Response::text(501, "setpass: rsm-broker does not change passwords; use passwd on the server\n"));
    }
}

std::string BrokerCore::autologin_line(const Profile& profile, const std::string& user,
                                       const std::string& pubkey) const {
    if (!profile.autologin.value_or(config_.autologin_default)) return {};
    const log::Fields who{{"USER", user}, {"RSM_BROKER_PROFILE", profile.id}};
    if (config_.agent != AgentMode::ssh) {
        log::notice("Broker autologin needs [hosts] agent = \"ssh\"; the client logs in without it", who);
        return {};
    }
    if (pubkey.empty()) {
        // x2goclient sends none (x2gobroker would make a key pair and send its private half).
        log::info("No public key from the client for broker autologin; it logs in without it", who);
        return {};
    }
    auto check = authorized_key_line(pubkey, std::time(nullptr) + config_.key_lifetime_sec);
    if (!check.line) {
        auto fields = who;
        fields.emplace_back("RSM_ERROR", check.error);
        log::notice("The client's public key for broker autologin is refused", fields);
        return {};
    }
    return std::move(*check.line);
}

void BrokerCore::select(Frontend frontend, const Profile& profile, const std::string& user, const std::string& pubkey,
                        const std::optional<std::string>& authid, Reply reply) {
    const std::string profile_id = profile.id;
    std::string key_line = autologin_line(profile, user, pubkey);
    const std::string key_path = profile.authorized_keys.empty() ? config_.authorized_keys : profile.authorized_keys;
    const std::uint16_t sshport = profile.sshport;
    if (profile.hosts.empty())
        return reply(selection_reply(frontend, authid, Selection{"no-server-available", sshport, {}}));
    std::vector<ProbeTarget> targets;
    for (const auto& h : profile.hosts)
        targets.push_back(ProbeTarget{h.address + ":" + std::to_string(h.port), hosts_.lookup(h.address, h.port)});
    const std::uint64_t id = next_selection_++;
    auto selection = std::make_unique<HostSelection>(
        event_, config_, profile.hosts, std::move(targets), user, profile_id, sshport, agent_slots_,
        [this, id, frontend, authid, user, key_line = std::move(key_line), key_path,
         reply = std::move(reply)](Selection s) mutable {
            retire(id);
            // "no-server-available" and the like: no host to put the key on.
            if (key_line.empty() || s.server.starts_with("no-"))
                return reply(selection_reply(frontend, authid, s));
            keys_.add(AgentTarget{s.server, s.port}, user, std::move(key_line), key_path,
                      [frontend, authid, s, reply = std::move(reply)](bool accepted) mutable {
                          s.pubkey_accepted = accepted;
                          reply(selection_reply(frontend, authid, s));
                      });
        });
    selections_.emplace(id, std::move(selection));
}

// A finished selection is freed on the next loop iteration, never inside
// its own callback.
void BrokerCore::retire(std::uint64_t id) {
    const auto it = selections_.find(id);
    if (it == selections_.end()) return;
    graveyard_.push_back(std::move(it->second));
    selections_.erase(it);
    sd_event_source_set_enabled(defer_.get(), SD_EVENT_ONESHOT);
}

}  // namespace rsm::broker
