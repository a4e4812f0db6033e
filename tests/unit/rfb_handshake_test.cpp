// daemons/rsm-gateway/rfb_handshake: the viewer's side of RFB 3.8 with
// VeNCrypt as TigerVNC's SSecurityVeNCrypt/SSecurityPlain lay it out, the
// bounds on hostile input, and the user-name selector.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "rfb_handshake.hpp"

using namespace rsm::gateway;
using Kind = RfbHandshake::Step::Kind;

namespace {

std::vector<std::uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

std::string be32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

void push(RfbHandshake& h, std::string_view s) { h.push(bytes(s)); }

// Drives a handshake to the sub-type choice; returns the sub-type list sent.
std::string to_subtypes(RfbHandshake& h) {
    push(h, "RFB 003.008\n");
    auto s = h.next();
    REQUIRE(s.kind == Kind::reply);
    REQUIRE(s.out == std::string("\x01\x13", 2));
    REQUIRE(h.next().kind == Kind::need_more);
    push(h, "\x13");
    s = h.next();
    REQUIRE(s.kind == Kind::reply);
    REQUIRE(s.out == std::string("\x00\x02", 2));
    push(h, std::string("\x00\x02", 2));
    s = h.next();
    REQUIRE(s.kind == Kind::reply);
    return s.out;
}

std::string plain(std::string_view user, std::string_view password) {
    return be32(static_cast<std::uint32_t>(user.size())) + be32(static_cast<std::uint32_t>(password.size())) +
           std::string(user) + std::string(password);
}

}  // namespace

TEST_CASE("rfb: TLSPlain up to the credentials", "[rfb]") {
    RfbHandshake h{Offer{false, true, false}};
    CHECK(RfbHandshake::greeting() == "RFB 003.008\n");
    CHECK(to_subtypes(h) == std::string("\x00\x01", 2) + be32(259));
    push(h, be32(259));
    auto s = h.next();
    REQUIRE(s.kind == Kind::start_tls);
    CHECK(s.tls == TlsKind::anonymous);
    CHECK(s.out == "\x01");
    // Inside TLS, in pieces.
    const std::string cred = plain("alice:new", "s3cret");
    push(h, cred.substr(0, 5));
    CHECK(h.next().kind == Kind::need_more);
    push(h, cred.substr(5));
    s = h.next();
    REQUIRE(s.kind == Kind::credentials);
    CHECK(h.user() == "alice:new");
    CHECK(h.password() == "s3cret");
    CHECK(h.minor() == 8);
    CHECK(h.inside_tls());
}

TEST_CASE("rfb: the offer lists X509Plain, TLSPlain, Plain in that order", "[rfb]") {
    RfbHandshake h{Offer{true, true, true}};
    CHECK(to_subtypes(h) == std::string("\x00\x03", 2) + be32(262) + be32(259) + be32(256));
    push(h, be32(262));
    auto s = h.next();
    REQUIRE(s.kind == Kind::start_tls);
    CHECK(s.tls == TlsKind::x509);
}

TEST_CASE("rfb: Plain goes straight to the credentials", "[rfb]") {
    RfbHandshake h{Offer{false, true, true}};
    to_subtypes(h);
    push(h, be32(256) + plain("bob", ""));
    auto s = h.next();
    REQUIRE(s.kind == Kind::credentials);
    CHECK(h.user() == "bob");
    CHECK(h.password().empty());
    CHECK_FALSE(h.inside_tls());
}

TEST_CASE("rfb: a sub-type not offered fails (Plain from a remote address)", "[rfb]") {
    RfbHandshake h{Offer{false, true, false}};
    to_subtypes(h);
    push(h, be32(256));
    CHECK(h.next().kind == Kind::fail);
    // And stays failed.
    push(h, plain("a", "b"));
    CHECK(h.next().kind == Kind::need_more);
}

TEST_CASE("rfb: bytes before the TLS handshake are refused", "[rfb]") {
    RfbHandshake h{Offer{}};
    to_subtypes(h);
    push(h, be32(259) + "\x16\x03\x01");
    CHECK(h.next().kind == Kind::fail);
}

TEST_CASE("rfb: protocol versions", "[rfb]") {
    SECTION("3.3 gets a 3.3-style failure with a reason") {
        RfbHandshake h{Offer{}};
        push(h, "RFB 003.003\n");
        auto s = h.next();
        REQUIRE(s.kind == Kind::fail);
        REQUIRE(s.out.size() > 8);
        CHECK(s.out.substr(0, 4) == be32(0));
    }
    SECTION("3.889 speaks 3.8") {
        RfbHandshake h{Offer{}};
        push(h, "RFB 003.889\n");
        CHECK(h.next().kind == Kind::reply);
        CHECK(h.minor() == 8);
    }
    SECTION("3.7 is accepted") {
        RfbHandshake h{Offer{}};
        push(h, "RFB 003.007\n");
        CHECK(h.next().kind == Kind::reply);
        CHECK(h.minor() == 7);
    }
    SECTION("garbage") {
        for (const char* g : {"GET / HTTP/1.", "RFB 003.00x\n", "RFB 003.008\r", "rfb 003.008\n"}) {
            RfbHandshake h{Offer{}};
            push(h, g);
            CHECK(h.next().kind == Kind::fail);
        }
    }
}

TEST_CASE("rfb: a security type other than VeNCrypt gets a reason", "[rfb]") {
    RfbHandshake h{Offer{}};
    push(h, "RFB 003.008\n");
    h.next();
    push(h, "\x02");  // VNC authentication
    auto s = h.next();
    REQUIRE(s.kind == Kind::fail);
    CHECK(s.out.substr(0, 4) == be32(1));
    CHECK(s.out.substr(8) == "Security type not offered");
}

TEST_CASE("rfb: VeNCrypt version other than 0.2", "[rfb]") {
    RfbHandshake h{Offer{}};
    push(h, "RFB 003.008\n");
    h.next();
    push(h, "\x13");
    h.next();
    push(h, std::string("\x00\x01", 2));
    auto s = h.next();
    REQUIRE(s.kind == Kind::fail);
    CHECK(s.out == "\xff");
}

TEST_CASE("rfb: impossible lengths fail before anything is buffered", "[rfb]") {
    RfbHandshake h{Offer{false, true, true}};
    to_subtypes(h);
    push(h, be32(256) + be32(0xffffffff) + be32(1));
    auto s = h.next();
    REQUIRE(s.kind == Kind::fail);
    CHECK(s.out == std::string(rsm::gateway::rfb::security_result_failed(8, "Authentication failed")));
    RfbHandshake empty_user{Offer{false, true, true}};
    to_subtypes(empty_user);
    push(empty_user, be32(256) + plain("", "x"));
    CHECK(empty_user.next().kind == Kind::fail);
    RfbHandshake long_password{Offer{false, true, true}};
    to_subtypes(long_password);
    push(long_password, be32(256) + be32(5) + be32(rsm::gateway::rfb::max_password_length + 1));
    CHECK(long_password.next().kind == Kind::fail);
}

TEST_CASE("rfb: a flood beyond the largest message fails", "[rfb]") {
    RfbHandshake h{Offer{}};
    push(h, std::string(RfbHandshake::max_buffer + 1, 'R'));
    CHECK(h.next().kind == Kind::fail);
}

TEST_CASE("rfb: SecurityResult", "[rfb]") {
    CHECK(rfb::security_result_ok() == be32(0));
    CHECK(rfb::security_result_failed(8, "Authentication failed") == be32(1) + be32(21) + "Authentication failed");
    CHECK(rfb::security_result_failed(7, "Authentication failed") == be32(1));
}

TEST_CASE("rfb: user-name selector", "[rfb]") {
    auto r = parse_user_selector("alice");
    REQUIRE(r.ok);
    CHECK(r.selector.user == "alice");
    CHECK(r.selector.kind == UserSelector::Kind::policy);
    r = parse_user_selector("alice:new");
    REQUIRE(r.ok);
    CHECK(r.selector.kind == UserSelector::Kind::new_session);
    r = parse_user_selector("alice:3f2a");
    REQUIRE(r.ok);
    CHECK(r.selector.kind == UserSelector::Kind::session);
    CHECK(r.selector.session_prefix == "3f2a");
    r = parse_user_selector("alice:" + std::string(32, 'a'));
    CHECK(r.ok);
    for (const std::string& bad : std::vector<std::string>{"alice:", "alice:NEW", "alice:3F2A",
                                                           "alice:" + std::string(33, 'a'), ":new", "", "al\nice",
                                                           "alice:new:x", "alice:zz"})
        CHECK_FALSE(parse_user_selector(bad).ok);
}
