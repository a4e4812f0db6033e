// Tests for src/session/reconnect_policy: parsing the letters, and which
// session choose_session() picks for each letter and each preference rule.
#include <catch2/catch.hpp>

#include "session/reconnect_policy.hpp"

using rsm::session::choose_session;
using rsm::session::ReconnectPolicy;
using rsm::session::Record;
using rsm::session::SessionRequest;
using rsm::session::State;

namespace {

// A ready, disconnected xvnc session of uid 1000 that matches request().
Record session(const std::string& id) {
    Record r;
    r.id = id;
    r.uid = 1000;
    r.user = "alice";
    r.type = "xvnc";
    r.state = State::disconnected;
    r.complete = true;
    r.width = 1024;
    r.height = 768;
    r.depth = 24;
    r.client_address = "10.0.0.1";
    r.created_usec = 100;
    r.disconnected_usec = 200;
    return r;
}

SessionRequest request() {
    SessionRequest q;
    q.uid = 1000;
    q.type = "xvnc";
    q.width = 1024;
    q.height = 768;
    q.depth = 24;
    q.client_address = "10.0.0.1";
    return q;
}

std::optional<std::string> choose(const std::vector<Record>& records, const SessionRequest& q,
                                  const std::string& policy) {
    std::vector<const Record*> candidates;
    for (const auto& r : records)
        candidates.push_back(&r);
    return choose_session(candidates, q, ReconnectPolicy::parse(policy));
}

}  // namespace

TEST_CASE("reconnect policy: parsing letters", "[reconnect_policy]") {
    const auto ubdi = ReconnectPolicy::parse("IDBU");
    CHECK(ubdi.depth);
    CHECK(ubdi.geometry);
    CHECK(ubdi.client_address);
    CHECK_FALSE(ubdi.never);
    CHECK(ubdi.to_string() == "UBDI");

    const auto u = ReconnectPolicy::parse("U");
    CHECK_FALSE(u.depth);
    CHECK_FALSE(u.geometry);
    CHECK_FALSE(u.client_address);
    CHECK(u.to_string() == "U");

    CHECK(ReconnectPolicy::parse("D").to_string() == "UD");  // U is implied
    CHECK(ReconnectPolicy::parse("Default").to_string() == "UB");
    CHECK(ReconnectPolicy::parse("C").never);
    CHECK(ReconnectPolicy::parse("C").to_string() == "C");
    for (const char* canonical : {"U", "UB", "UD", "UI", "UBD", "UBI", "UDI", "UBDI", "C"})
        CHECK(ReconnectPolicy::parse(canonical).to_string() == canonical);
}

TEST_CASE("reconnect policy: parse errors say what is wrong", "[reconnect_policy]") {
    CHECK_THROWS_WITH(ReconnectPolicy::parse("UBX"), Catch::StartsWith("unknown letter 'X'"));
    CHECK_THROWS_WITH(ReconnectPolicy::parse("ub"), Catch::StartsWith("unknown letter 'u'"));
    CHECK_THROWS_WITH(ReconnectPolicy::parse("U B"), Catch::StartsWith("unknown letter byte 0x20"));
    CHECK_THROWS_WITH(ReconnectPolicy::parse("UBB"), "letter 'B' given twice");
    CHECK_THROWS_WITH(ReconnectPolicy::parse("UU"), "letter 'U' given twice");
    CHECK_THROWS_WITH(ReconnectPolicy::parse("UC"), "C (never reconnect) must stand alone");
    CHECK_THROWS_WITH(ReconnectPolicy::parse("CB"), "C (never reconnect) must stand alone");
    CHECK_THROWS_WITH(ReconnectPolicy::parse(""), Catch::StartsWith("empty"));
    CHECK_THROWS_AS(ReconnectPolicy::parse("default"), std::invalid_argument);
}

TEST_CASE("reconnect policy: U always matches on user and display type", "[reconnect_policy]") {
    CHECK(choose({session("a")}, request(), "U") == "a");
    Record other_user = session("a");
    other_user.uid = 1001;
    CHECK_FALSE(choose({other_user}, request(), "U"));
    Record other_type = session("a");
    other_type.type = "xorg";
    CHECK_FALSE(choose({other_type}, request(), "U"));
    // U alone ignores depth, geometry and address.
    SessionRequest q = request();
    q.depth = 16;
    q.width = 800;
    q.client_address = "10.9.9.9";
    CHECK(choose({session("a")}, q, "U") == "a");
}

TEST_CASE("reconnect policy: B matches on depth", "[reconnect_policy]") {
    SessionRequest q = request();
    q.depth = 16;
    CHECK_FALSE(choose({session("a")}, q, "UB"));
    CHECK(choose({session("a")}, q, "UD") == "a");
    q.depth = 24;
    CHECK(choose({session("a")}, q, "UB") == "a");
}

TEST_CASE("reconnect policy: D matches on width and height", "[reconnect_policy]") {
    SessionRequest q = request();
    q.width = 1025;
    CHECK_FALSE(choose({session("a")}, q, "UD"));
    q = request();
    q.height = 769;
    CHECK_FALSE(choose({session("a")}, q, "UD"));
    CHECK(choose({session("a")}, q, "UB") == "a");
    CHECK(choose({session("a")}, request(), "UD") == "a");
}

TEST_CASE("reconnect policy: I matches on a known client address", "[reconnect_policy]") {
    SessionRequest q = request();
    q.client_address = "10.0.0.2";
    CHECK_FALSE(choose({session("a")}, q, "UI"));
    CHECK(choose({session("a")}, q, "UBD") == "a");
    CHECK(choose({session("a")}, request(), "UI") == "a");
    // Unknown addresses never match each other.
    q.client_address = "";
    Record no_address = session("a");
    no_address.client_address = "";
    CHECK_FALSE(choose({no_address}, q, "UI"));
    CHECK(choose({no_address}, q, "U") == "a");
}

TEST_CASE("reconnect policy: C never reconnects", "[reconnect_policy]") {
    CHECK_FALSE(choose({session("a")}, request(), "C"));
}

TEST_CASE("reconnect policy: only ready, live sessions are candidates", "[reconnect_policy]") {
    Record minimal = session("a");
    minimal.complete = false;
    CHECK_FALSE(choose({minimal}, request(), "U"));
    Record closing = session("a");
    closing.state = State::closing;
    CHECK_FALSE(choose({closing}, request(), "U"));
    Record starting = session("a");
    starting.state = State::starting;
    CHECK_FALSE(choose({starting}, request(), "U"));
    Record active = session("a");
    active.state = State::active;
    CHECK(choose({active}, request(), "U") == "a");
    CHECK_FALSE(choose({}, request(), "U"));
    CHECK_FALSE(choose_session({nullptr}, request(), ReconnectPolicy::parse("U")));
}

TEST_CASE("reconnect policy: preference order", "[reconnect_policy]") {
    SECTION("disconnected before active, even if the active one is more recent") {
        Record active = session("active");
        active.state = State::active;
        active.disconnected_usec = 900;
        active.created_usec = 900;
        const Record disconnected = session("disconnected");
        CHECK(choose({active, disconnected}, request(), "U") == "disconnected");
        CHECK(choose({disconnected, active}, request(), "U") == "disconnected");
    }
    SECTION("the most recently disconnected") {
        Record older = session("older");
        older.disconnected_usec = 300;
        older.created_usec = 999;
        Record newer = session("newer");
        newer.disconnected_usec = 400;
        CHECK(choose({older, newer}, request(), "U") == "newer");
        CHECK(choose({newer, older}, request(), "U") == "newer");
    }
    SECTION("then the most recently created") {
        Record older = session("older");
        Record newer = session("newer");
        newer.created_usec = 101;
        CHECK(choose({older, newer}, request(), "U") == "newer");
        CHECK(choose({newer, older}, request(), "U") == "newer");
    }
    SECTION("then the smallest id, whatever the order") {
        CHECK(choose({session("b"), session("a")}, request(), "U") == "a");
        CHECK(choose({session("a"), session("b")}, request(), "U") == "a");
    }
    SECTION("a non-matching better candidate is not chosen") {
        Record better = session("better");
        better.disconnected_usec = 999;
        better.depth = 16;
        CHECK(choose({better, session("match")}, request(), "UB") == "match");
    }
}
