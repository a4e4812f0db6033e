// Tests for src/session/display_type: every value round-trips through its
// string (the states' table is tested in session_record_test.cpp).
#include <catch2/catch.hpp>

#include <string>

#include "session/display_type.hpp"

using namespace rsm::session;

TEST_CASE("display_type: every display type round-trips", "[session]") {
    for (const DisplayType t : {DisplayType::xvnc, DisplayType::xvfb, DisplayType::xorg, DisplayType::null}) {
        const std::string name = to_string(t);
        CHECK(name != "unknown");
        CHECK(display_type_from_string(name) == t);
    }
    CHECK(std::string{to_string(DisplayType::xvnc)} == "xvnc");
    CHECK(std::string{to_string(DisplayType::null)} == "null");
    CHECK_FALSE(display_type_from_string("Xvnc"));
    CHECK_FALSE(display_type_from_string(""));
}

TEST_CASE("display_type: every protocol round-trips", "[session]") {
    for (const DisplayProtocol p : {DisplayProtocol::rfb, DisplayProtocol::x11, DisplayProtocol::none}) {
        const std::string name = to_string(p);
        CHECK(name != "unknown");
        CHECK(display_protocol_from_string(name) == p);
    }
    CHECK_FALSE(display_protocol_from_string("vnc"));
}

TEST_CASE("display_type: the protocol of each display type", "[session]") {
    CHECK(protocol_of(DisplayType::xvnc) == DisplayProtocol::rfb);
    CHECK(protocol_of(DisplayType::xvfb) == DisplayProtocol::x11);
    CHECK(protocol_of(DisplayType::xorg) == DisplayProtocol::x11);
    CHECK(protocol_of(DisplayType::null) == DisplayProtocol::none);
}

TEST_CASE("display_type: the xpra types", "[session]") {
    CHECK(std::string{to_string(DisplayType::xpra)} == "xpra");
    CHECK(std::string{to_string(DisplayType::xpra_desktop)} == "xpra-desktop");
    CHECK(display_type_from_string("xpra-desktop") == DisplayType::xpra_desktop);
    CHECK(display_type_from_string("xpra") == DisplayType::xpra);
    CHECK(std::string{to_string(DisplayProtocol::xpra)} == "xpra");
    CHECK(display_protocol_from_string("xpra") == DisplayProtocol::xpra);
    CHECK(protocol_of(DisplayType::xpra) == DisplayProtocol::xpra);
    CHECK(protocol_of(DisplayType::xpra_desktop) == DisplayProtocol::xpra);
}
