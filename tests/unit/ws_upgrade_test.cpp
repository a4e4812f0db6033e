// daemons/rsm-gateway/ws_upgrade: the browser's WebSocket opening handshake
// (RFC 6455, 4.2.1), with the RFC's own key and answer.
#include <catch2/catch.hpp>

#include "ws_upgrade.hpp"

using namespace rsm::gateway::ws;

namespace {

UpgradeRequest chromium() {
    UpgradeRequest r;
    r.host = "127.0.0.1:5900";
    r.upgrade = "websocket";
    r.connection = "Upgrade";
    r.key = "dGhlIHNhbXBsZSBub25jZQ==";
    r.version = "13";
    r.origin = "http://127.0.0.1:5900";
    return r;
}

}  // namespace

TEST_CASE("a browser's upgrade is accepted with the RFC's answer", "[ws-upgrade]") {
    const UpgradeAnswer a = check_upgrade(chromium(), "http");
    REQUIRE(a.ok);
    CHECK(a.status == 101);
    CHECK(a.accept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK(a.protocol.empty());  // noVNC 1.3 asks for no sub-protocol
    UpgradeRequest r = chromium();
    r.protocols = "base64, binary";
    r.connection = "keep-alive, Upgrade";  // Firefox
    r.upgrade = "WebSocket";
    CHECK(check_upgrade(r, "http").protocol == "binary");
    r.origin = "";  // not a browser: no Origin
    CHECK(check_upgrade(r, "http").ok);
}

TEST_CASE("bad upgrades are refused with what was wrong", "[ws-upgrade]") {
    auto refused = [](UpgradeRequest r) {
        const UpgradeAnswer a = check_upgrade(r, "http");
        CHECK_FALSE(a.ok);
        return std::to_string(a.status) + " " + a.error;
    };
    UpgradeRequest r = chromium();
    r.upgrade = "";
    CHECK(refused(r) == "400 not a WebSocket upgrade (Upgrade: websocket)");
    r = chromium();
    r.connection = "keep-alive";
    CHECK(refused(r) == "400 not a WebSocket upgrade (Connection: Upgrade)");
    r = chromium();
    r.version = "8";
    CHECK(refused(r) == "400 unsupported WebSocket version (Sec-WebSocket-Version: 13)");
    r = chromium();
    r.key = "short==";
    CHECK(refused(r) == "400 missing or malformed Sec-WebSocket-Key");
    r = chromium();
    r.protocols = "base64";
    CHECK(refused(r) == "400 only the WebSocket sub-protocol \"binary\" is served");
    for (const char* origin : {"http://evil.example", "https://127.0.0.1:5900", "http://127.0.0.1:59000", "null"}) {
        r = chromium();
        r.origin = origin;
        CHECK(refused(r) == "403 WebSocket from a page of another origin refused");
    }
}

TEST_CASE("header token lists", "[ws-upgrade]") {
    CHECK(lists_token("Upgrade", "upgrade"));
    CHECK(lists_token(" keep-alive ,\tUPGRADE ", "upgrade"));
    CHECK_FALSE(lists_token("upgrades", "upgrade"));
    CHECK_FALSE(lists_token("", "upgrade"));
    CHECK_FALSE(lists_token(",,", "upgrade"));
}
