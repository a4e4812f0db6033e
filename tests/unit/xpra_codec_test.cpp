// rsm-gateway's xpra codecs, framing and challenge (daemons/rsm-gateway/xpra_*).
// The byte strings were produced by the real implementations: python3-rencode
// 1.0.6's rencode.dumps, xpra 3.1.3's bencode and xpra.net.digest.gendigest.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "xpra_auth.hpp"
#include "xpra_codec.hpp"
#include "xpra_frame.hpp"

using namespace rsm::gateway::xpra;

namespace {

std::vector<std::uint8_t> unhex(std::string_view h) {
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
    return out;
}
std::vector<std::uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

// Null-safe accessors: "<missing>" where the packet lacks the part.
std::string packet_type(const Value& packet) {
    const List* l = packet.list();
    const std::string* s = l && !l->empty() ? l->front().string() : nullptr;
    return s ? *s : "<missing>";
}
std::string caps_string(const Value& packet, std::string_view key) {
    const List* l = packet.list();
    const Value* v = l && l->size() > 1 ? (*l)[1].find(key) : nullptr;
    const std::string* s = v ? v->string() : nullptr;
    return s ? *s : "<missing>";
}

// rencode.dumps(["hello", {"username": "alice", "n": [0, 43, 44, -1, -32, -33, 127, 128, 32767,
//   32768, 2**31, 2**40, 2**70], "t": True, "f": False, "z": None, "s": "x"*70, "d": {"a": b"b"},
//   "fl": 1.5}]) with 32-bit floats; the 64-bit float form differs only at the end.
constexpr std::string_view rencoded =
    "c28568656c6c6f6e88757365726e616d6585616c696365816ecd002b3e2c46653edf3e7f3f00803f7fff4000008000410000"
    "0000800000004100000100000000003d313138303539313632303731373431313330333432347f817443816644817a458173"
    "37303a7878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878"
    "78787878787878787878787878787878787878787878788164678161816282666c423fc00000";
constexpr std::string_view rencoded_float64_tail = "82666c2c3ff8000000000000";

Value expected_hello() {
    return List{"hello", Dict{{"username", "alice"},
                              {"n", List{0, 43, 44, -1, -32, -33, 127, 128, 32767, 32768, std::int64_t{1} << 31,
                                         std::int64_t{1} << 40, BigInt{"1180591620717411303424"}}},
                              {"t", true},
                              {"f", false},
                              {"z", None{}},
                              {"s", std::string(70, 'x')},
                              {"d", Dict{{"a", "b"}}},
                              {"fl", 1.5}}};
}

}  // namespace

TEST_CASE("xpra: rencode_decode reads what python3-rencode writes", "[xpra]") {
    const auto d = rencode_decode(unhex(rencoded));
    REQUIRE(d.value);
    CHECK(*d.value == expected_hello());
    CHECK(caps_string(*d.value, "username") == "alice");

    std::string h64(rencoded.substr(0, rencoded.size() - 16));
    h64 += rencoded_float64_tail;
    const auto d64 = rencode_decode(unhex(h64));
    REQUIRE(d64.value);
    CHECK(*d64.value == expected_hello());
}

TEST_CASE("xpra: rencode_decode refuses malformed input with a position", "[xpra]") {
    const std::vector<std::vector<std::uint8_t>> bad = {
        {},                          // empty
        {0xc2, 0x01},                // fixed list of 2, one item
        {59, 1, 2},                  // list without its terminator
        {0x85, 'a', 'b'},            // fixed string longer than the input
        {'5', ':', 'a'},             // string longer than the input
        {'0', '1', ':', 'a'},        // leading zero in a length
        {61, '0', '1', 127},         // leading zero in an integer
        {61, '-', '0', 127},         // negative zero
        {61, '1', 'x', 127},         // not a digit
        {64, 0, 0},                  // truncated int4
        {0xf0, 0},                   // fixed list of 48 with one item
        {45},                        // an unknown type code
        {1, 2},                      // trailing bytes
    };
    for (const auto& b : bad) {
        const auto d = rencode_decode(b);
        CHECK_FALSE(d.value);
        CHECK_THAT(d.error, Catch::StartsWith("offset "));
    }
    std::vector<std::uint8_t> deep(max_depth + 2, 0xc1);  // lists of one list of one ...
    deep.push_back(0);
    CHECK_FALSE(rencode_decode(deep).value);
}

TEST_CASE("xpra: bencode both ways, as xpra 3.1 writes it", "[xpra]") {
    const std::string wire =
        "l5:hellod8:username5:alice6:digestl3:xor4:hmac11:hmac+sha256e1:nli-5ei0ei12345678901ee1:u2:\xc3\xa9"
        "ee";
    const Value v = List{"hello", Dict{{"username", "alice"},
                                       {"digest", List{"xor", "hmac", "hmac+sha256"}},
                                       {"n", List{-5, 0, std::int64_t{12345678901}}},
                                       {"u", "\xc3\xa9"}}};
    const auto d = bencode_decode(bytes(wire));
    REQUIRE(d.value);
    CHECK(*d.value == v);
    CHECK(bencode_encode(v) == wire);
    // xpra's 'u' strings read as the same bytes.
    const auto u = bencode_decode(bytes("u2:\xc3\xa9"));
    REQUIRE(u.value);
    CHECK(*u.value == Value("\xc3\xa9"));
    CHECK(bencode_encode(List{true, false}) == "li1ei0ee");

    for (std::string_view bad : {"", "l", "i12", "ie", "i-0e", "i01e", "3:ab", "d1:ae", "x", "i1ei2e", "u:"})
        CHECK_FALSE(bencode_decode(bytes(bad)).value);
}

TEST_CASE("xpra: frames: header, zlib and the packet checks", "[xpra]") {
    std::string error;
    const std::array<std::uint8_t, 8> ok{'P', 1, 6, 0, 0, 0, 1, 0};
    const auto h = parse_header(ok, error);
    REQUIRE(h);
    CHECK(h->flags == 1);
    CHECK(h->level == 6);
    CHECK(h->length == 256);
    CHECK_FALSE(parse_header(std::array<std::uint8_t, 8>{'Q', 0, 0, 0, 0, 0, 0, 1}, error));
    CHECK_FALSE(parse_header(std::array<std::uint8_t, 8>{'P', 0, 0, 1, 0, 0, 0, 1}, error));
    CHECK_THAT(error, Catch::Contains("chunked"));
    CHECK_FALSE(parse_header(std::array<std::uint8_t, 8>{'P', 0, 0, 0, 0x10, 0, 0, 1}, error));

    // zlib.compress(bencode(hello), 6) from xpra's own modules.
    const auto z = unhex(
        "789c1dc9d10980300c05c0814430b5a99a6d8a3e6c2055b0165cc9395c4cf1eb3ece5812ccf665945a706c3183259ace08b2e88a72"
        "5a2fd77e784939ce443f4d49d17100c966da32b48392eb3d87619c3ac217d5c973032f28f91fc0");
    FrameHeader zh{0, 6, 0, static_cast<std::uint32_t>(z.size())};
    const auto d = decode_packet(zh, z);
    REQUIRE(d.value);
    CHECK(packet_type(*d.value) == "hello");
    CHECK(caps_string(*d.value, "username") == "alice");

    auto corrupt = z;
    corrupt[10] ^= 0xff;
    CHECK_FALSE(decode_packet(zh, corrupt).value);
    CHECK_FALSE(decode_packet(FrameHeader{0, 0x10, 0, 3}, bytes("abc")).value);  // lz4
    CHECK_FALSE(decode_packet(FrameHeader{2, 0, 0, 3}, bytes("i1e")).value);     // cipher
    CHECK_FALSE(decode_packet(FrameHeader{0, 0, 0, 3}, bytes("i1e")).value);     // not a list
    CHECK_FALSE(decode_packet(FrameHeader{0, 0, 0, 5}, bytes("li1ee")).value);   // no type

    const std::string f = encode_frame(List{"disconnect", "authentication failed"});
    CHECK(f.substr(0, 4) == std::string("P\0\0\0", 4));
    CHECK(f.substr(8) == "l10:disconnect21:authentication failede");
    CHECK(static_cast<unsigned char>(f[7]) == f.size() - 8);
}

TEST_CASE("xpra: the challenge: digests, salt, xor and hmac responses", "[xpra]") {
    const Value hello = Dict{{"username", "alice"},
                             {"digest", List{"xor", "hmac", "hmac+sha512", "hmac+sha256", "hmac+md5", "des"}},
                             {"salt-digest", List{"xor", "hmac+sha1", "hmac+sha256"}}};
    CHECK(strongest_hmac(hello.find("digest")) == "hmac+sha512");
    CHECK(strongest_hmac(hello.find("salt-digest")) == "hmac+sha256");
    const Value weak = List{"xor", "des", "hmac", "hmac+md5"};
    CHECK(strongest_hmac(&weak).empty());

    std::string error;
    auto c = make_challenge(hello, true, error);
    REQUIRE(c);
    CHECK(c->digest == "xor");
    CHECK(c->salt_digest == "hmac+sha256");
    CHECK(c->server_salt.size() == 64);
    const auto c2 = make_challenge(hello, true, error);
    REQUIRE(c2);
    CHECK(c2->server_salt != c->server_salt);  // fresh every time
    CHECK(challenge_packet(*c) == Value(List{"challenge", c->server_salt, "", "xor", "hmac+sha256", "password"}));
    const auto h = make_challenge(hello, false, error);
    REQUIRE(h);
    CHECK(h->digest == "hmac+sha512");

    // No xor offered: no password login; no hmac salt digest: nothing.
    CHECK_FALSE(make_challenge(Value(Dict{{"digest", List{"hmac+sha256"}}, {"salt-digest", List{"hmac+sha256"}}}),
                               true, error));
    CHECK_THAT(error, Catch::Contains("xor"));
    CHECK_FALSE(make_challenge(Value(Dict{{"digest", List{"xor"}}, {"salt-digest", List{"xor"}}}), true, error));

    // gendigest("hmac+sha256", b"c"*32, "ab"*32) and the responses xpra 3.1 computes from it.
    c->server_salt = std::string(32 * 2, 'a');
    for (std::size_t i = 1; i < c->server_salt.size(); i += 2) c->server_salt[i] = 'b';
    const std::string client_salt(32, 'c');
    CHECK(hmac_hex("hmac+sha256", client_salt, c->server_salt) ==
          "6edcccb79df82c3651f0c4f1b79eba32c85db8e5521da18390e0b30deea3f999");
    const auto x = unhex("4500071106174f474e");
    const Value answer = Dict{{"challenge_response", std::string(x.begin(), x.end())},
                              {"challenge_client_salt", client_salt}};
    const auto pw = recover_password(*c, answer, error);
    REQUIRE(pw);
    CHECK(*pw == "secret-pw");

    Challenge hc = *c;
    hc.digest = "hmac+sha512";
    const Value hanswer = Dict{{"challenge_response",
                                "5de351e92314f7fca500f6206dea4c3b800fc39908cffb9658a8e69a3c539c383868388a527098a0917017b7"
                                "00c7bd82f3be445c2bf63e1cbbd941ab0eb44e6c"},
                               {"challenge_client_salt", client_salt}};
    CHECK(verify_response(hc, hanswer, "secret-pw"));
    CHECK_FALSE(verify_response(hc, hanswer, "secret-pX"));
    CHECK_FALSE(recover_password(hc, hanswer, error));  // not an xor challenge

    // A missing or short client salt, or the server's own, is refused.
    CHECK_FALSE(recover_password(*c, Value(Dict{{"challenge_response", "x"}}), error));
    CHECK_FALSE(recover_password(*c, Value(Dict{{"challenge_response", "x"}, {"challenge_client_salt", "short"}}), error));
    CHECK_FALSE(recover_password(
        *c, Value(Dict{{"challenge_response", "x"}, {"challenge_client_salt", c->server_salt}}), error));
}
