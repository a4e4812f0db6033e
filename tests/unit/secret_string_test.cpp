// Tests for src/util/secret_string: what SecretString and wipe() promise
// through their API (the moved-from strings and buffers are emptied and
// zeroed). That no copy survives elsewhere in memory cannot be tested here.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

#include "util/secret_string.hpp"

using rsm::util::SecretString;
namespace util = rsm::util;

namespace {

// The first n bytes of s's buffer (n <= capacity), read past size() on
// purpose: that is where a wiped secret would linger.
bool zeroed(const std::string& s, std::size_t n) {
    return std::all_of(s.data(), s.data() + n, [](char c) { return c == '\0'; });
}

}  // namespace

TEST_CASE("wipe zeroes the whole buffer and keeps it", "[util]") {
    std::string s(100, 'p');
    const auto capacity = s.capacity();
    util::wipe(s);
    CHECK(s.empty());
    CHECK(s.capacity() == capacity);
    CHECK(zeroed(s, 100));

    // Slack behind a shorter value is wiped too.
    std::string shrunk(64, 'q');
    shrunk.resize(3);
    util::wipe(shrunk);
    CHECK(zeroed(shrunk, 64));

    std::string empty;
    util::wipe(empty);
    CHECK(empty.empty());
}

TEST_CASE("wipe on vectors empties them", "[util]") {
    std::vector<std::string> v{"a", std::string(40, 'b')};
    util::wipe(v);
    CHECK(v.empty());
    std::vector<SecretString> w;
    w.emplace_back("x");
    util::wipe(w);
    CHECK(w.empty());
}

TEST_CASE("SecretString takes a std::string and wipes what the source keeps", "[util]") {
    std::string short_one = "hunter2";  // inline (SSO): std::string copies on move
    SecretString a{std::move(short_one)};
    CHECK(a == "hunter2");
    CHECK(a.size() == 7);
    CHECK(short_one.empty());
    CHECK(zeroed(short_one, 7));

    std::string long_one(80, 's');
    SecretString b = std::move(long_one);
    CHECK(b.view() == std::string(80, 's'));
    CHECK(long_one.empty());
    CHECK(std::string(b.c_str()) == std::string(80, 's'));
}

TEST_CASE("SecretString moves leave the source empty", "[util]") {
    SecretString a{std::string("secret")};
    SecretString b{std::move(a)};
    CHECK(b == "secret");
    CHECK(a.empty());  // NOLINT(bugprone-use-after-move): that is the point
    SecretString c;
    c = std::move(b);
    CHECK(c == "secret");
    CHECK(b.empty());  // NOLINT(bugprone-use-after-move)
    std::string s = "new value";
    c = std::move(s);
    CHECK(c == "new value");
    CHECK(s.empty());
    c.clear();
    CHECK(c.empty());
    CHECK(std::string(c.c_str()).empty());
}

TEST_CASE("SecretString is never copied implicitly", "[util]") {
    STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<SecretString>);
    STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<SecretString>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<SecretString>);
    // From an lvalue std::string only on purpose, through a view.
    STATIC_REQUIRE_FALSE(std::is_convertible_v<const std::string&, SecretString>);
    const std::string kept = "pw";
    const SecretString copy{std::string_view{kept}};
    CHECK(copy == "pw");
    CHECK(kept == "pw");
    CHECK(SecretString{static_cast<const char*>(nullptr)}.empty());
}
