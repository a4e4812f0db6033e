// Fuzz target: what rsm-broker reads from an X2Go server's x2gobroker-agent
// over SSH (src/broker/agent_output: the reply, x2golistsessions lines,
// getservers lines) and the ranking built on it (src/broker/host_choice).
// Properties: no crash; an accepted session line has 14 to 16 fields, no
// byte outside printable ASCII and no blank (it is echoed to clients as
// SESSION_INFO); its name and user could be passed back to the agent's
// command line; ranking puts every host once.
//
// Input: the agent's stdout, as it would arrive.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string_view>

#include "broker/agent_output.hpp"
#include "broker/host_choice.hpp"
#include "fuzz_check.hpp"

using namespace rsm::broker;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto reply = parse_agent_reply(input);
    FUZZ_CHECK(reply.lines.has_value() != !reply.error.empty());
    if (!reply.lines) return 0;
    AgentView view;
    std::vector<AgentSession> sessions;
    for (const auto& line : *reply.lines) {
        FUZZ_CHECK(!line.empty() && line.find('\n') == std::string::npos);
        const auto s = parse_session_line(line);
        FUZZ_CHECK(s.session.has_value() != !s.error.empty());
        if (!s.session) continue;
        for (const char c : s.session->line) FUZZ_CHECK(c > 0x20 && c < 0x7f);
        std::size_t bars = 0;
        for (const char c : s.session->line) bars += c == '|';
        FUZZ_CHECK(bars >= 13 && bars <= 15);
        FUZZ_CHECK(valid_session_name(s.session->name));
        FUZZ_CHECK(valid_agent_user(s.session->user));
        FUZZ_CHECK(valid_server_name(s.session->server));
        FUZZ_CHECK(std::string_view("RSTF").find(s.session->status) != std::string_view::npos);
        sessions.push_back(*s.session);
    }
    const auto servers = parse_getservers(*reply.lines);
    FUZZ_CHECK(servers.servers.has_value() != !servers.error.empty());
    if (servers.servers)
        for (const auto& entry : *servers.servers) FUZZ_CHECK(valid_server_name(entry.first));
    view.sessions = sessions;
    view.servers = servers.servers;
    const std::vector<Host> hosts{{"x2go-a", "127.0.0.1", 22}, {"x2go-b", "x2go-b.example", 22}, {"h", "10.0.0.3", 2222}};
    for (const auto& user : {"alice", "bob"}) {
        const auto ranked = rank_hosts(hosts, {view, AgentView{}, view}, user);
        FUZZ_CHECK(ranked.size() == hosts.size());
        std::set<std::size_t> seen;
        for (const auto& c : ranked) {
            FUZZ_CHECK(c.host < hosts.size() && seen.insert(c.host).second);
            if (c.session) FUZZ_CHECK(c.session->user == user && server_is_host(c.session->server, hosts[c.host]));
        }
    }
    return 0;
}
