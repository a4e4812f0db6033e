// Tests for src/session/argv_template: every placeholder, %% and no
// re-expansion, no splitting, and each validation error.
#include <catch2/catch.hpp>

#include "session/argv_template.hpp"

using rsm::session::expand_template;
using rsm::session::TemplateValues;
using rsm::session::validate_template;
using Argv = std::vector<std::string>;

namespace {

TemplateValues values() {
    TemplateValues v;
    v.display = 12;
    v.width = 1920;
    v.height = 1080;
    v.depth = 24;
    v.xauthority = "/run/rsm/user/1000/Xauthority";
    v.display_socket = "/run/rsm/user/1000/display-12";
    v.user = "alice";
    v.session_id = "0123456789abcdef0123456789abcdef";
    return v;
}

}  // namespace

TEST_CASE("argv template: every placeholder", "[argv_template]") {
    const Argv out = expand_template({"X", "%d", "%D", "%w", "%h", "%g", "%b", "%a", "%s", "%u", "%i", "%%"}, values());
    CHECK(out == Argv{"X", "12", ":12", "1920", "1080", "1920x1080", "24", "/run/rsm/user/1000/Xauthority",
                      "/run/rsm/user/1000/display-12", "alice", "0123456789abcdef0123456789abcdef", "%"});
}

TEST_CASE("argv template: placeholders inside arguments", "[argv_template]") {
    CHECK(expand_template({"Xvfb", ":%d", "%gx%b", ".xorgxrdp.%d.log", "100%%", "%%d", "a%%%db"}, values()) ==
          Argv{"Xvfb", ":12", "1920x1080x24", ".xorgxrdp.12.log", "100%", "%d", "a%12b"});
}

TEST_CASE("argv template: values are never split, joined or expanded again", "[argv_template]") {
    TemplateValues v = values();
    v.user = "a b %d";
    v.xauthority = "";
    const Argv out = expand_template({"X", "-user", "%u", "-auth", "%a", ""}, v);
    CHECK(out == Argv{"X", "-user", "a b %d", "-auth", "", ""});
}

TEST_CASE("argv template: the default templates are valid", "[argv_template]") {
    CHECK_FALSE(validate_template({}));  // the null type
    CHECK(expand_template({}, values()).empty());
    CHECK_FALSE(validate_template({"Xvnc", ":%d", "-displayfd", "3", "-auth", "%a", "-geometry", "%g", "-depth", "%b",
                                   "-SecurityTypes", "None", "-rfbunixpath", "%s", "-rfbunixmode", "0600", "-rfbport",
                                   "-1", "-nolisten", "tcp"}));
}

TEST_CASE("argv template: validation errors name the argument", "[argv_template]") {
    CHECK(validate_template({"X", "-a", "b", "-x%q"}) == std::string{"argument 3 \"-x%q\": unknown placeholder %q"});
    CHECK(validate_template({"X", "%"}) ==
          std::string{"argument 1 \"%\": '%' at the end (write %% for a literal '%')"});
    CHECK(validate_template({"X", "50%"}) ==
          std::string{"argument 1 \"50%\": '%' at the end (write %% for a literal '%')"});
    CHECK(validate_template({""}) == std::string{"argument 0: the program is empty"});
    CHECK(validate_template({"", "x"}) == std::string{"argument 0: the program is empty"});
    CHECK(validate_template({"/usr/bin/X%u"}) ==
          std::string{"argument 0 \"/usr/bin/X%u\": the program may not contain placeholders"});
    CHECK_FALSE(validate_template({"/opt/100%%/X"}));
    CHECK(validate_template({"X", std::string{"a\0b", 3}}) == std::string{"argument 1: contains a NUL byte"});
    // An empty argument after the program is fine.
    CHECK_FALSE(validate_template({"X", ""}));
}

TEST_CASE("argv template: expand refuses what validate refuses", "[argv_template]") {
    CHECK_THROWS_AS(expand_template({"X", "%q"}, values()), std::invalid_argument);
    CHECK_THROWS_WITH(expand_template({"X", "%"}, values()), Catch::Contains("argument 1"));
    CHECK_THROWS_AS(expand_template({"%a"}, values()), std::invalid_argument);
}
