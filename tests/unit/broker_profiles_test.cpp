// src/broker/profiles*: X2Go's session profiles file, defaults, hosts,
// ACL keys, and errors that name file, line and key.
#include <catch2/catch.hpp>

#include <string>

#include "broker/profiles_ini.hpp"

using namespace rsm::broker;

namespace {

ProfileSet parse_ok(std::string_view text) {
    auto r = parse_profiles(text, "profiles.conf");
    INFO(r.error);
    REQUIRE(r.set);
    return std::move(*r.set);
}

std::string parse_error(std::string_view text) {
    auto r = parse_profiles(text, "profiles.conf");
    REQUIRE_FALSE(r.set);
    return r.error;
}

}  // namespace

TEST_CASE("profiles inherit x2gobroker's defaults and [DEFAULT]", "[broker][profiles]") {
    const auto set = parse_ok(
        "# comment\n"
        "; another comment\n"
        "[DEFAULT]\n"
        "command = MATE\n"
        "Width=1024\n"
        "\n"
        "[b]\n"
        "name=B\n"
        "host=srv1, srv2 (10.0.0.2:2222) ,srv3 (10.0.0.3)\n"
        "sshport=2200\n"
        "fullscreen=yes\n"
        "[a]\n"
        "name=A\n"
        "width=not-set\n"
        "broker-session-autologin=true\n"
        "acl-users-deny=bob, carol\n");
    REQUIRE(set.profiles.size() == 2);
    CHECK(set.profiles[0].id == "a");  // sorted
    const Profile& b = *set.find("b");
    CHECK(b.options.at("name").text == "B");
    CHECK(b.options.at("command").text == "MATE");
    CHECK(b.options.at("width") == ProfileValue::of_int(1024));  // key case folded
    CHECK(b.options.at("fullscreen") == ProfileValue::of_bool(true));
    CHECK(b.options.at("quality") == ProfileValue::of_int(9));  // x2gobroker's default
    CHECK(b.options.at("host") == ProfileValue::of_list({"srv1", "srv2", "srv3"}));
    CHECK(b.sshport == 2200);
    REQUIRE(b.hosts.size() == 3);
    CHECK(b.hosts[0].address == "srv1");
    CHECK(b.hosts[0].port == 2200);
    CHECK(b.hosts[1].name == "srv2");
    CHECK(b.hosts[1].address == "10.0.0.2");
    CHECK(b.hosts[1].port == 2222);
    CHECK(b.hosts[2].address == "10.0.0.3");
    CHECK(b.hosts[2].port == 2200);
    const Profile& a = *set.find("a");
    CHECK_FALSE(a.options.contains("width"));  // not-set drops it
    CHECK_FALSE(a.options.contains("broker-session-autologin"));
    CHECK_FALSE(a.options.contains("acl-users-deny"));
    CHECK(a.acl.users_deny == std::vector<std::string>{"bob", "carol"});
    CHECK(set.find("c") == nullptr);
}

TEST_CASE("options for a user: BROKER_USER and desktop sessions", "[broker][profiles]") {
    const auto set = parse_ok("[p]\ncommand=xfce\n[q]\ncommand=xterm\nuser=fixed\n");
    const auto p = options_for_user(*set.find("p"), "alice");
    CHECK(p.at("user").text == "alice");
    CHECK(p.at("command").text == "XFCE");
    CHECK(p.at("rootless") == ProfileValue::of_bool(false));
    const auto q = options_for_user(*set.find("q"), "alice");
    CHECK(q.at("user").text == "fixed");
    CHECK(q.at("command").text == "xterm");
    CHECK(q.at("rootless") == ProfileValue::of_bool(true));
    CHECK(plain_value(q.at("rootless")) == "1");
    CHECK(plain_value(q.at("applications")) == "TERMINAL,WWWBROWSER,MAILCLIENT,OFFICE");
}

TEST_CASE("ACL keys of profiles and [DEFAULT]", "[broker][profiles]") {
    const auto set = parse_ok(
        "[DEFAULT]\nacl-groups-allow=ALL\n"
        "[p]\nacl-clients-allow=10.0.0.0/8,ALL\nacl-clients-order=allow-deny\nacl-any-order=allow-deny\n"
        "acl-users-order=\n");
    const Acl& acl = set.find("p")->acl;
    CHECK(acl.groups_allow == std::vector<std::string>{"ALL"});
    CHECK(acl.clients_allow.size() == 3);
    CHECK(acl.clients_order == AclOrder::allow_deny);
    CHECK(acl.any_order == AclOrder::allow_deny);
    CHECK_FALSE(acl.users_order);
}

TEST_CASE("profile errors name file, line and key", "[broker][profiles]") {
    CHECK(parse_error("[p]\nname=x\nsshport=abc\n") == "profiles.conf:3: [p] sshport: 'abc' is not an integer");
    CHECK(parse_error("[p]\n\nfullscreen=maybe\n") ==
          "profiles.conf:3: [p] fullscreen: 'maybe' is not a boolean (true/false, yes/no, on/off, 1/0)");
    CHECK(parse_error("[DEFAULT]\nsshport=70000\n[p]\nname=x\n") == "profiles.conf:2: [p] sshport: not a TCP port (1-65535)");
    CHECK(parse_error("[p]\nhost=a (b c)\n") == "profiles.conf:2: [p] host: 'a (b c)' is not 'name' or 'name (address[:port])'");
    CHECK(parse_error("[p]\nacl-clients-deny=10.0.0.0/99\n") ==
          "profiles.conf:2: [p] acl-clients-deny: '10.0.0.0/99' is not an address, a network (CIDR) or ALL");
    CHECK(parse_error("[p]\nacl-users-order=sometimes\n") ==
          "profiles.conf:2: [p] acl-users-order: 'sometimes' is not deny-allow or allow-deny");
    CHECK(parse_error("[p]\nacl-user-allow=x\n") == "profiles.conf:2: [p] acl-user-allow: unknown ACL key");
    CHECK(parse_error("name=x\n[p]\n") == "profiles.conf:1: key=value before the first [section]");
    CHECK(parse_error("[p]\nname=x\njust words\n") == "profiles.conf:3: not a [section], key=value line or comment");
    CHECK(parse_error("[p\n") == "profiles.conf:1: malformed section header");
    CHECK(parse_error("[p]\nname=x\nNAME=y\n") == "profiles.conf:3: [p] name: given twice");
    CHECK(parse_error("[p]\n[p]\n") == "profiles.conf:2: section [p] given twice");
    CHECK(parse_error("[p]\nname=x\n  continued\n") == "profiles.conf:3: indented line (continuation lines are not supported)");
}

TEST_CASE("host=not-set and sshport=not-set (found by fuzz_broker_profiles)", "[broker][profiles]") {
    const auto set = parse_ok("[DEFAULT]\nhost=not-set\n[p]\nsshport=not-set\n");
    const Profile& p = *set.find("p");
    CHECK(p.hosts.empty());
    CHECK_FALSE(p.options.contains("host"));
    CHECK(p.sshport == 22);
}

TEST_CASE("host entries", "[broker][profiles]") {
    CHECK(parse_host_entry("srv", 22)->address == "srv");
    CHECK(parse_host_entry("srv ([2001:db8::1]:2022)", 22)->port == 2022);
    CHECK(parse_host_entry("srv ([2001:db8::1]:2022)", 22)->address == "2001:db8::1");
    CHECK(parse_host_entry("srv (2001:db8::1)", 22)->address == "2001:db8::1");
    CHECK(parse_host_entry("srv (10.0.0.1:0)", 22) == std::nullopt);
    CHECK(parse_host_entry("srv (10.0.0.1", 22) == std::nullopt);
    CHECK(parse_host_entry("s r v", 22) == std::nullopt);
    CHECK(parse_host_entry("srv (x/y)", 22) == std::nullopt);
}

TEST_CASE("the profiles file is read from disk, errors name it", "[broker][profiles]") {
    const auto r = load_profiles_file("/nonexistent/x2gobroker-sessionprofiles.conf");
    REQUIRE_FALSE(r.set);
    CHECK(r.error.starts_with("/nonexistent/x2gobroker-sessionprofiles.conf: "));
}
