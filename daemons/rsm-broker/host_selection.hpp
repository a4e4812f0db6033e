// One selectsession's choice of server, on the loop: asks every host's
// x2gobroker-agent (agent_query.hpp; [hosts] agent = "ssh") for the user's
// sessions (listsessions) and the servers' loads (getservers), ranks the
// hosts (src/broker/host_choice.hpp: suspended session, running session,
// least loaded), checks their SSH ports in that order (host_probe.hpp) and
// falls through to the next; a running session on the chosen host is
// suspended through its agent first (then config.suspend_wait_ms, as
// x2gobroker waits for x2gocleansessions' turn-around), so the client can
// resume it. The
// answer carries the session as SESSION_INFO. Without the agent: the
// profile's order and the port check, as before.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent_query.hpp"
#include "broker/host_choice.hpp"
#include "broker/replies.hpp"
#include "host_probe.hpp"

namespace rsm::broker {

class HostSelection {
public:
    using Done = std::function<void(Selection)>;
    // `targets[i]`: host i's resolved addresses. `agent_slots`: ssh processes
    // running for all selections; this one takes hosts.size() of them if
    // they fit under config.agent_max_queries, else goes without the agent.
    HostSelection(sd_event* event, const BrokerConfig& config, std::vector<Host> hosts, std::vector<ProbeTarget> targets,
                  std::string user, std::string profile_id, std::uint16_t sshport, unsigned& agent_slots, Done done);
    HostSelection(const HostSelection&) = delete;
    HostSelection& operator=(const HostSelection&) = delete;
    ~HostSelection();

private:
    void ask(std::size_t host, std::vector<std::string> args);
    void answered(std::size_t host, bool sessions_step, std::optional<std::string> output, const std::string& error);
    void release_slots();
    void rank();
    void chosen(std::size_t candidate);
    void finish(Selection s);
    static int on_start(sd_event_source*, void* self);
    static int on_suspended(sd_event_source*, std::uint64_t, void* self);

    sd_event* event_;
    const BrokerConfig& config_;
    std::vector<Host> hosts_;
    std::vector<ProbeTarget> targets_;
    std::string user_, profile_id_;
    std::uint16_t sshport_;
    unsigned& agent_slots_;
    unsigned slots_held_ = 0;
    Done done_;
    std::vector<AgentView> views_;
    std::size_t pending_ = 0;
    std::vector<Candidate> ranked_;
    Selection pending_selection_;
    std::vector<std::unique_ptr<AgentQuery>> queries_;  // kept until this ends (never freed in their callbacks)
    std::unique_ptr<HostProbe> probe_;
    EventSourcePtr start_, wait_;
};

}  // namespace rsm::broker
