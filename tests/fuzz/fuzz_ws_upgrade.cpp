// Fuzz target: rsm-gateway's WebSocket opening-handshake check
// (daemons/rsm-gateway/ws_upgrade.*), the header values a browser's GET
// /websockify carries. Input: the values of Host, Upgrade, Connection,
// Sec-WebSocket-Key, -Version, -Protocol and Origin, one per line.
//
// Checked: an accepted upgrade names websocket and upgrade in its headers,
// version 13, a 16-byte key, a 28-character Sec-WebSocket-Accept, and at
// most the "binary" sub-protocol; a refusal is 400 or 403 with a reason.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "ws_frame.hpp"
#include "ws_upgrade.hpp"

namespace ws = rsm::gateway::ws;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::array<std::string_view, 7> v{};
    for (auto& field : v) {
        const std::size_t nl = in.find('\n');
        field = in.substr(0, nl);
        if (nl == std::string_view::npos) {
            in = {};
        } else {
            in.remove_prefix(nl + 1);
        }
    }
    ws::UpgradeRequest r;
    r.host = v[0];
    r.upgrade = v[1];
    r.connection = v[2];
    r.key = v[3];
    r.version = v[4];
    r.protocols = v[5];
    r.origin = v[6];
    const ws::UpgradeAnswer a = ws::check_upgrade(r, "http");
    if (a.ok) {
        FUZZ_CHECK(a.status == 101);
        FUZZ_CHECK(ws::lists_token(r.upgrade, "websocket"));
        FUZZ_CHECK(ws::lists_token(r.connection, "upgrade"));
        FUZZ_CHECK(a.accept.size() == 28);
        FUZZ_CHECK(a.protocol.empty() || a.protocol == "binary");
        FUZZ_CHECK(a.error.empty());
    } else {
        FUZZ_CHECK(a.status == 400 || a.status == 403);
        FUZZ_CHECK(!a.error.empty());
        FUZZ_CHECK(a.accept.empty());
    }
    return 0;
}
