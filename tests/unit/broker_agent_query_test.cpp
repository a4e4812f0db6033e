// rsm-broker's x2gobroker-agent queries as processes on the loop
// (daemons/rsm-broker/agent_query: output, exit status, deadline, bound)
// and a whole selection with them (host_selection: the user's running
// session is suspended through the agent and sent with status S), against
// a fake ssh that answers as the agent would.
#include <catch2/catch.hpp>

#include <unistd.h>

#include "agent_query.hpp"
#include "fake_ssh.hpp"
#include "host_selection.hpp"
#include "util/handles.hpp"

using namespace rsm::broker;

namespace {

struct Loop {
    rsm::EventPtr event;
    Loop() {
        sd_event* e = nullptr;
        REQUIRE(sd_event_new(&e) >= 0);
        event.reset(e);
    }
    void run() { REQUIRE(sd_event_loop(event.get()) >= 0); }
    void stop() { sd_event_exit(event.get(), 0); }
};

struct Answer {
    std::optional<std::string> output;
    std::string error;
};

Answer query(BrokerConfig config, std::vector<std::string> args = {"listsessions"}) {
    Loop loop;
    Answer a;
    AgentQuery q{loop.event.get(), config, AgentTarget{"10.0.0.1", 22}, "alice", std::move(args),
                 [&](std::optional<std::string> out, std::string error) {
                     a = Answer{std::move(out), std::move(error)};
                     loop.stop();
                 }};
    loop.run();
    return a;
}

const std::string running_line =
    "4242|alice-50-1701234567_stRxterm_dp24|50|a|R|2026-12-04T05:00:00|a1b2c3|127.0.0.1|30001|30002|"
    "2026-12-04T05:01:00|alice|120|30003||";

}  // namespace

TEST_CASE("an agent query returns ssh's stdout", "[broker][agent][process]") {
    FakeSsh ssh("echo OK; echo line; echo noise >&2\n");
    const auto a = query(ssh.config());
    REQUIRE(a.output);
    CHECK(*a.output == "OK\nline\n");
    CHECK(ssh.calls() == "10.0.0.1 /usr/lib/x2go/x2gobroker-agent alice listsessions\n");
}

TEST_CASE("an agent query fails on ssh's exit status, with its stderr", "[broker][agent][process]") {
    FakeSsh ssh("echo 'Host key verification failed.' >&2; exit 255\n");
    const auto a = query(ssh.config());
    CHECK_FALSE(a.output);
    CHECK(a.error == "ssh exited with status 255: Host key verification failed.");
}

TEST_CASE("an agent query is killed at its deadline", "[broker][agent][process]") {
    FakeSsh ssh("exec sleep 30\n");
    auto c = ssh.config();
    c.agent_timeout_ms = 200;
    const auto a = query(c);
    CHECK_FALSE(a.output);
    CHECK(a.error == "no answer within 200 ms");
}

TEST_CASE("an agent query's output is bounded", "[broker][agent][process]") {
    FakeSsh ssh("echo OK; exec head -c 200000 /dev/zero\n");
    const auto a = query(ssh.config());
    CHECK_FALSE(a.output);
    CHECK(a.error.find("64 KiB") != std::string::npos);
}

TEST_CASE("an agent query refuses arguments the far shell would read", "[broker][agent][process]") {
    FakeSsh ssh("echo OK\n");
    const auto a = query(ssh.config(), {"suspendsession", "x;reboot"});
    CHECK_FALSE(a.output);
    CHECK(ssh.calls().empty());
}

TEST_CASE("a running session is suspended through its agent and sent as suspended", "[broker][agent][process]") {
    FakeSsh ssh("case \"$host $cmd\" in\n"
                "  '10.0.0.1 '*' listsessions') echo OK; echo '" + running_line + "' ;;\n"
                "  *' listsessions') echo OK ;;\n"
                "  *' getservers') echo OK; echo 'a 1' ;;\n"
                "  *' suspendsession '*) echo OK ;;\n"
                "  *) exit 1 ;;\n"
                "esac\n");
    const auto config = ssh.config();
    Loop loop;
    unsigned slots = 0;
    std::optional<Selection> got;
    // b is idle, a has alice's running session: a, her session suspended.
    HostSelection sel{loop.event.get(), config, {Host{"b", "10.0.0.2", 22}, Host{"a", "10.0.0.1", 22}},
                      {ProbeTarget{"10.0.0.2:22", {}}, ProbeTarget{"10.0.0.1:22", {}}}, "alice", "pool", 22, slots,
                      [&](Selection s) {
                          got = std::move(s);
                          loop.stop();
                      }};
    loop.run();
    REQUIRE(got);
    CHECK(got->server == "10.0.0.1");
    std::string suspended = running_line;
    suspended.replace(suspended.find("|R|"), 3, "|S|");
    CHECK(got->session_info == suspended);
    CHECK(ssh.calls().find("10.0.0.1 /usr/lib/x2go/x2gobroker-agent alice suspendsession "
                           "alice-50-1701234567_stRxterm_dp24\n") != std::string::npos);
    CHECK(slots == 0);
}

TEST_CASE("without an answering agent the profile's order stands", "[broker][agent][process]") {
    FakeSsh ssh("exit 255\n");
    const auto config = ssh.config();
    Loop loop;
    unsigned slots = 0;
    std::optional<Selection> got;
    HostSelection sel{loop.event.get(), config, {Host{"b", "10.0.0.2", 22}, Host{"a", "10.0.0.1", 22}},
                      {ProbeTarget{"10.0.0.2:22", {}}, ProbeTarget{"10.0.0.1:22", {}}}, "alice", "pool", 22, slots,
                      [&](Selection s) {
                          got = std::move(s);
                          loop.stop();
                      }};
    loop.run();
    REQUIRE(got);
    CHECK(got->server == "10.0.0.2");
    CHECK(got->session_info.empty());
}
