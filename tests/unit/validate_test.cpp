// Tests for src/protocol/validate: every rule accepts its edge and refuses
// one step past it.
#include <catch2/catch.hpp>

#include "protocol/validate.hpp"

using namespace rsm::protocol;
using namespace std::string_literals;

TEST_CASE("validate: user names", "[validate]") {
    for (const std::string& ok : std::vector<std::string>{"a", "alice", "Alice.Smith", "a_b-c", "host$", "user1", "1user",
                                 "_svc", "..a", std::string(32, 'x'), std::string(31, 'x') + "$"}) {
        INFO(ok);
        CHECK_FALSE(validate_user_name(ok));
    }
    const std::pair<std::string, std::string> bad[] = {
        {"", "empty"},
        {std::string(33, 'x'), "longer than 32"},
        {std::string(32, 'x') + "$", "longer than 32"},
        {"-rf", "start with '-'"},
        {"-$", "start with '-'"},
        {"1234", "all digits"},
        {"0$", "all digits"},
        {".", "'.' or '..'"},
        {"..", "'.' or '..'"},
        {"$", "nothing before"},
        {"a$b", "only letters"},
        {"a$$", "only letters"},
        {"a b", "only letters"},
        {"a/b", "only letters"},
        {"a:b", "only letters"},
        {"caf\xc3\xa9", "only letters"},
        {"a\0b"s, "only letters"},
    };
    for (const auto& [name, why] : bad) {
        INFO(name);
        const auto error = validate_user_name(name);
        REQUIRE(error);
        CHECK_THAT(*error, Catch::Contains(why));
    }
}

TEST_CASE("validate: group names", "[validate]") {
    for (const std::string& ok : std::vector<std::string>{"wheel", "domain users", "remote-desktop", "caf\xc3\xa9",
                                 "users@example.com", std::string(256, 'g')}) {
        INFO(ok);
        CHECK_FALSE(validate_group_name(ok));
    }
    for (const std::string& bad : {""s, std::string(257, 'g'), "a:b"s, "-g"s, "a\nb"s, "a\0b"s, "a\x7f"s,
                                  "\xff\xfe"s}) {
        INFO(bad);
        CHECK(validate_group_name(bad));
    }
}

TEST_CASE("validate: passwords and answers share the secret limits", "[validate]") {
    for (auto* validate : {&validate_password, &validate_answer}) {
        CHECK_FALSE(validate(""));
        CHECK_FALSE(validate("correct horse battery staple"));
        CHECK_FALSE(validate("p\xc3\xa4ssw\xc3\xb6rd"));
        CHECK_FALSE(validate(std::string(512, 'p')));
        CHECK_THAT(*validate(std::string(513, 'p')), Catch::Contains("longer than 512 bytes"));
        CHECK_THAT(*validate("ab\0cd"s), Catch::Contains("NUL"));
        CHECK_THAT(*validate("\xc3("), Catch::Contains("UTF-8"));
        CHECK_THAT(*validate("\xed\xa0\x80"), Catch::Contains("UTF-8"));  // a UTF-16 surrogate
    }
    CHECK_THAT(*validate_password(std::string(513, 'p')), Catch::StartsWith("password"));
    CHECK_THAT(*validate_answer(std::string(513, 'p')), Catch::StartsWith("answer"));
}

TEST_CASE("validate: addresses are IP literals and come back canonical", "[validate]") {
    const std::pair<std::string, std::string> ok[] = {
        {"192.0.2.1", "192.0.2.1"},
        {"::1", "::1"},
        {"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
        {"::FFFF:10.0.0.1", "::ffff:10.0.0.1"},
        {"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
    };
    for (const auto& [in, canonical] : ok) {
        INFO(in);
        std::string out;
        CHECK_FALSE(canonicalize_address(in, out));
        CHECK(out == canonical);
    }
    for (const std::string& bad : {""s, "localhost"s, "192.0.2.1:22"s, "[::1]"s, "fe80::1%eth0"s,
                                  "192.0.2"s, "256.0.0.1"s, "10.0.0.1\0garbage"s, std::string(100, '1')}) {
        INFO(bad);
        std::string out = "unchanged";
        CHECK(canonicalize_address(bad, out));
        CHECK(out == "unchanged");
    }
}

TEST_CASE("validate: host names", "[validate]") {
    CHECK_FALSE(validate_host_name("client-7.example.com"));
    CHECK_FALSE(validate_host_name("WIN_PC"));
    CHECK_FALSE(validate_host_name(std::string(253, 'h')));
    CHECK(validate_host_name(""));
    CHECK(validate_host_name(std::string(254, 'h')));
    CHECK(validate_host_name("a b"));
    CHECK(validate_host_name("host;rm"));
    CHECK(validate_host_name("h\xc3\xa9"));
}

TEST_CASE("validate: gateway names", "[validate]") {
    CHECK_FALSE(validate_gateway_name("xrdp"));
    CHECK_FALSE(validate_gateway_name("my gateway 0.9 (test)"));
    CHECK_FALSE(validate_gateway_name(std::string(64, 'g')));
    CHECK(validate_gateway_name(""));
    CHECK(validate_gateway_name(std::string(65, 'g')));
    CHECK(validate_gateway_name("tab\there"));
    CHECK(validate_gateway_name("del\x7f"));
    CHECK(validate_gateway_name("caf\xc3\xa9"));
}

TEST_CASE("validate: the client dictionary", "[validate]") {
    SECTION("every key, the address canonicalised") {
        ClientInfo info;
        CHECK_FALSE(client_info_from_map({{"address", "2001:DB8::5"}, {"host_name", "pc1"}, {"gateway", "xrdp"}},
                                         info));
        CHECK(info == ClientInfo{"2001:db8::5", "pc1", "xrdp"});
    }
    SECTION("all keys are optional") {
        ClientInfo info{"x", "y", "z"};
        CHECK_FALSE(client_info_from_map({}, info));
        CHECK(info == ClientInfo{});
    }
    SECTION("an unknown key is named") {
        ClientInfo info{"keep", "", ""};
        const auto error = client_info_from_map({{"adress", "10.0.0.1"}}, info);
        REQUIRE(error);
        CHECK_THAT(*error, Catch::Contains("unknown key 'adress'"));
        CHECK(info.address == "keep");
    }
    SECTION("a bad value names its key") {
        ClientInfo info;
        CHECK_THAT(*client_info_from_map({{"address", "nowhere"}}, info), Catch::StartsWith("client: address: "));
        CHECK_THAT(*client_info_from_map({{"host_name", "a b"}}, info), Catch::StartsWith("client: host_name: "));
        CHECK_THAT(*client_info_from_map({{"gateway", ""}}, info), Catch::StartsWith("client: gateway: "));
    }
}

TEST_CASE("validate: untrusted text is quoted safely", "[validate]") {
    CHECK(quote_untrusted("abc") == "'abc'");
    CHECK(quote_untrusted("a'b\\c\n\xff") == "'a\\x27b\\x5cc\\x0a\\xff'");
    CHECK(quote_untrusted(std::string(100, 'x')) == "'" + std::string(64, 'x') + "'...");
}
