// Which of a profile's X2Go servers a user is sent to, from what their
// x2gobroker-agents said (agent_output.hpp), as x2gobroker's select_session
// (brokers/base_broker.py) decides, and better: the user's suspended
// session first, else a running one (to be suspended through the agent and
// resumed), else the least-loaded server. Every agent of the profile is
// asked, not one at random, so servers with their own session database
// (SQLite, x2goserver's default) are seen as well as a farm sharing one.
// The result is an order to try: the caller checks each server's SSH port
// and falls through to the next (and then sends no session).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "broker/agent_output.hpp"
#include "broker/profiles.hpp"

namespace rsm::broker {

// One host's agent: nullopt where a query failed.
struct AgentView {
    std::optional<std::vector<AgentSession>> sessions;  // listsessions
    std::optional<std::map<std::string, unsigned>> servers;  // getservers
};

struct Candidate {
    std::size_t host = 0;  // index into the profile's hosts
    std::optional<AgentSession> session;  // to resume there (status R: suspend it first)
};

// Does an X2Go server's own name (from its session database) denote `host`?
// Its name or address, or the same first label (ts01 and ts01.intern),
// case-insensitive, as x2gobroker's matching_hostnames.
bool server_is_host(const std::string& server, const Host& host);

// `views[i]` is host i's agent. Every host appears once: hosts with a
// session of `user` (suspended before running, in the agents' order), then
// the others by load (sessions on them, fewest first; ties in profile
// order), hosts whose agent did not answer last. No agent answered: the
// profile's order.
std::vector<Candidate> rank_hosts(const std::vector<Host>& hosts, const std::vector<AgentView>& views,
                                  const std::string& user);

}  // namespace rsm::broker
