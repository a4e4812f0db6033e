// Tests for src/bus/dict_reader: the one a{sv} reader, on real sd-bus
// messages.
#include <catch2/catch.hpp>

#include <cerrno>
#include <map>
#include <string>

#include "bus/dict_reader.hpp"
#include "bus_message_factory.hpp"

using rsm::bus::DictFailure;
using rsm::bus::DictStep;
using rsm::bus::read_dict;
using rsm::test::MessageFactory;

TEST_CASE("dict_reader: every entry reaches the callee with its key and type", "[bus]") {
    MessageFactory f;
    auto m = f.call([](sd_bus_message* msg) {
        REQUIRE(sd_bus_message_append(msg, "a{sv}", 3, "name", "s", "alice", "uid", "u", 1000U, "list", "as", 2, "a",
                                      "b") >= 0);
        REQUIRE(sd_bus_message_append(msg, "u", 42U) >= 0);
    });
    std::map<std::string, std::string> seen;
    std::string name;
    uint32_t uid = 0;
    const int r = read_dict(m.get(), [&](std::string_view key, std::string_view contents) {
        seen.emplace(key, contents);
        if (key == "name") {
            const char* v = nullptr;
            const int rr = sd_bus_message_read(m.get(), "v", "s", &v);
            if (rr >= 0) name = v;
            return rr;
        }
        if (key == "uid") return sd_bus_message_read(m.get(), "v", "u", &uid);
        return sd_bus_message_skip(m.get(), "v");
    });
    CHECK(r == 0);
    CHECK(seen == std::map<std::string, std::string>{{"name", "s"}, {"uid", "u"}, {"list", "as"}});
    CHECK(name == "alice");
    CHECK(uid == 1000);
    // The read position is right after the dictionary.
    uint32_t trailing = 0;
    REQUIRE(sd_bus_message_read(m.get(), "u", &trailing) >= 0);
    CHECK(trailing == 42);
}

TEST_CASE("dict_reader: an empty dictionary calls nobody", "[bus]") {
    MessageFactory f;
    auto m = f.call([](sd_bus_message* msg) { REQUIRE(sd_bus_message_append(msg, "a{sv}", 0) >= 0); });
    int calls = 0;
    CHECK(read_dict(m.get(), [&](std::string_view, std::string_view) { return ++calls, 0; }) == 0);
    CHECK(calls == 0);
}

TEST_CASE("dict_reader: something that is not a{sv} fails at the dictionary step", "[bus]") {
    MessageFactory f;
    auto m = f.call([](sd_bus_message* msg) { REQUIRE(sd_bus_message_append(msg, "a{ss}", 1, "k", "v") >= 0); });
    DictFailure failure{DictStep::dictionary_end, 0};
    CHECK(read_dict(m.get(), [](std::string_view, std::string_view) { return 0; }, &failure) < 0);
    CHECK(failure.step == DictStep::dictionary);
    CHECK(failure.error < 0);
}

TEST_CASE("dict_reader: no argument left fails at the dictionary step", "[bus]") {
    MessageFactory f;
    auto m = f.call([](sd_bus_message*) {});
    DictFailure failure;
    CHECK(read_dict(m.get(), [](std::string_view, std::string_view) { return 0; }, &failure) < 0);
    CHECK(failure.step == DictStep::dictionary);
}

TEST_CASE("dict_reader: the callee's error stops the walk and comes back", "[bus]") {
    MessageFactory f;
    auto m = f.call([](sd_bus_message* msg) {
        REQUIRE(sd_bus_message_append(msg, "a{sv}", 2, "a", "u", 1U, "b", "u", 2U) >= 0);
    });
    int calls = 0;
    DictFailure failure;
    CHECK(read_dict(
              m.get(), [&](std::string_view, std::string_view) { return ++calls, -EPERM; }, &failure) == -EPERM);
    CHECK(calls == 1);
    CHECK(failure.step == DictStep::value);
    CHECK(failure.error == -EPERM);
}

TEST_CASE("dict_reader: a variant left unread fails at the entry end", "[bus]") {
    MessageFactory f;
    auto m = f.call([](sd_bus_message* msg) { REQUIRE(sd_bus_message_append(msg, "a{sv}", 1, "a", "u", 1U) >= 0); });
    DictFailure failure;
    CHECK(read_dict(m.get(), [](std::string_view, std::string_view) { return 0; }, &failure) < 0);
    CHECK(failure.step == DictStep::entry_end);
}

TEST_CASE("dict_reader: every step has a name", "[bus]") {
    for (const DictStep s : {DictStep::dictionary, DictStep::entry, DictStep::key, DictStep::value,
                             DictStep::entry_end, DictStep::dictionary_end})
        CHECK(std::string{rsm::bus::to_string(s)} != "unknown");
}
