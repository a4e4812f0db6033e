// Broker autologin's keys on the X2Go servers (docs/broker.md,
// "Autologin"), as x2gobroker's select_session does them: the client's
// public key, checked and rebuilt (broker/authkey.hpp), goes into the
// user's authorized_keys on the selected server through that server's
// x2gobroker-agent (addauthkey) before the broker answers, and is deleted
// through it (delauthkey) key_lifetime_sec later (x2gobroker: 20 s). The
// line's own expiry-time= ends the key at that time too, should the
// deletion never run (broker stopped, server unreachable). Agent runs
// count against [hosts] agent_max_queries with the selections' own.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent_query.hpp"

namespace rsm::broker {

class AutologinKeys {
public:
    // `agent_slots`: ssh processes running for the broker (HostSelection's too).
    AutologinKeys(sd_event* event, const BrokerConfig& config, unsigned& agent_slots);
    AutologinKeys(const AutologinKeys&) = delete;
    AutologinKeys& operator=(const AutologinKeys&) = delete;
    ~AutologinKeys();

    // done(accepted): true once the agent has added `line` (an
    // authorized_key_line()) to `path` for `user` on `target`. From the
    // loop, or before add() returns when no agent run is free (false).
    using Done = std::function<void(bool accepted)>;
    void add(AgentTarget target, std::string user, std::string line, std::string path, Done done);

    // Keys added and not yet deleted (for tests and the log).
    std::size_t pending_deletions() const noexcept;

private:
    struct Job;
    void run(Job& job);
    void added(Job& job, std::optional<std::string> output, std::string error);
    void deleted(Job& job, std::optional<std::string> output, std::string error);
    void retire(std::uint64_t id);
    static int on_delete_time(sd_event_source*, std::uint64_t, void* job);
    static int on_defer(sd_event_source*, void* self);

    sd_event* event_;
    const BrokerConfig& config_;
    unsigned& agent_slots_;
    std::map<std::uint64_t, std::unique_ptr<Job>> jobs_;
    std::vector<std::unique_ptr<Job>> graveyard_;  // freed on the next iteration, never in their callbacks
    std::uint64_t next_id_ = 1;
    EventSourcePtr defer_;
};

}  // namespace rsm::broker
