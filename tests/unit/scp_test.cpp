// src/scp: SCP v0 and v1 management as xrdp 0.9.21 and xrdp-sesadmin send
// them (layouts from xrdp's sesman/libscp at v0.9.21), framing, and the VNC
// password xrdp derives from a session GUID.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>
#include <variant>
#include <vector>

#include "scp/frame_reader.hpp"
#include "scp/scp_v0.hpp"
#include "scp/scp_v1_mng.hpp"
#include "scp/xrdp_vnc_password.hpp"

using namespace rsm::scp;
using Bytes = std::vector<std::uint8_t>;

namespace {

Bytes body_of(const Bytes& message) { return Bytes(message.begin() + 8, message.end()); }

V0Request sample_request() {
    V0Request r;
    r.code = V0Code::xvnc;
    r.user = "alice";
    r.password = "alice-pw";
    r.width = 1024;
    r.height = 768;
    r.bpp = 24;
    r.connection_description = "127.0.0.1:58584 - socket: 12";
    return r;
}

}  // namespace

TEST_CASE("an SCP v0 request as xrdp 0.9.21 sends it parses back", "[scp]") {
    const Bytes msg = encode_v0_request(sample_request());
    // u32 version 0, u32 size = whole message.
    REQUIRE(msg.size() > 8);
    CHECK(msg[0] == 0);
    CHECK(((msg[4] << 24) | (msg[5] << 16) | (msg[6] << 8) | msg[7]) == static_cast<int>(msg.size()));
    auto parsed = parse_v0_request(body_of(msg));
    REQUIRE(std::holds_alternative<V0Request>(parsed));
    const auto& r = std::get<V0Request>(parsed);
    CHECK(r.code == V0Code::xvnc);
    CHECK(r.user == "alice");
    CHECK(r.password == "alice-pw");
    CHECK(r.width == 1024);
    CHECK(r.height == 768);
    CHECK(r.bpp == 24);
    CHECK(r.connection_description == "127.0.0.1:58584 - socket: 12");
}

TEST_CASE("older clients that stop after bpp are accepted", "[scp]") {
    auto parsed = parse_v0_request(body_of(encode_v0_request(sample_request(), false)));
    REQUIRE(std::holds_alternative<V0Request>(parsed));
    CHECK(std::get<V0Request>(parsed).connection_description.empty());
}

TEST_CASE("xorgxrdp requests always get 24 bpp, as sesman does", "[scp]") {
    V0Request r = sample_request();
    r.code = V0Code::xorg;
    r.bpp = 7;
    auto parsed = parse_v0_request(body_of(encode_v0_request(r)));
    REQUIRE(std::holds_alternative<V0Request>(parsed));
    CHECK(std::get<V0Request>(parsed).bpp == 24);
}

TEST_CASE("gateway authentication requests carry only user and password", "[scp]") {
    V0Request r;
    r.code = V0Code::gateway_auth;
    r.user = "bob";
    r.password = "pw";
    auto parsed = parse_v0_request(body_of(encode_v0_request(r)));
    REQUIRE(std::holds_alternative<V0Request>(parsed));
    CHECK(std::get<V0Request>(parsed).user == "bob");
}

TEST_CASE("malformed v0 requests are refused with a reason", "[scp]") {
    const Bytes good = body_of(encode_v0_request(sample_request()));
    SECTION("every truncation") {
        for (std::size_t n = 0; n < good.size(); ++n) {
            // Cutting inside the optional strings is still an error, cutting
            // exactly after bpp or after a whole string is an older client.
            Bytes cut(good.begin(), good.begin() + static_cast<long>(n));
            auto parsed = parse_v0_request(cut);
            if (std::holds_alternative<V0Request>(parsed)) {
                CHECK(n >= 2 + 2 + 5 + 2 + 8 + 6);  // code, user, password, geometry at least
            }
        }
    }
    SECTION("unknown code") {
        Bytes b = good;
        b[1] = 99;
        auto parsed = parse_v0_request(b);
        REQUIRE(std::holds_alternative<std::string>(parsed));
        CHECK(std::get<std::string>(parsed).find("unknown request code 99") != std::string::npos);
    }
    SECTION("a string longer than sesman's 512 bytes") {
        V0Request r = sample_request();
        r.user = std::string(513, 'a');
        auto parsed = parse_v0_request(body_of(encode_v0_request(r)));
        REQUIRE(std::holds_alternative<std::string>(parsed));
        CHECK(std::get<std::string>(parsed).find("user") == 0);
    }
    SECTION("a NUL inside a string") {
        V0Request r = sample_request();
        r.password = std::string("a\0b", 3);
        auto parsed = parse_v0_request(body_of(encode_v0_request(r)));
        REQUIRE(std::holds_alternative<std::string>(parsed));
        CHECK(std::get<std::string>(parsed).find("NUL") != std::string::npos);
    }
    SECTION("an unsupported bpp") {
        V0Request r = sample_request();
        r.bpp = 12;
        REQUIRE(std::holds_alternative<std::string>(parse_v0_request(body_of(encode_v0_request(r)))));
    }
    SECTION("trailing bytes") {
        Bytes b = good;
        b.push_back(0);
        REQUIRE(std::holds_alternative<std::string>(parse_v0_request(b)));
    }
}

TEST_CASE("v0 replies are byte for byte what xrdp expects", "[scp]") {
    Guid guid{};
    for (std::size_t i = 0; i < guid.size(); ++i) guid[i] = static_cast<std::uint8_t>(0xa0 + i);
    const Bytes accept = encode_v0_accept(12, guid);
    const Bytes head = {0, 0, 0, 0, 0, 0, 0, 0x1e, 0, 3, 0, 1, 0, 12};
    REQUIRE(accept.size() == 30);
    CHECK(Bytes(accept.begin(), accept.begin() + 14) == head);
    CHECK(Bytes(accept.begin() + 14, accept.end()) == Bytes(guid.begin(), guid.end()));
    CHECK(encode_v0_deny() == Bytes{0, 0, 0, 0, 0, 0, 0, 0x0e, 0, 3, 0, 0, 0, 0});
    CHECK(encode_v0_gateway_reply(true) == Bytes{0, 0, 0, 0, 0, 0, 0, 0x0e, 0, 4, 0, 0, 0, 0});
    CHECK(encode_v0_gateway_reply(false) == Bytes{0, 0, 0, 0, 0, 0, 0, 0x0e, 0, 4, 0, 1, 0, 0});
}

TEST_CASE("the client address is read from xrdp's connection description", "[scp]") {
    CHECK(client_address_of("127.0.0.1:58584 - socket: 12") == "127.0.0.1");
    CHECK(client_address_of("::1:58584 - socket: 12") == "::1");
    CHECK(client_address_of("::ffff:192.0.2.7:3389 - socket: 9") == "192.0.2.7");
    CHECK(client_address_of("2001:db8::5:40000 - socket: 9") == "2001:db8::5");
    CHECK(client_address_of("NULL:NULL - socket: 12").empty());
    CHECK(client_address_of("").empty());
    CHECK(client_address_of("garbage").empty());
}

TEST_CASE("frames are cut from a byte stream however it arrives", "[scp]") {
    const Bytes one = encode_v0_request(sample_request());
    Bytes two = one;
    two.insert(two.end(), one.begin(), one.end());
    FrameReader reader;
    for (auto b : two) REQUIRE_FALSE(reader.feed(std::span(&b, 1)));
    auto f1 = reader.next();
    auto f2 = reader.next();
    REQUIRE(f1);
    REQUIRE(f2);
    CHECK_FALSE(reader.next());
    CHECK(f1->version == 0);
    CHECK(f1->body == body_of(one));
    CHECK(reader.buffered() == 0);
}

TEST_CASE("impossible headers end the stream", "[scp]") {
    SECTION("version 2") {
        FrameReader r;
        const Bytes b = {0, 0, 0, 2, 0, 0, 0, 20};
        REQUIRE(r.feed(b));
        CHECK_FALSE(r.next());
    }
    SECTION("a size above sesman's 8192") {
        FrameReader r;
        const Bytes b = {0, 0, 0, 0, 0, 0, 0x20, 0x01};
        REQUIRE(r.feed(b));
    }
    SECTION("a size smaller than a header") {
        FrameReader r;
        const Bytes b = {0, 0, 0, 1, 0, 0, 0, 4};
        REQUIRE(r.feed(b));
    }
}

TEST_CASE("xrdp-sesadmin's v1 login and list request parse", "[scp]") {
    V1MngLogin login{"admin", "secret", "192.0.2.9", "host.example"};
    const Bytes msg = encode_v1_mng_login(login);
    CHECK(msg[3] == 1);
    auto parsed = parse_v1_mng(body_of(msg));
    REQUIRE(std::holds_alternative<V1MngMessage>(parsed));
    const auto& m = std::get<V1MngMessage>(parsed);
    REQUIRE(m.command == V1MngCommand::login);
    REQUIRE(m.login);
    CHECK(m.login->user == "admin");
    CHECK(m.login->password == "secret");
    CHECK(m.login->address == "192.0.2.9");
    CHECK(m.login->host_name == "host.example");

    auto list = parse_v1_mng(body_of(encode_v1_mng_list_request()));
    REQUIRE(std::holds_alternative<V1MngMessage>(list));
    CHECK(std::get<V1MngMessage>(list).command == V1MngCommand::list_request);

    const Bytes wrong_set = {0, 0, 0, 5};
    CHECK(std::holds_alternative<std::string>(parse_v1_mng(wrong_set)));
    const Bytes body = body_of(msg);
    const Bytes login_cut(body.begin(), body.begin() + 6);
    CHECK(std::holds_alternative<std::string>(parse_v1_mng(login_cut)));
}

TEST_CASE("v1 session lists are split into messages of 100 like sesman's", "[scp]") {
    std::vector<V1MngSession> sessions(150);
    for (std::size_t i = 0; i < sessions.size(); ++i) sessions[i].id = static_cast<std::uint32_t>(i + 1);
    const Bytes out = encode_v1_mng_list(sessions);
    FrameReader reader;
    REQUIRE_FALSE(reader.feed(out));
    auto a = reader.next();
    auto b = reader.next();
    REQUIRE(a);
    REQUIRE(b);
    CHECK_FALSE(reader.next());
    // cmdset 1, cmd 6, total 150, continued 1, count 100; then 0 and 50.
    CHECK(Bytes(a->body.begin(), a->body.begin() + 10) == Bytes{0, 1, 0, 6, 0, 0, 0, 150, 1, 100});
    CHECK(Bytes(b->body.begin(), b->body.begin() + 10) == Bytes{0, 1, 0, 6, 0, 0, 0, 150, 0, 50});
    // Each session takes 24 bytes (20 + an IPv4 address), as sesman counts them.
    CHECK(a->body.size() == 10 + 100 * 24);
    const Bytes none = encode_v1_mng_list({});
    CHECK(none.size() == 8 + 10);
}

TEST_CASE("the VNC password xrdp derives from a GUID", "[scp]") {
    Guid guid{};
    for (std::size_t i = 0; i < guid.size(); ++i) guid[i] = static_cast<std::uint8_t>(i);
    CHECK(guid_hex(guid) == "000102030405060708090a0b0c0d0e0f");
    // hashlib.sha1(b"xrdp_vnc" + g + g).hexdigest()[:8]
    CHECK(xrdp_vnc_password(guid) == "4f870963");
}

// ---- SCP v1 management, byte by byte against xrdp 0.9.21's libscp ----

namespace {

Bytes hex_bytes(const std::string& hex) {
    Bytes out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return out;
}

Bytes with_text(Bytes b, const std::string& s) {
    b.insert(b.end(), s.begin(), s.end());
    return b;
}

// What libscp_v1c_mng.c's _scp_v1c_mng_check_response() makes of a reply:
// "ok", or the error text it logs as "connection denied: <text>".
std::string sesadmin_login_outcome(const Bytes& m) {
    REQUIRE(m.size() >= 12);
    const std::uint32_t size = std::uint32_t{m[4]} << 24 | std::uint32_t{m[5]} << 16 | std::uint32_t{m[6]} << 8 | m[7];
    REQUIRE(size == m.size());
    REQUIRE(m[3] == 1);
    REQUIRE((m[8] << 8 | m[9]) == 1);
    const int cmd = m[10] << 8 | m[11];
    if (cmd == 2) return "ok";
    REQUIRE(cmd == 3);
    const std::size_t dim = m[12];  // in_uint8(in_s, dim)
    REQUIRE(13 + dim <= m.size());
    return std::string(m.begin() + 13, m.begin() + 13 + static_cast<std::ptrdiff_t>(dim));
}

}  // namespace

TEST_CASE("v1 replies are the bytes xrdp-sesadmin reads", "[scp]") {
    CHECK(encode_v1_mng_allowed() == hex_bytes("00000001" "0000000c" "0001" "0002"));
    CHECK(encode_v1_mng_list_request() == hex_bytes("00000001" "0000000c" "0001" "0005"));
    // A u8 length: sesman's u16 would make sesadmin print an empty reason
    // (it reads the length's high byte).
    const Bytes denied = encode_v1_mng_denied("Login failed");
    CHECK(denied == with_text(hex_bytes("00000001" "00000019" "0001" "0003" "0c"), "Login failed"));
    CHECK(sesadmin_login_outcome(denied) == "Login failed");
    CHECK(sesadmin_login_outcome(encode_v1_mng_allowed()) == "ok");
    const Bytes long_reason = encode_v1_mng_denied(std::string(300, 'x'));
    CHECK(long_reason.size() == 13 + 255);
    CHECK(sesadmin_login_outcome(long_reason) == std::string(255, 'x'));
}

TEST_CASE("the login xrdp-sesadmin 0.9.21 sends parses", "[scp]") {
    // Captured from /usr/bin/xrdp-sesadmin -u=alice -p=pw -c=list: no
    // address (type 0, IPv4 0.0.0.0) and no host name.
    const Bytes captured = hex_bytes("0001" "0001" "05616c696365" "027077" "00" "00000000" "00");
    auto parsed = parse_v1_mng(captured);
    REQUIRE(std::holds_alternative<V1MngMessage>(parsed));
    const auto& m = std::get<V1MngMessage>(parsed);
    REQUIRE(m.login);
    CHECK(m.login->user == "alice");
    CHECK(m.login->password == "pw");
    CHECK(m.login->address == "0.0.0.0");
    CHECK(m.login->host_name.empty());
    // Our encoder writes the same message, header included (size 27).
    Bytes whole = hex_bytes("00000001" "0000001b");
    whole.insert(whole.end(), captured.begin(), captured.end());
    CHECK(encode_v1_mng_login({"alice", "pw", "0.0.0.0", ""}) == whole);

    SECTION("malformed logins are errors") {
        for (const char* hex : {"0001" "0001" "05616c6963",                      // user cut
                                "0001" "0001" "05616c696365" "027077" "07" "00",  // address type 7
                                "0001" "0001" "05616c696365" "027077" "01" "0000",  // IPv6 cut
                                "0001" "0001" "05616c696365" "027077" "00" "00000000" "00" "ff",  // trailing
                                "0001" "0001" "05616c0069" "027077" "00" "00000000" "00",  // NUL in user
                                "0001" "0004", "0002" "0001"})
            CHECK(std::holds_alternative<std::string>(parse_v1_mng(hex_bytes(hex))));
    }
    SECTION("an action request (no 0.9.21 client sends one) parses") {
        auto a = parse_v1_mng(hex_bytes("0001" "0007"));
        REQUIRE(std::holds_alternative<V1MngMessage>(a));
        CHECK(std::get<V1MngMessage>(a).command == V1MngCommand::action);
    }
}

TEST_CASE("a v1 list entry is laid out as libscp_v1c_mng.c reads it", "[scp]") {
    setenv("TZ", "UTC", 1);
    tzset();
    V1MngSession s;
    s.id = 0x1234567;
    s.type = V1SessionType::xvnc;
    s.width = 1024;
    s.height = 768;
    s.bpp = 24;
    s.idle_minutes = 1 * 1440 + 2 * 60 + 3;
    s.connected_usec = 1796172300ull * 1000000;  // 2026-12-02 00:45 UTC
    const Bytes out = encode_v1_mng_list({s});
    // header, cmdset 1, cmd 6, total 1, continued 0, count 1; SID, type 2,
    // height, width, bpp, idle d/h/m, year, month, day, hour, minute,
    // address type 0 + IPv4 0.0.0.0.
    CHECK(out == hex_bytes("00000001" "0000002a" "0001" "0006" "00000001" "00" "01"
                           "01234567" "02" "0300" "0400" "18" "01" "02" "03"
                           "07ea" "0c" "02" "00" "2d" "00" "00000000"));
    CHECK(encode_v1_mng_list({}) == hex_bytes("00000001" "00000012" "0001" "0006" "00000000" "00" "00"));
}

TEST_CASE("rsm sessions map onto sesman's list fields", "[scp]") {
    RsmSessionInfo r;
    r.id = "0123456789abcdef0123456789abcdef";
    r.type = "xvnc";
    r.state = "running";
    r.width = 1920;
    r.height = 1080;
    r.depth = 24;
    r.created_usec = 1'000'000'000'000'000;
    r.disconnected_usec = 0;
    const std::uint64_t now = r.created_usec + 3'600'000'000ull;
    V1MngSession v = v1_session_of(r, now);
    CHECK(v.id == 0x0123456);
    CHECK(v.type == V1SessionType::xvnc);
    CHECK((v.width == 1920 && v.height == 1080 && v.bpp == 24));
    CHECK(v.idle_minutes == 0);
    CHECK(v.connected_usec == r.created_usec);

    r.state = "disconnected";
    r.disconnected_usec = now - 125 * 60'000'000ull;
    r.type = "xorg";
    v = v1_session_of(r, now);
    CHECK(v.idle_minutes == 125);
    CHECK(v.type == V1SessionType::xorg);
    r.type = "xvfb";
    CHECK(v1_session_of(r, now).type == V1SessionType::none);
    r.width = 70000;
    CHECK(v1_session_of(r, now).width == 0xffff);
    // The id stays positive in sesadmin's %d: 28 bits.
    CHECK(v1_session_id_of("fffffffff") == 0x0fffffff);
    CHECK(v1_session_id_of("zz") == 0);
}
