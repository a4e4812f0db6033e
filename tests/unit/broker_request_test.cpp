// src/broker: requests (routes, form fields), replies byte for byte,
// authid cookies; src/http: form decoding; rsm-broker's broker.toml.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <string>

#include "broker/authid_store.hpp"
#include "broker/broker_request.hpp"
#include "broker/profiles_ini.hpp"
#include "broker/replies.hpp"
#include "broker_config.hpp"
#include "http/form_fields.hpp"

using namespace rsm::broker;
using rsm::http::FormFields;

TEST_CASE("routes name frontend and backend", "[broker][request]") {
    CHECK(parse_route("/plain/")->frontend == Frontend::plain);
    CHECK(parse_route("/plain/")->backend.empty());
    CHECK(parse_route("/plain")->backend.empty());
    CHECK(parse_route("/json/inifile/")->frontend == Frontend::json);
    CHECK(parse_route("/json/inifile/")->backend == "inifile");
    CHECK(parse_route("/plain/inifile/extra")->backend == "inifile");
    CHECK_FALSE(parse_route("/uccs/"));
    CHECK_FALSE(parse_route("plain/"));
    CHECK_FALSE(parse_route("/plain/../etc/"));
    CHECK_FALSE(parse_route("/"));
}

TEST_CASE("x2goclient's and python-x2go's form fields", "[broker][request]") {
    // As a real x2goclient sends them.
    auto r = parse_request(Frontend::plain, FormFields{{"task", "selectsession"}, {"sid", "pool-a"}, {"user", "alice"},
                                                       {"password", "pw"}, {"authid", "c0ffee"}, {"login", "alice2"}});
    REQUIRE(r.request);
    CHECK(r.request->task == Task::selectsession);
    CHECK(r.request->profile_id == "pool-a");
    CHECK(r.request->server_user() == "alice2");
    CHECK(r.request->authid == "c0ffee");
    // python-x2go: profile-id, and listsessions is listprofiles on /json/.
    r = parse_request(Frontend::json, FormFields{{"task", "selectsession"}, {"profile-id", "p"}, {"user", "alice"}});
    REQUIRE(r.request);
    CHECK(r.request->profile_id == "p");
    CHECK(r.request->server_user() == "alice");
    r = parse_request(Frontend::json, FormFields{{"task", "listsessions"}, {"user", "alice"}});
    CHECK(r.request->task == Task::listprofiles);
}

TEST_CASE("malformed requests say what is wrong", "[broker][request]") {
    auto err = [](Frontend f, FormFields form) { return parse_request(f, form).error; };
    CHECK(parse_request(Frontend::plain, {{"user", "alice"}}).request->task == Task::checkaccess);
    CHECK(parse_request(Frontend::plain, {{"user", "alice"}, {"task", ""}}).request->task == Task::checkaccess);
    CHECK(err(Frontend::plain, {{"task", "rm -rf"}, {"user", "a"}}) == "unknown task 'rm -rf'");
    CHECK(err(Frontend::plain, {{"task", "listsessions"}}) == "no user given");
    CHECK(err(Frontend::plain, {{"task", "listsessions"}, {"user", "a\nb"}}) == "invalid user name");
    CHECK(err(Frontend::plain, {{"task", "listsessions"}, {"user", "a:b"}}) == "invalid user name");
    CHECK(err(Frontend::plain, {{"task", "listsessions"}, {"user", "a"}, {"login", "../x"}}) == "invalid login name");
    CHECK(err(Frontend::plain, {{"task", "selectsession"}, {"user", "a"}}) == "selectsession without a profile id (sid)");
    CHECK(err(Frontend::plain, {{"task", "selectsession"}, {"user", "a"}, {"sid", "x]\n[y"}}) == "invalid profile id");
    CHECK(err(Frontend::plain, {{"task", "listprofiles"}, {"user", "a"}}) ==
          "task 'listprofiles' is for /json/ (plain text has 'listsessions')");
    CHECK(err(Frontend::plain, {{"task", "listsessions"}, {"user", "a"}, {"password", std::string(5000, 'x')}}) ==
          "password longer than 4096 bytes");
    CHECK(err(Frontend::plain, {{"task", "listsessions"}, {"user", "a"}, {"authid", "a\rb"}}) == "invalid authid");
}

TEST_CASE("task and frontend names round-trip", "[broker][request]") {
    for (const Task t : {Task::listsessions, Task::listprofiles, Task::selectsession, Task::testcon, Task::setpass,
                         Task::checkaccess})
        CHECK(task_from_string(to_string(t)) == t);
    for (const Frontend f : {Frontend::plain, Frontend::json}) CHECK(frontend_from_string(to_string(f)) == f);
    CHECK_FALSE(task_from_string("listusers"));
}

TEST_CASE("plain-text replies are x2gobroker's, byte for byte", "[broker][replies]") {
    auto set = parse_profiles("[p]\nname=P\ncommand=xterm\nhost=h1\n", "t");
    REQUIRE(set.set);
    VisibleProfiles one{{"p", {{"command", ProfileValue::of_text("xterm")}, {"fullscreen", ProfileValue::of_bool(false)},
                               {"host", ProfileValue::of_list({"h1", "h2"})}, {"name", ProfileValue::of_text("P")}}}};
    CHECK(plain_list(std::nullopt, one) ==
          "Access granted\nSTART_USER_SESSIONS\n\n[p]\ncommand=xterm\nfullscreen=0\nhost=h1,h2\nname=P\n\nEND_USER_SESSIONS\n");
    CHECK(plain_list(std::string("ab12"), {}) == "AUTHID:ab12\nAccess granted\n");
    CHECK(plain_select(std::nullopt, Selection{"10.0.0.2", 2222, {}}) == "Access granted\nSERVER:10.0.0.2:2222\n");
    CHECK(plain_select(std::string("c"), Selection{"no-X2Go-Server-available", 22, {}}) ==
          "AUTHID:c\nAccess granted\nSERVER:no-X2Go-Server-available:22\n");
    CHECK(plain_select(std::nullopt, Selection{"h", 22, "line"}) == "Access granted\nSERVER:h:22\nSESSION_INFO:line\n");
    CHECK(plain_testcon() == "OK");
    CHECK(plain_header(std::string("c")) == "AUTHID:c\nAccess granted\n");
    const auto visible = visible_profiles(*set.set, "alice", {}, "127.0.0.1");
    REQUIRE(visible.size() == 1);
    CHECK(plain_list(std::nullopt, visible).find("\nuser=alice\n") != std::string::npos);
}

TEST_CASE("JSON replies have python-x2go's shape and types", "[broker][replies]") {
    VisibleProfiles one{{"p", {{"host", ProfileValue::of_list({"h1"})}, {"fullscreen", ProfileValue::of_bool(true)},
                               {"width", ProfileValue::of_int(800)}, {"name", ProfileValue::of_text("P")}}}};
    const auto list = nlohmann::json::parse(json_list(std::string("n1"), one));
    CHECK(list["task"] == "listprofiles");
    CHECK(list["auth-status"] == "Access granted");
    CHECK(list["next-authid"] == "n1");
    CHECK(list["profiles"]["p"]["host"] == nlohmann::json::array({"h1"}));
    CHECK(list["profiles"]["p"]["fullscreen"] == true);
    CHECK(list["profiles"]["p"]["width"] == 800);
    const auto sel = nlohmann::json::parse(json_select(std::nullopt, Selection{"10.0.0.2", 22, {}}));
    CHECK(sel["task"] == "selectsession");
    CHECK_FALSE(sel.contains("next-authid"));
    CHECK(sel["selected_session"] == nlohmann::json({{"server", "10.0.0.2"}, {"port", "22"}}));
    CHECK(nlohmann::json::parse(json_select(std::nullopt, std::nullopt))["selected_session"] == nlohmann::json::object());
    // Invalid UTF-8 in a profile never throws.
    VisibleProfiles bad{{"p", {{"name", ProfileValue::of_text("\xff")}}}};
    CHECK_NOTHROW(json_list(std::nullopt, bad));
}

TEST_CASE("authid cookies: once, same user and address, within the lifetime", "[broker][authid]") {
    AuthidStore store{1'000'000, 2};
    const std::string c = store.issue("alice", "10.0.0.1", 0);
    CHECK(c.size() == 32);
    CHECK_FALSE(store.redeem(c, "bob", "10.0.0.1", 1));  // wrong user: and it is used up
    CHECK_FALSE(store.redeem(c, "alice", "10.0.0.1", 1));
    const std::string d = store.issue("alice", "10.0.0.1", 0);
    CHECK_FALSE(store.redeem(d, "alice", "10.0.0.2", 1));
    const std::string e = store.issue("alice", "10.0.0.1", 0);
    CHECK_FALSE(store.redeem(e, "alice", "10.0.0.1", 1'000'000));  // expired
    const std::string f = store.issue("alice", "10.0.0.1", 0);
    CHECK(store.redeem(f, "alice", "10.0.0.1", 999'999));
    store.issue("a", "x", 10);
    store.issue("b", "x", 11);
    store.issue("c", "x", 12);
    CHECK(store.size() == 2);  // bounded
}

TEST_CASE("urlencoded bodies without a Content-Type (x2goclient bug 138)", "[http][form]") {
    auto r = rsm::http::parse_urlencoded("task=listsessions&user=al+ice&password=p%26w%3D&authid=", 64);
    REQUIRE(r.fields);
    CHECK(r.fields->at("user") == "al ice");
    CHECK(r.fields->at("password") == "p&w=");
    CHECK(r.fields->at("authid").empty());
    CHECK(rsm::http::parse_urlencoded("", 64).fields->empty());
    CHECK_FALSE(rsm::http::parse_urlencoded("a=1&a=2", 64).fields);
    CHECK_FALSE(rsm::http::parse_urlencoded("a=%zz", 64).fields);
    CHECK_FALSE(rsm::http::parse_urlencoded("a=1&b=2&c=3", 2).fields);
    CHECK_FALSE(rsm::http::parse_urlencoded(std::string_view("a=\0", 3), 64).fields);
    rsm::http::FormCollector c{4};
    CHECK(c.add("password", "se", 0));
    CHECK(c.add("password", "cret", 2));
    CHECK_FALSE(c.add("password", "x", 0));
    CHECK(c.error() == "form field 'password' given twice");
}

TEST_CASE("broker.toml", "[broker][config]") {
    const auto ok = parse_broker_config(
        "[broker]\nprofiles = \"/etc/x2go/p.conf\"\nbackends = [\"inifile\", \"zeroconf\"]\njson = false\n"
        "[auth]\nmethod = \"none\"\nauthid_lifetime = 300\n[hosts]\nportscan = false\n"
        "[limits]\nconnections_per_address = 1000\n",
        "broker.toml");
    REQUIRE(ok.config);
    CHECK(ok.config->profiles == "/etc/x2go/p.conf");
    CHECK(ok.config->backends.size() == 2);
    CHECK_FALSE(ok.config->enable_json);
    CHECK(ok.config->auth == AuthMethod::none);
    CHECK(ok.config->authid_lifetime_sec == 300);
    CHECK_FALSE(ok.config->portscan);
    CHECK(ok.config->max_connections_per_address == 1000);
    CHECK(ok.config->max_connections == 256);
    CHECK(parse_broker_config("[auth]\nmethod = \"ldap\"\n", "b").error == "b:2: method: expected \"pam\" or \"none\"");
    CHECK(parse_broker_config("[broker]\nprofiles = \"rel\"\n", "b").error == "b:2: profiles: expected an absolute path");
    CHECK(parse_broker_config("[broker]\nfoo = 1\n", "b").error == "b:2: unknown key [broker] foo");
    CHECK(parse_broker_config("", "b").config->auth == AuthMethod::pam);
    CHECK(load_broker_config("/nonexistent/broker.toml").config);  // missing: defaults
}

TEST_CASE("the shipped broker.toml parses", "[broker][config]") {
    const auto r = load_broker_config(RSM_SOURCE_ROOT "/data/broker.toml");
    INFO(r.error);
    CHECK(r.config);
}
