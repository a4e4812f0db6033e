// Tests for daemons/rsm-nxserver/nx_protocol: the nxserver dialogue's wire
// format (commands, --name="value" parameters, %XX values, the hello
// version rule, reply lines, bounded line reading).
#include <catch2/catch.hpp>

#include <string>

#include "nx_protocol.hpp"

using namespace rsm::nx;

TEST_CASE("nx protocol: commands are words, case-insensitive, blanks trimmed", "[nxserver]") {
    CHECK_FALSE(split_command(""));
    CHECK_FALSE(split_command(" \t "));
    auto c = split_command("  HELLO NXCLIENT - Version 3.5.0 ");
    REQUIRE(c);
    CHECK(c->command == Command::hello);
    CHECK(c->word == "hello");
    CHECK(c->args == "NXCLIENT - Version 3.5.0");
    c = split_command("startsession --link=\"lan\"");
    REQUIRE(c);
    CHECK(c->command == Command::startsession);
    c = split_command("frobnicate x");
    REQUIRE(c);
    CHECK(c->command == Command::unknown);
    CHECK(c->word == "frobnicate");
    CHECK(command_from_string("Bye") == Command::bye);
    CHECK(std::string{to_string(Command::restoresession)} == "restoresession");
}

TEST_CASE("nx protocol: parameters are --name=\"value\" pairs only", "[nxserver]") {
    auto p = parse_parameters(R"(--session="s1" --type="unix-gnome"  --geometry="1024x768")");
    REQUIRE(p);
    REQUIRE(p->size() == 3);
    CHECK((*p)[0] == std::pair<std::string, std::string>{"session", "s1"});
    CHECK((*p)[2].second == "1024x768");
    CHECK(parse_parameters("")->empty());
    CHECK(parse_parameters(R"(--empty="")")->at(0).second.empty());
    CHECK_FALSE(parse_parameters("session=\"s1\""));
    CHECK_FALSE(parse_parameters("--session=s1"));
    CHECK_FALSE(parse_parameters("--session=\"s1"));
    CHECK_FALSE(parse_parameters("--1x=\"a\""));
    CHECK_FALSE(parse_parameters("--a=\"b\"--c=\"d\""));
    CHECK_FALSE(parse_parameters("--a=\"b\" junk"));
}

TEST_CASE("nx protocol: values are %XX-quoted, control characters refused", "[nxserver]") {
    CHECK(unquote("a%20b") == std::optional<std::string>{"a b"});
    CHECK(unquote("%2Fhome") == std::optional<std::string>{"/home"});
    CHECK_FALSE(unquote("%"));
    CHECK_FALSE(unquote("%2"));
    CHECK_FALSE(unquote("%zz"));
    CHECK_FALSE(unquote("%0a"));
    CHECK_FALSE(unquote("%00"));
}

TEST_CASE("nx protocol: hello's version and the first-two-numbers rule", "[nxserver]") {
    CHECK(hello_version("NXCLIENT - Version 3.5.0") == std::optional<std::string>{"3.5.0"});
    CHECK(hello_version("nxclient -  version 3.2") == std::optional<std::string>{"3.2"});
    CHECK_FALSE(hello_version("nxclient - version"));
    CHECK_FALSE(hello_version("nxclient version 3.5.0"));
    CHECK_FALSE(hello_version("xclient - version 3.5.0"));
    CHECK_FALSE(hello_version("nxclient - version 3"));
    CHECK_FALSE(hello_version("nxclient - version 3.5.0; rm"));
    CHECK(version_compatible("3.5.0", "3.5.2"));
    CHECK(version_compatible("3.5", "3.5.0"));
    CHECK_FALSE(version_compatible("3.4.0", "3.5.0"));
    CHECK_FALSE(version_compatible("4.5.0", "3.5.0"));
    CHECK_FALSE(version_compatible("x", "3.5.0"));
}

TEST_CASE("nx protocol: reply lines and prompts", "[nxserver]") {
    CHECK(reply(105) == "NX> 105 ");
    CHECK(reply(101, "User: ", false) == "NX> 101 User: ");
    CHECK(reply(404, "ERROR: wrong password or login") == "NX> 404 ERROR: wrong password or login\n");
    CHECK(reply(500, "a\nNX> 999 Bye.") == "NX> 500 a NX> 999 Bye.\n");  // no injected line
}

TEST_CASE("nx protocol: lines are bounded", "[nxserver]") {
    LineReader r;
    CHECK(r.feed("hello\r\nlog"));
    CHECK(r.next() == std::optional<std::string>{"hello"});
    CHECK_FALSE(r.next());
    CHECK(r.feed("in\n"));
    CHECK(r.next() == std::optional<std::string>{"login"});
    LineReader big;
    CHECK_FALSE(big.feed(std::string(max_line + 1, 'x')));
    CHECK(big.overflowed());
    CHECK(big.buffered() == 0);
    CHECK_FALSE(big.feed("\n"));
}

TEST_CASE("nx protocol: after the last line, the rest is taken as is", "[nxserver]") {
    LineReader r;
    REQUIRE(r.feed(std::string_view{"bye\n\x01\x02NX-transport\0x", 20}));
    CHECK(r.next() == "bye");
    CHECK(r.take_rest() == std::string{"\x01\x02NX-transport\0x", 16});
    CHECK(r.buffered() == 0);
    CHECK_FALSE(r.next());
}
