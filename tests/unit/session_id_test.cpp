// Tests for src/session/session_id: fresh ids have the documented form and
// differ; the validator accepts exactly 32 lower-case hex digits.
#include <catch2/catch.hpp>

#include <set>

#include "session/session_id.hpp"

using rsm::session::new_session_id;
using rsm::session::valid_session_id;

TEST_CASE("session id: new ids are 32 lower-case hex digits", "[session_id]") {
    for (int i = 0; i < 20; ++i) {
        const std::string id = new_session_id();
        INFO(id);
        CHECK(id.size() == 32);
        CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
        CHECK(valid_session_id(id));
    }
}

TEST_CASE("session id: new ids differ", "[session_id]") {
    std::set<std::string> ids;
    for (int i = 0; i < 100; ++i)
        ids.insert(new_session_id());
    CHECK(ids.size() == 100);
}

TEST_CASE("session id: validation", "[session_id]") {
    CHECK(valid_session_id("0123456789abcdef0123456789abcdef"));
    CHECK_FALSE(valid_session_id(""));
    CHECK_FALSE(valid_session_id("0123456789abcdef0123456789abcde"));    // 31
    CHECK_FALSE(valid_session_id("0123456789abcdef0123456789abcdef0"));  // 33
    CHECK_FALSE(valid_session_id("0123456789ABCDEF0123456789abcdef"));   // upper case
    CHECK_FALSE(valid_session_id("0123456789abcdeg0123456789abcdef"));   // 'g'
    CHECK_FALSE(valid_session_id("../3456789abcdef0123456789abcdef0"));
    CHECK_FALSE(valid_session_id(std::string_view{"0123456789abcdef0123456789abcde\0", 32}));
}
