// daemons/rsm-gateway: telling protocols apart by their first bytes, and
// /etc/rsm/gateway.toml.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "gateway_config.hpp"
#include "sniff.hpp"

using namespace rsm::gateway;

namespace {
FirstBytes classify(std::string_view s) {
    const std::vector<std::uint8_t> b(s.begin(), s.end());
    return classify_first_bytes(b);
}
}  // namespace

TEST_CASE("sniff: first bytes", "[rfb]") {
    CHECK(classify("") == FirstBytes::silent);
    CHECK(classify("GET / HTTP/1.1\r\n") == FirstBytes::http);
    CHECK(classify("GE") == FirstBytes::http);
    CHECK(classify("POST /x") == FirstBytes::http);
    CHECK(classify("PO") == FirstBytes::http);
    CHECK(classify("OPTIONS * HTTP/1.1") == FirstBytes::http);
    CHECK(classify(std::string("\x16\x03\x01\x02\x00", 5)) == FirstBytes::tls);
    CHECK(classify(std::string("P\x00\x00\x00\x00\x00\x01\x00", 8)) == FirstBytes::xpra);
    CHECK(classify(std::string("P\x10\x00\x00", 4)) == FirstBytes::xpra);
    CHECK(classify("RFB 003.008\n") == FirstBytes::unknown);
    CHECK(classify("GETX") == FirstBytes::unknown);
    CHECK(classify("\x01") == FirstBytes::unknown);
    CHECK(to_string(FirstBytes::silent) == "rfb");
    CHECK(to_string(FirstBytes::http) == "http");
}

TEST_CASE("gateway.toml: defaults and keys", "[rfb]") {
    auto r = parse_gateway_config("", "t.toml");
    REQUIRE(r.config);
    CHECK(r.config->width == 1280);
    CHECK(r.config->auth_timeout_sec == 30);
    CHECK(r.config->certificate.empty());
    r = parse_gateway_config(
        "[tls]\ncertificate = \"/etc/rsm/c.pem\"\nkey = \"/etc/rsm/k.pem\"\n[session]\nwidth = 1024\nheight = 768\n"
        "depth = 16\n[limits]\nauth_timeout = 10\n",
        "t.toml");
    REQUIRE(r.config);
    CHECK(r.config->certificate == "/etc/rsm/c.pem");
    CHECK(r.config->key == "/etc/rsm/k.pem");
    CHECK(r.config->width == 1024);
    CHECK(r.config->height == 768);
    CHECK(r.config->depth == 16);
    CHECK(r.config->auth_timeout_sec == 10);
}

TEST_CASE("gateway.toml: errors name file and line", "[rfb]") {
    auto r = parse_gateway_config("[session]\nwidth = 10\n", "t.toml");
    CHECK_FALSE(r.config);
    CHECK(r.error.find("t.toml:2") != std::string::npos);
    r = parse_gateway_config("[tls]\ncertificate = \"/c.pem\"\n", "t.toml");
    CHECK_FALSE(r.config);
    CHECK(r.error.find("go together") != std::string::npos);
    r = parse_gateway_config("[tls]\ncertificate = \"relative.pem\"\nkey = \"/k\"\n", "t.toml");
    CHECK_FALSE(r.config);
    r = parse_gateway_config("[session]\ncolour = 1\n", "t.toml");
    CHECK_FALSE(r.config);
    CHECK(r.error.find("unknown key [session] colour") != std::string::npos);
    r = parse_gateway_config("width = 3\n", "t.toml");
    CHECK_FALSE(r.config);
    r = parse_gateway_config("[session\n", "t.toml");
    CHECK_FALSE(r.config);
    CHECK(r.error.find("t.toml:1") != std::string::npos);
}

TEST_CASE("gateway.toml: a missing file means the defaults", "[rfb]") {
    auto r = load_gateway_config("/nonexistent/rsm/gateway.toml");
    REQUIRE(r.config);
    CHECK(r.config->height == 800);
}
