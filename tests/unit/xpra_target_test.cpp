// Which session an xpra client asks for (daemons/rsm-gateway/xpra_target.hpp),
// from hellos shaped like xpra 3.1.3's: `xpra attach` (username, display)
// and `xpra start[-desktop] tcp://...` (start-new-session, as
// xpra/scripts/main.py run_remote_server builds it).
#include <catch2/catch.hpp>

#include "xpra_auth.hpp"
#include "xpra_target.hpp"

using namespace rsm::gateway;
using namespace rsm::gateway::xpra;

namespace {

Value hello(Dict caps) { return Value(std::move(caps)); }

}  // namespace

TEST_CASE("xpra target: the session kinds' names are CreateSession's types", "[xpra]") {
    CHECK(to_string(SessionKind::seamless) == "xpra");
    CHECK(to_string(SessionKind::desktop) == "xpra-desktop");
    CHECK(session_kind_from_string("xpra-desktop") == SessionKind::desktop);
    CHECK(session_kind_from_string("xpra") == SessionKind::seamless);
    CHECK_FALSE(session_kind_from_string("xvnc"));
}

TEST_CASE("xpra target: user name selectors", "[xpra]") {
    auto t = target_of_hello(hello({{"username", "alice"}}));
    REQUIRE(t.target);
    CHECK(t.target->selector.user == "alice");
    CHECK(t.target->selector.kind == UserSelector::Kind::policy);
    CHECK(t.target->kind == SessionKind::seamless);
    CHECK(t.target->display.empty());

    t = target_of_hello(hello({{"username", "alice:desktop"}}));
    REQUIRE(t.target);
    CHECK(t.target->selector.user == "alice");
    CHECK(t.target->selector.kind == UserSelector::Kind::policy);
    CHECK(t.target->kind == SessionKind::desktop);

    t = target_of_hello(hello({{"username", "alice:new"}}));
    REQUIRE(t.target);
    CHECK(t.target->selector.kind == UserSelector::Kind::new_session);
    CHECK(t.target->kind == SessionKind::seamless);

    t = target_of_hello(hello({{"username", "alice:3f2a"}}));
    REQUIRE(t.target);
    CHECK(t.target->selector.kind == UserSelector::Kind::session);
    CHECK(t.target->selector.session_prefix == "3f2a");

    // ":desktop" is a selector of its own, not a suffix of another one.
    for (const char* bad : {"", ":desktop", "alice:new:desktop", "alice:3f2a:desktop", "alice:Desktop"}) {
        INFO(bad);
        t = target_of_hello(hello({{"username", bad}}));
        CHECK_FALSE(t.target);
        CHECK(t.client_error.starts_with("rsm-gateway: give a user name"));
    }
    CHECK_FALSE(target_of_hello(hello({})).target);
    CHECK_FALSE(target_of_hello(hello({{"username", 7}})).target);
}

TEST_CASE("xpra target: the hello's display", "[xpra]") {
    auto t = target_of_hello(hello({{"username", "alice"}, {"display", ":12"}}));
    REQUIRE(t.target);
    CHECK(t.target->display == ":12");
    t = target_of_hello(hello({{"username", "alice"}, {"display", "12"}}));
    REQUIRE(t.target);
    CHECK(t.target->display == ":12");
    for (const char* bad : {":", ":x", ":123456", "12.0", "/tmp/x", ":1 "}) {
        INFO(bad);
        t = target_of_hello(hello({{"username", "alice"}, {"display", bad}}));
        CHECK_FALSE(t.target);
        CHECK(t.client_error == "rsm-gateway: invalid display: use :N");
    }
}

TEST_CASE("xpra target: start-new-session from xpra start and start-desktop", "[xpra]") {
    // xpra start-desktop tcp://alice@HOST:PORT/: {"mode": "start-desktop", "display": ""}
    auto t = target_of_hello(
        hello({{"username", "alice"}, {"start-new-session", Dict{{"mode", "start-desktop"}, {"display", ""}}}}));
    REQUIRE(t.target);
    CHECK(t.target->kind == SessionKind::desktop);
    CHECK(t.target->selector.kind == UserSelector::Kind::new_session);
    t = target_of_hello(hello({{"username", "alice"}, {"start-new-session", Dict{{"mode", "start"}}}}));
    REQUIRE(t.target);
    CHECK(t.target->kind == SessionKind::seamless);
    CHECK(t.target->selector.kind == UserSelector::Kind::new_session);
    // USER:new says the same.
    t = target_of_hello(hello({{"username", "alice:new"}, {"start-new-session", Dict{{"mode", "start"}}}}));
    CHECK(t.target);

    t = target_of_hello(hello({{"username", "alice"}, {"start-new-session", Dict{{"mode", "shadow"}}}}));
    CHECK_FALSE(t.target);
    CHECK(t.client_error == "rsm-gateway: cannot start a session of mode 'shadow' (start, start-desktop)");
    t = target_of_hello(hello({{"username", "alice"}, {"start-new-session", Dict{}}}));
    CHECK_FALSE(t.target);
    t = target_of_hello(hello({{"username", "alice"}, {"start-new-session", "start-desktop"}}));
    CHECK_FALSE(t.target);
    CHECK(t.client_error == "invalid packet: start-new-session must be a dict");
    // A new session cannot be an existing one, nor on a display of the client's choosing.
    for (const char* name : {"alice:desktop", "alice:3f2a"}) {
        INFO(name);
        t = target_of_hello(hello({{"username", name}, {"start-new-session", Dict{{"mode", "start"}}}}));
        CHECK_FALSE(t.target);
    }
    t = target_of_hello(
        hello({{"username", "alice"}, {"start-new-session", Dict{{"mode", "start"}, {"display", ":7"}}}}));
    CHECK(t.client_error == "rsm-gateway: rsm chooses a new session's display: give none");
    t = target_of_hello(
        hello({{"username", "alice"}, {"display", ":7"}, {"start-new-session", Dict{{"mode", "start"}}}}));
    CHECK_FALSE(t.target);
}

TEST_CASE("xpra: the password is asked for only over TLS or from loopback", "[xpra]") {
    CHECK(password_login_allowed(true, false));
    CHECK(password_login_allowed(false, true));
    CHECK(password_login_allowed(true, true));
    CHECK_FALSE(password_login_allowed(false, false));
}
