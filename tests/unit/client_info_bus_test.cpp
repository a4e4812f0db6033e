// Tests for src/protocol/client_info_bus: reading a{sv} from a real sd-bus
// message (made by bus_message_factory.hpp).
#include <catch2/catch.hpp>

#include "bus/error.hpp"
#include "bus_message_factory.hpp"
#include "protocol/client_info_bus.hpp"

using rsm::bus::BusError;
using rsm::protocol::ClientInfo;
using rsm::protocol::read_client_info;
using rsm::test::MessageFactory;

namespace {

// The error name and message read_client_info() throws for `m`.
BusError read_error(sd_bus_message* m) {
    try {
        read_client_info(m);
    } catch (const BusError& e) {
        return e;
    }
    FAIL("expected a BusError");
    throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("client_info_bus: a valid dictionary", "[protocol][bus]") {
    MessageFactory f;
    auto m = f.call([](sd_bus_message* msg) {
        REQUIRE(sd_bus_message_append(msg, "s", "alice") >= 0);
        REQUIRE(sd_bus_message_append(msg, "a{sv}", 3, "address", "s", "::FFFF:192.0.2.7", "host_name", "s",
                                      "pc-1", "gateway", "s", "xrdp") >= 0);
        REQUIRE(sd_bus_message_append(msg, "u", 42U) >= 0);
    });
    const char* user = nullptr;
    REQUIRE(sd_bus_message_read(m.get(), "s", &user) >= 0);
    CHECK(read_client_info(m.get()) == ClientInfo{"::ffff:192.0.2.7", "pc-1", "xrdp"});
    // The read position is right after the dictionary.
    unsigned trailing = 0;
    REQUIRE(sd_bus_message_read(m.get(), "u", &trailing) >= 0);
    CHECK(trailing == 42);
}

TEST_CASE("client_info_bus: an empty dictionary", "[protocol][bus]") {
    MessageFactory f;
    auto m = f.call([](sd_bus_message* msg) { REQUIRE(sd_bus_message_append(msg, "a{sv}", 0) >= 0); });
    CHECK(read_client_info(m.get()) == ClientInfo{});
}

TEST_CASE("client_info_bus: a value of the wrong type names key and type", "[protocol][bus]") {
    MessageFactory f;
    auto m = f.call([](sd_bus_message* msg) {
        REQUIRE(sd_bus_message_append(msg, "a{sv}", 2, "gateway", "s", "xrdp", "address", "u", 7U) >= 0);
    });
    const auto e = read_error(m.get());
    CHECK(e.name() == rsm::names::error::invalid_argument);
    CHECK(std::string{e.what()} == "client: 'address' must be a string (type 's'), got type 'u'");
}

TEST_CASE("client_info_bus: an unknown key is refused", "[protocol][bus]") {
    MessageFactory f;
    auto m = f.call([](sd_bus_message* msg) {
        REQUIRE(sd_bus_message_append(msg, "a{sv}", 1, "colour", "s", "blue") >= 0);
    });
    const auto e = read_error(m.get());
    CHECK(e.name() == rsm::names::error::invalid_argument);
    CHECK_THAT(e.what(), Catch::Contains("unknown key 'colour'"));
}

TEST_CASE("client_info_bus: an invalid value is refused", "[protocol][bus]") {
    MessageFactory f;
    auto m = f.call([](sd_bus_message* msg) {
        REQUIRE(sd_bus_message_append(msg, "a{sv}", 1, "address", "s", "example.com") >= 0);
    });
    CHECK_THAT(read_error(m.get()).what(), Catch::StartsWith("client: address: "));
}

TEST_CASE("client_info_bus: a repeated key is refused", "[protocol][bus]") {
    MessageFactory f;
    auto m = f.call([](sd_bus_message* msg) {
        REQUIRE(sd_bus_message_append(msg, "a{sv}", 2, "gateway", "s", "a", "gateway", "s", "b") >= 0);
    });
    CHECK_THAT(read_error(m.get()).what(), Catch::Contains("'gateway' appears more than once"));
}

TEST_CASE("client_info_bus: an argument that is not a{sv} is refused", "[protocol][bus]") {
    MessageFactory f;
    auto m = f.call([](sd_bus_message* msg) {
        REQUIRE(sd_bus_message_append(msg, "a{ss}", 1, "address", "10.0.0.1") >= 0);
    });
    const auto e = read_error(m.get());
    CHECK(e.name() == rsm::names::error::invalid_argument);
    CHECK_THAT(e.what(), Catch::Contains("a{sv}"));
}
