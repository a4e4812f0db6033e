// rsm-broker's x2gobroker-agent support: the agent's output read at the
// edge (src/broker/agent_output), the ranking of a profile's hosts
// (src/broker/host_choice: suspended, running, least loaded), the [hosts]
// agent keys of broker.toml and the ssh command line (agent_query).
#include <catch2/catch.hpp>

#include <string>

#include "agent_query.hpp"
#include "broker/agent_output.hpp"
#include "broker/host_choice.hpp"
#include "broker_config.hpp"

using namespace rsm::broker;

namespace {

// As x2golistsessions --all-servers prints it (x2goserver 4.1, SQLite backend).
std::string line(const std::string& name, const std::string& server, char status, const std::string& user = "alice") {
    return "4242|" + name + "|50|" + server + "|" + status +
           "|2026-12-04T05:00:00|a1b2c3d4e5f60718293a4b5c6d7e8f90|127.0.0.1|30001|30002|2026-12-04T05:01:00|" + user +
           "|120|30003||";
}

AgentSession session(const std::string& name, const std::string& server, char status, const std::string& user = "alice") {
    auto p = parse_session_line(line(name, server, status, user));
    REQUIRE(p.session);
    return *p.session;
}

Host host(const std::string& name, const std::string& address, std::uint16_t port = 22) { return Host{name, address, port}; }

}  // namespace

TEST_CASE("agent replies start with OK", "[broker][agent]") {
    auto r = parse_agent_reply("OK\nline one\n\nline two\n");
    REQUIRE(r.lines);
    CHECK(*r.lines == std::vector<std::string>{"line one", "line two"});
    CHECK(parse_agent_reply("OK\n").lines->empty());
    CHECK(parse_agent_reply("OK\r\nx\r\n").lines->at(0) == "x");
    CHECK_FALSE(parse_agent_reply("").lines);
    CHECK_FALSE(parse_agent_reply("no such user on system: bob\n").lines);
    CHECK(parse_agent_reply("FAILED\n").error.find("did not answer OK") != std::string::npos);
    CHECK_FALSE(parse_agent_reply(std::string("OK\na\0b\n", 8)).lines);
    CHECK_FALSE(parse_agent_reply("OK\n" + std::string(max_agent_output, 'x')).lines);
}

TEST_CASE("x2golistsessions lines are validated field by field", "[broker][agent]") {
    const auto p = parse_session_line(line("alice-50-1701234567_stRgreen-xterm_dp24", "x2go-b", 'S'));
    REQUIRE(p.session);
    CHECK(p.session->name == "alice-50-1701234567_stRgreen-xterm_dp24");
    CHECK(p.session->server == "x2go-b");
    CHECK(p.session->user == "alice");
    CHECK(p.session->status == 'S');
    CHECK(p.session->line == line("alice-50-1701234567_stRgreen-xterm_dp24", "x2go-b", 'S'));
    // 14 fields (no TeKi ports) and -1 ports are x2goserver's too.
    CHECK(parse_session_line("1|s_stR_dp24|50|h|R|2026-12-04T05:00:00|ab|10.0.0.1|-1|-1|2026-12-04T05:00:00|bob|-3|-1").session);
    // What must not reach a client as SESSION_INFO.
    const std::string good = line("s_stR_dp24", "h", 'S');
    CHECK_FALSE(parse_session_line(good + "|extra").session);
    CHECK_FALSE(parse_session_line("1|2|3").session);
    CHECK_FALSE(parse_session_line(line("s_stR_dp24", "h", 'X')).session);
    CHECK_FALSE(parse_session_line(line("s name", "h", 'S')).session);
    CHECK_FALSE(parse_session_line(line("s;rm -rf", "h", 'S')).session);
    CHECK_FALSE(parse_session_line(line("-s", "h", 'S')).session);
    CHECK_FALSE(parse_session_line(line("s", "h\r", 'S')).session);
    CHECK_FALSE(parse_session_line(line("s", "h", 'S', "al ice")).session);
    CHECK_FALSE(parse_session_line("x" + good).session);  // pid not a number
    CHECK_FALSE(parse_session_line(good + std::string(1100, '1')).session);
    CHECK(parse_session_line(line("s", "h", 'X')).error.find("status") != std::string::npos);
}

TEST_CASE("getservers lines with and without a count", "[broker][agent]") {
    auto r = parse_getservers({"x2go-a 3", "x2go-b"});
    REQUIRE(r.servers);
    CHECK(r.servers->at("x2go-a") == 3);
    CHECK(r.servers->at("x2go-b") == 1);
    CHECK_FALSE(parse_getservers({"x2go-a three"}).servers);
    CHECK_FALSE(parse_getservers({"x2go-a 3 4"}).servers);
    CHECK_FALSE(parse_getservers({"x2go a"}).servers);
    CHECK_FALSE(parse_getservers({"x2go|a 1"}).servers);
    CHECK_FALSE(parse_getservers({"x2go-a "}).servers);
}

TEST_CASE("names passed to the agent's command line", "[broker][agent]") {
    CHECK(valid_agent_user("alice"));
    CHECK(valid_agent_user("a.b-c_d@example"));
    CHECK_FALSE(valid_agent_user(""));
    CHECK_FALSE(valid_agent_user("-oProxyCommand"));
    CHECK_FALSE(valid_agent_user("a b"));
    CHECK_FALSE(valid_agent_user("a;b"));
    CHECK_FALSE(valid_agent_user("a'b"));
    CHECK_FALSE(valid_agent_user("a$b"));
    CHECK(valid_session_name("listsessions"));
    CHECK(valid_session_name("alice-50-1701234567_stRgreen-xterm_dp24"));
    CHECK_FALSE(valid_session_name("a`b`"));
}

TEST_CASE("server names match profile hosts as x2gobroker matches them", "[broker][agent]") {
    CHECK(server_is_host("ts01", host("ts01", "10.0.0.1")));
    CHECK(server_is_host("TS01", host("ts01", "10.0.0.1")));
    CHECK(server_is_host("ts01", host("ts01.intern", "ts01.intern")));
    CHECK(server_is_host("ts01.intern", host("ts01", "10.0.0.1")));
    CHECK(server_is_host("10.0.0.1", host("ts01", "10.0.0.1")));
    CHECK_FALSE(server_is_host("ts02", host("ts01", "10.0.0.1")));
    CHECK_FALSE(server_is_host("10.0.0.12", host("x", "10.0.0.1")));
    CHECK_FALSE(server_is_host("10", host("x", "10.0.0.1")));
}

TEST_CASE("hosts ranked: suspended session, running session, least loaded", "[broker][agent]") {
    const std::vector<Host> hosts{host("a", "10.0.0.1"), host("b", "10.0.0.2"), host("c", "10.0.0.3")};
    const auto order = [](const std::vector<Candidate>& cs) {
        std::vector<std::size_t> out;
        for (const auto& c : cs) out.push_back(c.host);
        return out;
    };
    SECTION("no agent answered: the profile's order") {
        const auto r = rank_hosts(hosts, {{}, {}, {}}, "alice");
        CHECK(order(r) == std::vector<std::size_t>{0, 1, 2});
        CHECK_FALSE(r[0].session);
        CHECK(order(rank_hosts(hosts, {}, "alice")) == std::vector<std::size_t>{0, 1, 2});
    }
    SECTION("the user's suspended session before a running one, both before load") {
        AgentView v;
        v.sessions = std::vector{session("r1", "a", 'R'), session("s1", "c", 'S'), session("bob1", "b", 'S', "bob")};
        v.servers = std::map<std::string, unsigned>{{"a", 1}, {"b", 1}, {"c", 1}};
        const auto r = rank_hosts(hosts, {v, v, v}, "alice");
        CHECK(order(r) == std::vector<std::size_t>{2, 0, 1});
        REQUIRE(r[0].session);
        CHECK(r[0].session->name == "s1");
        REQUIRE(r[1].session);
        CHECK(r[1].session->status == 'R');
        CHECK_FALSE(r[2].session);  // bob's session is not alice's
    }
    SECTION("sessions on servers outside the profile are ignored") {
        AgentView v;
        v.sessions = std::vector{session("s1", "elsewhere", 'S')};
        v.servers = std::map<std::string, unsigned>{};
        const auto r = rank_hosts(hosts, {v, v, v}, "alice");
        CHECK(order(r) == std::vector<std::size_t>{0, 1, 2});
        CHECK_FALSE(r[0].session);
    }
    SECTION("least loaded first, idle servers count 0, ties in profile order") {
        AgentView v;
        v.sessions = std::vector<AgentSession>{};
        v.servers = std::map<std::string, unsigned>{{"a", 5}, {"b", 2}};
        CHECK(order(rank_hosts(hosts, {v, v, v}, "alice")) == std::vector<std::size_t>{2, 1, 0});
    }
    SECTION("per-host databases: each agent reports its own server") {
        AgentView a, b, c;
        a.sessions = b.sessions = c.sessions = std::vector<AgentSession>{};
        a.servers = std::map<std::string, unsigned>{{"a", 1}};
        b.servers = std::map<std::string, unsigned>{};
        c.servers = std::map<std::string, unsigned>{{"c", 4}};
        c.sessions = std::vector{session("s9", "c", 'S')};
        const auto r = rank_hosts(hosts, {a, b, c}, "alice");
        CHECK(order(r) == std::vector<std::size_t>{2, 1, 0});
        CHECK(r[0].session);
    }
    SECTION("a host whose agent did not answer goes last") {
        AgentView ok;
        ok.sessions = std::vector<AgentSession>{};
        ok.servers = std::map<std::string, unsigned>{{"b", 3}, {"c", 3}};
        CHECK(order(rank_hosts(hosts, {AgentView{}, ok, ok}, "alice")) == std::vector<std::size_t>{1, 2, 0});
    }
}

TEST_CASE("broker.toml [hosts] agent keys", "[broker][agent]") {
    const auto c = parse_broker_config("[hosts]\nagent = \"ssh\"\nagent_user = \"x2gobroker\"\n"
                                       "agent_key = \"/etc/rsm/broker-agent-key\"\nknown_hosts = \"/etc/rsm/kh\"\n"
                                       "agent_timeout_ms = 3000\nagent_max_queries = 4\n",
                                       "broker.toml");
    REQUIRE(c.config);
    CHECK(c.config->agent == AgentMode::ssh);
    CHECK(c.config->agent_key == "/etc/rsm/broker-agent-key");
    CHECK(c.config->known_hosts == "/etc/rsm/kh");
    CHECK(c.config->agent_timeout_ms == 3000);
    CHECK(c.config->agent_max_queries == 4);
    CHECK(parse_broker_config("", "b").config->agent == AgentMode::none);
    CHECK(parse_broker_config("[hosts]\nagent = \"local\"\n", "b").error.find("agent: expected") != std::string::npos);
    CHECK_FALSE(parse_broker_config("[hosts]\nagent = \"local\"\n", "b").config);
    CHECK_FALSE(parse_broker_config("[hosts]\nagent_user = \"-o\"\n", "b").config);
    CHECK_FALSE(parse_broker_config("[hosts]\nagent_key = \"relative\"\n", "b").config);
    CHECK_FALSE(parse_broker_config("[hosts]\nagent_command = \"/usr/lib/x2go/x2gobroker-agent; id\"\n", "b").config);
}

TEST_CASE("the agent's ssh command line", "[broker][agent]") {
    BrokerConfig c;
    c.agent_key = "/k";
    c.known_hosts = "/kh";
    c.agent_timeout_ms = 3000;
    const auto argv = AgentQuery::command_line(c, AgentTarget{"127.0.0.2", 22471}, "alice", {"listsessions"});
    const auto has = [&](const std::string& a) { return std::find(argv.begin(), argv.end(), a) != argv.end(); };
    CHECK(argv.front() == "/usr/bin/ssh");
    CHECK(has("BatchMode=yes"));
    CHECK(has("StrictHostKeyChecking=yes"));
    CHECK(has("UserKnownHostsFile=/kh"));
    CHECK(has("ConnectTimeout=3"));
    CHECK(has("/k"));
    CHECK(has("22471"));
    CHECK(has("x2gobroker"));
    CHECK(argv[argv.size() - 3] == "--");
    CHECK(argv[argv.size() - 2] == "127.0.0.2");
    CHECK(argv.back() == "/usr/lib/x2go/x2gobroker-agent alice listsessions");
}

TEST_CASE("the shipped broker.toml's [hosts] keys, uncommented, are the defaults", "[broker][agent]") {
    const auto c = parse_broker_config("[hosts]\nagent = \"none\"\nagent_user = \"x2gobroker\"\nagent_key = \"\"\n"
                                       "known_hosts = \"/etc/rsm/broker-known-hosts\"\n"
                                       "agent_command = \"/usr/lib/x2go/x2gobroker-agent\"\n"
                                       "agent_timeout_ms = 5000\nagent_max_queries = 16\n",
                                       "broker.toml");
    REQUIRE(c.config);
    const BrokerConfig d;
    CHECK(c.config->agent == d.agent);
    CHECK(c.config->agent_user == d.agent_user);
    CHECK(c.config->agent_key == d.agent_key);
    CHECK(c.config->known_hosts == d.known_hosts);
    CHECK(c.config->agent_command == d.agent_command);
    CHECK(c.config->agent_timeout_ms == d.agent_timeout_ms);
    CHECK(c.config->agent_max_queries == d.agent_max_queries);
}
