// Tests for the nxagent display type: src/session/nx_display (the NX
// display string), config's checks of [display.nxagent], and, compiled in
// from daemons/rsm-session, display_readiness (stderr lines -> ready /
// suspended, forwarded) and nx_connect (the owner check of the port).
#include <catch2/catch.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <chrono>
#include <cerrno>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>
#include <vector>

#include "config/config.hpp"
#include "config/config_checks.hpp"
#include "display_readiness.hpp"
#include "nx_connect.hpp"
#include "session/nx_display.hpp"

using namespace rsm;

TEST_CASE("nx: the display string always listens on loopback with rsm's port", "[nx]") {
    CHECK(session::nx_display_options("link=lan", 4011) == "nx/nx,link=lan,listen=4011,loopback=1,accept=127.0.0.1");
    CHECK(session::nx_display_options("", 4011) == "nx/nx,listen=4011,loopback=1,accept=127.0.0.1");
    CHECK(session::nx_options_file_text("nx/nx,listen=4011,loopback=1,accept=127.0.0.1", "00ff", 11) ==
          "nx/nx,listen=4011,loopback=1,accept=127.0.0.1,cookie=00ff:11");
}

TEST_CASE("nx: the executor accepts only well-formed display strings", "[nx]") {
    CHECK(session::valid_nx_display_options("nx/nx,link=lan,listen=4011,loopback=1,accept=127.0.0.1"));
    CHECK_FALSE(session::valid_nx_display_options(""));
    CHECK_FALSE(session::valid_nx_display_options("nx/nx,"));
    CHECK_FALSE(session::valid_nx_display_options("x/nx,link=lan"));
    CHECK_FALSE(session::valid_nx_display_options("nx/nx,link=lan:5"));    // ':' ends the options
    CHECK_FALSE(session::valid_nx_display_options("nx/nx,link=lan,,a=b"));  // empty option
    CHECK_FALSE(session::valid_nx_display_options("nx/nx,link"));           // no value
    CHECK_FALSE(session::valid_nx_display_options("nx/nx,a=b c"));
    CHECK_FALSE(session::valid_nx_display_options("nx/nx,a=b\n"));
}

TEST_CASE("nx: config refuses nx_options that would override rsm's own", "[nx][config]") {
    CHECK_FALSE(config::check_nx_options(""));
    CHECK_FALSE(config::check_nx_options("link=lan"));
    CHECK_FALSE(config::check_nx_options("link=lan,pack=16m-jpeg-9"));
    for (const char* own : {"listen=1", "loopback=0", "accept=0.0.0.0", "cookie=00", "connect=h", "link=lan,port=1"})
        CHECK(config::check_nx_options(own));
    CHECK(config::check_nx_options("link"));
    CHECK(config::check_nx_options("link=lan:1"));
    CHECK(config::check_nx_options("link=lan,"));
    CHECK(config::check_output_line("bad\nline"));
    CHECK(config::check_output_line(std::string(201, 'x')));
    CHECK_FALSE(config::check_output_line("Waiting for connection"));
    CHECK_THROWS_WITH(config::parse_string("[display.nxagent]\nnx_options = \"accept=0.0.0.0\"\n", "t.toml"),
                      Catch::Contains("display.nxagent.nx_options"));
    const config::Config c = config::parse_string("[display.nxagent]\nready_line = \"\"\n", "t.toml");
    CHECK(c.display.nxagent.ready_line.empty());
    CHECK(config::Config{}.display.nxagent.ready_line == "Waiting for connection");
    CHECK(config::Config{}.display.xvnc.ready_line.empty());
}

TEST_CASE("nx: LineSplitter cuts lines, drops NULs and CRs, bounds a line", "[nx]") {
    session::LineSplitter s{8};
    std::vector<std::string> lines;
    auto add = [&](std::string_view l) { lines.emplace_back(l); };
    s.feed(std::string_view{"ab\0c\r\nde", 8}, add);
    CHECK(lines == std::vector<std::string>{"abc"});
    s.feed("f\n0123456789\n", add);
    CHECK(lines == std::vector<std::string>{"abc", "def", "01234567", "89"});
    s.feed("tail", add);
    s.finish(add);
    CHECK(lines.back() == "tail");
}

TEST_CASE("nx: DisplayOutput reports the ready line once and every suspend and resume line", "[nx]") {
    session::DisplayOutput out{{"Waiting for connection", "Session: Session suspended", "Session: Session started",
                                "Session: Resuming session"},
                               "rsm-unit-test"};
    const int w = out.write_fd();
    auto say = [&](const std::string& text) { REQUIRE(write(w, text.data(), text.size()) == ssize_t(text.size())); };

    say("Info: Agent running\nInfo: Waiting for conn");
    auto ev = out.read_available();
    CHECK_FALSE(ev.ready);  // half a line is no line
    say("ection from '127.0.0.1' on socket 'tcp:localhost:4011'.\n");
    ev = out.read_available();
    CHECK(ev.ready);
    CHECK(ev.ready_lines == 1);
    CHECK(ev.suspended == 0);

    say("Session: Session started at 'x'.\n");
    ev = out.read_available();
    CHECK(ev.started);
    say("Session: Session started at 'y'.\n");
    CHECK_FALSE(out.read_available().started);  // the first time only

    say("Session: Suspending session at 'x'.\nSession: Session suspended at 'x'.\n");
    ev = out.read_available();
    CHECK(ev.suspended == 1);
    CHECK(ev.resuming == 0);
    CHECK_FALSE(ev.ready);
    say("Session: Resuming session at 'x'.\nInfo: Waiting for connection from '127.0.0.1'\n");
    ev = out.read_available();
    CHECK(ev.resuming == 1);
    CHECK_FALSE(ev.ready);  // the first time only
    CHECK(ev.ready_lines == 1);

    ev = out.read_available();  // nothing there: never blocks
    CHECK_FALSE(ev.eof);
    out.close_write_end();
    ev = out.read_available();
    CHECK(ev.eof);
    CHECK_FALSE(out.open());
}

TEST_CASE("nx: the NX port must belong to the session's user", "[nx]") {
    const int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(l >= 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(l, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    REQUIRE(listen(l, 4) == 0);
    socklen_t len = sizeof sa;
    REQUIRE(getsockname(l, reinterpret_cast<sockaddr*>(&sa), &len) == 0);
    const auto port = ntohs(sa.sin_port);

    // Not accept()ed: the kernel's view of the other end is the listener's.
    UniqueFd c = session::connect_loopback_tcp(port);
    CHECK(session::check_tcp_peer_owner(c.get(), port, getuid()) == "");
    CHECK_THAT(session::check_tcp_peer_owner(c.get(), port, getuid() + 1), Catch::Contains("expected"));
    // Accepted: the same.
    const int a = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(a >= 0);
    CHECK(session::check_tcp_peer_owner(c.get(), port, getuid()) == "");
    CHECK_THAT(session::check_tcp_peer_owner(c.get(), port, getuid() + 1), Catch::Contains("expected"));
    close(a);
    close(l);

    // Nothing listens any more.
    CHECK_THROWS_WITH(session::connect_loopback_tcp(port), Catch::Contains("127.0.0.1:" + std::to_string(port)));
}

TEST_CASE("nx: a refused connect is 'not listening', other failures are not", "[nx]") {
    // A port nothing listens on: bound, never listen()ed, so no one else
    // takes it meanwhile.
    const int b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(b >= 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(b, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    socklen_t len = sizeof sa;
    REQUIRE(getsockname(b, reinterpret_cast<sockaddr*>(&sa), &len) == 0);
    bool refused = false;
    try {
        (void)session::connect_loopback_tcp(ntohs(sa.sin_port));
    } catch (const std::system_error& e) {
        CHECK(e.code() == std::errc::connection_refused);
        refused = session::not_listening(e);
    }
    close(b);
    CHECK(refused);  // the executor answers org.rsm.Error.DisplayNotListening
    CHECK(session::not_listening(std::system_error(ETIMEDOUT, std::generic_category(), "connect")));
    CHECK_FALSE(session::not_listening(std::system_error(EMFILE, std::generic_category(), "socket")));
    CHECK_FALSE(session::not_listening(std::system_error(ENETUNREACH, std::generic_category(), "connect")));
}

TEST_CASE("nx: a shadowing nxagent's display string attaches to the session's display", "[nx][shadow]") {
    const std::string base = session::nx_display_options("link=lan", 4061);
    CHECK(session::nx_shadow_options(base, 57, true, 1001) ==
          "nx/nx,link=lan,listen=4061,loopback=1,accept=127.0.0.1,shadow=:57,shadowmode=1,shadowuid=1001");
    CHECK(session::nx_shadow_options(base, 57, false, 1001).find(",shadowmode=0,") != std::string::npos);
    CHECK(session::nx_options_file_text(session::nx_shadow_options(base, 57, true, 1001), "00ff", 61)
              .ends_with(",shadowuid=1001,cookie=00ff:61"));
}

TEST_CASE("nx: [shadow] defaults, and nx_options may not set the shadow's own options", "[nx][shadow][config]") {
    const config::Config defaults;
    CHECK(defaults.shadow.allow_other_users);
    CHECK(defaults.shadow.consent_timeout == std::chrono::seconds{30});
    CHECK(defaults.shadow.argv.front() == "nxagent");
    CHECK(std::find(defaults.shadow.argv.begin(), defaults.shadow.argv.end(), "-S") != defaults.shadow.argv.end());
    CHECK(defaults.shadow.consent_argv.front() == "xmessage");
    for (const char* own : {"shadow=:1", "shadowmode=1", "link=lan,shadowuid=0"}) CHECK(config::check_nx_options(own));
    const config::Config c = config::parse_string(
        "[shadow]\nallow_other_users = false\nconsent_timeout = 5\nconsent_argv = [\"/bin/false\", \"%u\"]\n",
        "t.toml");
    CHECK_FALSE(c.shadow.allow_other_users);
    CHECK(c.shadow.consent_timeout == std::chrono::seconds{5});
    CHECK(c.shadow.consent_argv == std::vector<std::string>{"/bin/false", "%u"});
    CHECK_THROWS_WITH(config::parse_string("[shadow]\nconsent_timeout = 0\n", "t.toml"),
                      Catch::Contains("shadow.consent_timeout"));
    CHECK_THROWS_WITH(config::parse_string("[shadow]\nconsent_argv = [\"x%q\"]\n", "t.toml"),
                      Catch::Contains("shadow.consent_argv"));
    CHECK_THROWS_WITH(config::parse_string("[shadow]\nnx_options = \"shadow=:0\"\n", "t.toml"),
                      Catch::Contains("shadow.nx_options"));
}
