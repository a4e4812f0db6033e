// Tests for src/config: the schema-driven loader. Each check in the loader
// (type, range, unknown section/key, element checks, drop-in order, override
// semantics) has a test here that fails without it.
#include <catch2/catch.hpp>

#include <fstream>
#include <limits>
#include <sstream>

#include "config/config.hpp"
#include "temp_dir.hpp"

using rsm::config::Config;
using rsm::config::ConfigError;
using rsm::config::LoadPaths;
using rsm::config::parse_string;
using namespace std::chrono_literals;

namespace {

// Parses `toml` as "test.toml" and returns the error it must raise.
ConfigError parse_error(const std::string& toml) {
    try {
        parse_string(toml, "test.toml");
    } catch (const ConfigError& e) {
        return e;
    }
    FAIL("expected a ConfigError for:\n" << toml);
    throw std::logic_error("unreachable");
}

std::string read_source_file(const std::string& relative) {
    std::ifstream in{std::string{RSM_SOURCE_ROOT} + "/" + relative};
    REQUIRE(in);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

TEST_CASE("config: compiled-in defaults", "[config]") {
    const Config c;
    CHECK(c.gateway.login_timeout == 30s);
    CHECK(c.gateway.max_login_attempts == 3);
    CHECK(c.gateway.max_connections == 1024);
    CHECK(c.gateway.max_unauthenticated == 64);
    CHECK(c.throttle.max_failures == 5);
    CHECK(c.throttle.window == 60s);
    CHECK(c.throttle.lockout == 60s);
    CHECK_FALSE(c.access.allow_root);
    CHECK(c.access.allowed_users.empty());
    CHECK(c.access.denied_users.empty());
    CHECK(c.access.allowed_groups.empty());
    CHECK(c.access.denied_groups.empty());
    CHECK(c.pam.service == "rsm");
    CHECK(parse_string("", "empty.toml") == c);
}

TEST_CASE("config: every key is read into its own member", "[config]") {
    const Config c = parse_string(R"(
[gateway]
login_timeout = 11
max_login_attempts = 12
max_connections = 13
max_unauthenticated = 14
[throttle]
max_failures = 15
window = 16
lockout = 17
[access]
allow_root = true
allowed_users = ["alice", "bob"]
denied_users = ["mallory"]
allowed_groups = ["remote users"]
denied_groups = ["nologin"]
[pam]
service = "rsm-test"
)", "full.toml");
    CHECK(c.gateway.login_timeout == 11s);
    CHECK(c.gateway.max_login_attempts == 12);
    CHECK(c.gateway.max_connections == 13);
    CHECK(c.gateway.max_unauthenticated == 14);
    CHECK(c.throttle.max_failures == 15);
    CHECK(c.throttle.window == 16s);
    CHECK(c.throttle.lockout == 17s);
    CHECK(c.access.allow_root);
    CHECK(c.access.allowed_users == std::vector<std::string>{"alice", "bob"});
    CHECK(c.access.denied_users == std::vector<std::string>{"mallory"});
    CHECK(c.access.allowed_groups == std::vector<std::string>{"remote users"});
    CHECK(c.access.denied_groups == std::vector<std::string>{"nologin"});
    CHECK(c.pam.service == "rsm-test");
}

TEST_CASE("config: a TOML syntax error names file, line and column", "[config]") {
    const auto e = parse_error("[gateway]\nlogin_timeout = = 3\n");
    CHECK(e.file() == "test.toml");
    CHECK(e.line() == 2);
    CHECK(e.column() > 0);
    CHECK_THAT(e.what(), Catch::StartsWith("test.toml:2:" + std::to_string(e.column()) + ": syntax error"));
}

TEST_CASE("config: a duplicate key is a syntax error", "[config]") {
    const auto e = parse_error("[pam]\nservice = \"a\"\nservice = \"b\"\n");
    CHECK(e.line() == 3);
}

TEST_CASE("config: an unknown section is refused", "[config]") {
    const auto e = parse_error("[gateway]\nlogin_timeout = 5\n\n[gatway]\nmax_connections = 5\n");
    CHECK(e.line() == 4);
    CHECK(e.key() == "gatway");
    CHECK(std::string{e.what()} == "test.toml:4: gatway: unknown section [gatway]");
}

TEST_CASE("config: a top-level key is an unknown section", "[config]") {
    const auto e = parse_error("login_timeout = 5\n");
    CHECK(e.key() == "login_timeout");
    CHECK_THAT(e.what(), Catch::Contains("unknown section"));
}

TEST_CASE("config: a section that is not a table is refused", "[config]") {
    const auto e = parse_error("gateway = 5\n");
    CHECK(std::string{e.what()} == "test.toml:1: gateway: expected a table (section), got an integer");
}

TEST_CASE("config: an unknown key is refused", "[config]") {
    const auto e = parse_error("[gateway]\nlogin_timeout = 5\nlogin_timeot = 5\n");
    CHECK(e.line() == 3);
    CHECK(e.key() == "gateway.login_timeot");
    CHECK(std::string{e.what()} == "test.toml:3: gateway.login_timeot: unknown key in section [gateway]");
}

TEST_CASE("config: a key of another section is unknown here", "[config]") {
    const auto e = parse_error("[gateway]\nwindow = 5\n");
    CHECK(e.key() == "gateway.window");
}

TEST_CASE("config: a sub-table inside a section is an unknown key", "[config]") {
    const auto e = parse_error("[gateway.extra]\nlogin_timeout = 5\n");
    CHECK(e.key() == "gateway.extra");
}

TEST_CASE("config: wrong types say what was expected and what was given", "[config]") {
    SECTION("string for an integer") {
        const auto e = parse_error("[gateway]\nlogin_timeout = \"30\"\n");
        CHECK(std::string{e.what()} == "test.toml:2: gateway.login_timeout: expected an integer, got a string");
    }
    SECTION("float for an integer") {
        const auto e = parse_error("[throttle]\nmax_failures = 2.5\n");
        CHECK(std::string{e.what()} ==
              "test.toml:2: throttle.max_failures: expected an integer, got a floating-point number");
    }
    SECTION("string for a boolean") {
        const auto e = parse_error("[access]\nallow_root = \"yes\"\n");
        CHECK(std::string{e.what()} == "test.toml:2: access.allow_root: expected a boolean, got a string");
    }
    SECTION("integer for a string") {
        const auto e = parse_error("[pam]\nservice = 1\n");
        CHECK(std::string{e.what()} == "test.toml:2: pam.service: expected a string, got an integer");
    }
    SECTION("string for an array") {
        const auto e = parse_error("[access]\nallowed_users = \"alice\"\n");
        CHECK(std::string{e.what()} ==
              "test.toml:2: access.allowed_users: expected an array of strings, got a string");
    }
}

TEST_CASE("config: integers out of range are refused", "[config]") {
    const auto e = parse_error("[gateway]\n\nlogin_timeout = 0\n");
    CHECK(std::string{e.what()} == "test.toml:3: gateway.login_timeout: must be between 1 and 3600, got 0");
    CHECK(e.key() == "gateway.login_timeout");
    CHECK(e.line() == 3);

    const auto negative = parse_error("[gateway]\nmax_login_attempts = -1\n");
    CHECK_THAT(negative.what(), Catch::EndsWith("must be between 0 and 100, got -1"));
}

// Every session's executor link is kept in rsm-manager.service's fd store
// (FileDescriptorStoreMax=RSM_FD_STORE_MAX): max_sessions stays below it.
TEST_CASE("config: max_sessions cannot exceed what the manager's fd store keeps", "[config]") {
    STATIC_REQUIRE(rsm::config::max_sessions_ceiling < RSM_FD_STORE_MAX);
    CHECK(parse_string("[session]\nmax_sessions = 16000\n", "t.toml").session.max_sessions == 16000);
    CHECK_THROWS_WITH(parse_string("[session]\nmax_sessions = 16001\n", "t.toml"),
                      Catch::EndsWith("must be between 0 and 16000, got 16001"));
}

// Drives every integer row of the schema through its bounds, so a row with a
// wrong range or a missing check fails here.
TEST_CASE("config: every integer key accepts its bounds and refuses beyond them", "[config]") {
    for (const auto& row : rsm::config::schema()) {
        const bool is_integer = std::holds_alternative<unsigned& (*)(Config&)>(row.access) ||
                                std::holds_alternative<std::chrono::seconds& (*)(Config&)>(row.access);
        if (!is_integer)
            continue;
        // Keys checked against each other get a partner that allows the bound.
        std::string partner;
        if (row.section == "session" && row.key == "display_first")
            partner = "display_last = 65535\n";
        if (row.section == "session" && row.key == "display_last")
            partner = "display_first = 0\n";
        const std::string head =
            "[" + std::string{row.section} + "]\n" + partner + std::string{row.key} + " = ";
        INFO(row.section << "." << row.key);
        for (const auto ok : {row.min, row.max}) {
            const Config c = parse_string(head + std::to_string(ok) + "\n", "t.toml");
            // Read the value back through the row's own accessor.
            Config copy = c;
            const auto got = std::visit(
                [&copy](auto get) -> std::int64_t {
                    using Get = decltype(get);
                    if constexpr (std::is_same_v<Get, unsigned& (*)(Config&)>)
                        return get(copy);
                    else if constexpr (std::is_same_v<Get, std::chrono::seconds& (*)(Config&)>)
                        return get(copy).count();
                    else
                        return -1;
                },
                row.access);
            CHECK(got == ok);
        }
        for (const auto bad : {row.min - 1, row.max + 1}) {
            CHECK_THROWS_WITH(parse_string(head + std::to_string(bad) + "\n", "t.toml"),
                              Catch::Contains("must be between " + std::to_string(row.min) + " and " +
                                              std::to_string(row.max) + ", got " + std::to_string(bad)));
        }
    }
}

TEST_CASE("config: invalid string values are refused", "[config]") {
    SECTION("a bad user name in a list names the element") {
        const auto e = parse_error("[access]\ndenied_users = [\"alice\", \"-rf\"]\n");
        CHECK(e.key() == "access.denied_users[1]");
        CHECK_THAT(e.what(), Catch::StartsWith("test.toml:2: access.denied_users[1]: invalid value \"-rf\": "));
    }
    SECTION("allowed_users is checked too") {
        const auto e = parse_error("[access]\nallowed_users = [\"12345\"]\n");
        CHECK(e.key() == "access.allowed_users[0]");
    }
    SECTION("a group name with ':'") {
        const auto e = parse_error("[access]\nallowed_groups = [\"a:b\"]\n");
        CHECK(e.key() == "access.allowed_groups[0]");
    }
    SECTION("denied groups are checked too") {
        const auto e = parse_error("[access]\ndenied_groups = [\"\"]\n");
        CHECK(e.key() == "access.denied_groups[0]");
    }
    SECTION("a PAM service that is a path") {
        const auto e = parse_error("[pam]\nservice = \"../login\"\n");
        CHECK_THAT(e.what(), Catch::StartsWith("test.toml:2: pam.service: invalid value \"../login\": "));
    }
    SECTION("a PAM service with upper case") {
        CHECK_THROWS_AS(parse_string("[pam]\nservice = \"RSM\"\n", "t"), ConfigError);
    }
    SECTION("an empty PAM service") {
        CHECK_THROWS_AS(parse_string("[pam]\nservice = \"\"\n", "t"), ConfigError);
    }
    SECTION("a PAM service of 64 characters is fine, 65 is not") {
        CHECK(parse_string("[pam]\nservice = \"" + std::string(64, 'a') + "\"\n", "t").pam.service.size() == 64);
        CHECK_THROWS_AS(parse_string("[pam]\nservice = \"" + std::string(65, 'a') + "\"\n", "t"), ConfigError);
    }
}

TEST_CASE("config: a wrong element type inside an array is refused", "[config]") {
    const auto e = parse_error("[access]\nallowed_groups = [\n  \"wheel\",\n  5,\n]\n");
    CHECK(e.key() == "access.allowed_groups[1]");
    CHECK(e.line() == 4);
    CHECK(std::string{e.what()} == "test.toml:4: access.allowed_groups[1]: expected a string, got an integer");
}

TEST_CASE("config: applying a document overrides key by key, arrays whole", "[config]") {
    Config c = parse_string("[gateway]\nlogin_timeout = 10\nmax_connections = 7\n"
                            "[access]\nallowed_users = [\"alice\", \"bob\"]\ndenied_users = [\"eve\"]\n",
                            "a.toml");
    rsm::config::apply_string(c, "[gateway]\nlogin_timeout = 20\n[access]\nallowed_users = [\"carol\"]\n",
                              "b.toml");
    CHECK(c.gateway.login_timeout == 20s);
    CHECK(c.gateway.max_connections == 7);
    CHECK(c.access.allowed_users == std::vector<std::string>{"carol"});
    CHECK(c.access.denied_users == std::vector<std::string>{"eve"});

    // An explicit empty array clears.
    rsm::config::apply_string(c, "[access]\ndenied_users = []\n", "c.toml");
    CHECK(c.access.denied_users.empty());
}

TEST_CASE("config: load with neither file nor drop-in directory gives the defaults", "[config]") {
    rsm::test::TempDir dir;
    CHECK(rsm::config::load({dir.path() / "rsm.toml", dir.path() / "rsm.toml.d"}) == Config{});
}

TEST_CASE("config: load reads the main file", "[config]") {
    rsm::test::TempDir dir;
    dir.write("rsm.toml", "[gateway]\nlogin_timeout = 99\n");
    const Config c = rsm::config::load({dir.path() / "rsm.toml", dir.path() / "rsm.toml.d"});
    CHECK(c.gateway.login_timeout == 99s);
}

TEST_CASE("config: drop-ins without a main file are read", "[config]") {
    rsm::test::TempDir dir;
    dir.write("rsm.toml.d/50-x.toml", "[throttle]\nlockout = 600\n");
    const Config c = rsm::config::load({dir.path() / "rsm.toml", dir.path() / "rsm.toml.d"});
    CHECK(c.throttle.lockout == 600s);
}

TEST_CASE("config: drop-ins override the main file in byte order of their names", "[config]") {
    rsm::test::TempDir dir;
    dir.write("rsm.toml", "[gateway]\nlogin_timeout = 1\nmax_connections = 100\nmax_unauthenticated = 9\n"
                          "[access]\nallowed_users = [\"alice\"]\n");
    // Written out of order so that directory order is unlikely to match. In
    // byte order: "10-a" < "9-b" < "B-upper" < "a-lower".
    dir.write("rsm.toml.d/a-lower.toml", "[gateway]\nlogin_timeout = 5\n");
    dir.write("rsm.toml.d/9-b.toml", "[gateway]\nlogin_timeout = 3\nmax_connections = 3\n[pam]\nservice = \"nine\"\n");
    dir.write("rsm.toml.d/B-upper.toml", "[gateway]\nlogin_timeout = 4\nmax_connections = 4\n");
    dir.write("rsm.toml.d/10-a.toml", "[gateway]\nlogin_timeout = 2\nmax_connections = 2\n[pam]\nservice = \"ten\"\n"
                                      "[access]\nallowed_users = [\"bob\"]\n");

    const Config c = rsm::config::load({dir.path() / "rsm.toml", dir.path() / "rsm.toml.d"});
    CHECK(c.gateway.login_timeout == 5s);      // a-lower is last
    CHECK(c.gateway.max_connections == 4);     // B-upper is the last to set it
    CHECK(c.pam.service == "nine");            // 9-b after 10-a
    CHECK(c.gateway.max_unauthenticated == 9); // only the main file sets it
    CHECK(c.access.allowed_users == std::vector<std::string>{"bob"});
}

TEST_CASE("config: other files in the drop-in directory are ignored", "[config]") {
    rsm::test::TempDir dir;
    const std::string broken = "this is [not toml\n";
    dir.write("rsm.toml.d/README", broken);
    dir.write("rsm.toml.d/50-x.toml.disabled", broken);
    dir.write("rsm.toml.d/50-x.toml~", broken);
    dir.write("rsm.toml.d/.hidden.toml", broken);
    dir.write("rsm.toml.d/sub.toml/inner.toml", broken);  // a directory named *.toml
    dir.write("rsm.toml.d/60-y.toml", "[gateway]\nmax_connections = 60\n");
    const Config c = rsm::config::load({dir.path() / "rsm.toml", dir.path() / "rsm.toml.d"});
    CHECK(c.gateway.max_connections == 60);
}

TEST_CASE("config: an error in a drop-in names the drop-in", "[config]") {
    rsm::test::TempDir dir;
    dir.write("rsm.toml", "[gateway]\nlogin_timeout = 10\n");
    const auto bad = dir.write("rsm.toml.d/20-bad.toml", "# comment\n[throttle]\nwindow = 0\n");
    CHECK_THROWS_WITH(rsm::config::load({dir.path() / "rsm.toml", dir.path() / "rsm.toml.d"}),
                      bad.string() + ":3: throttle.window: must be between 1 and 86400, got 0");
}

TEST_CASE("config: an unreadable main file is an error, not a missing one", "[config]") {
    rsm::test::TempDir dir;
    std::filesystem::create_directory(dir.path() / "rsm.toml");  // read() fails with EISDIR
    CHECK_THROWS_WITH(rsm::config::load({dir.path() / "rsm.toml", dir.path() / "rsm.toml.d"}),
                      Catch::StartsWith((dir.path() / "rsm.toml").string() + ": cannot read"));
}

TEST_CASE("config: a drop-in path that is not a directory is an error", "[config]") {
    rsm::test::TempDir dir;
    dir.write("rsm.toml.d", "");
    CHECK_THROWS_AS(rsm::config::load({dir.path() / "rsm.toml", dir.path() / "rsm.toml.d"}), ConfigError);
}

TEST_CASE("config: loading again picks up changes", "[config]") {
    rsm::test::TempDir dir;
    const LoadPaths paths{dir.path() / "rsm.toml", dir.path() / "rsm.toml.d"};
    dir.write("rsm.toml", "[throttle]\nmax_failures = 1\n");
    CHECK(rsm::config::load(paths).throttle.max_failures == 1);
    dir.write("rsm.toml", "[throttle]\nmax_failures = 2\n");
    CHECK(rsm::config::load(paths).throttle.max_failures == 2);
}

TEST_CASE("config: the system paths are under /etc/rsm", "[config]") {
    const auto paths = LoadPaths::system();
    CHECK(paths.main_file == "/etc/rsm/rsm.toml");
    CHECK(paths.dropin_dir == "/etc/rsm/rsm.toml.d");
}

TEST_CASE("config: to_toml reads back to the same configuration", "[config]") {
    Config c;
    CHECK(parse_string(rsm::config::to_toml(c), "dump") == c);
    c.gateway.login_timeout = 5s;
    c.gateway.max_login_attempts = 0;
    c.throttle.max_failures = 0;
    c.throttle.lockout = 86400s;
    c.access.allow_root = true;
    c.access.allowed_users = {"alice", "bob"};
    c.access.denied_groups = {"domain \"users\""};
    c.pam.service = "other";
    CHECK(parse_string(rsm::config::to_toml(c), "dump") == c);
    // A value starting with a newline (toml++ would write it as '''...''',
    // whose first newline TOML drops).
    c.display.xvfb.argv = {"\na", "b\nc", "it's"};
    CHECK(parse_string(rsm::config::to_toml(c), "dump") == c);
}

TEST_CASE("config: schema rows are unique and documented", "[config]") {
    const auto rows = rsm::config::schema();
    for (std::size_t i = 0; i < rows.size(); ++i) {
        INFO(rows[i].section << "." << rows[i].key);
        CHECK_FALSE(rows[i].doc.empty());
        for (std::size_t j = i + 1; j < rows.size(); ++j)
            CHECK_FALSE((rows[i].section == rows[j].section && rows[i].key == rows[j].key));
    }
}

TEST_CASE("config: the shipped data/rsm.toml holds exactly the defaults", "[config]") {
    const std::string shipped = read_source_file("data/rsm.toml");
    CHECK(parse_string(shipped, "data/rsm.toml") == Config{});
    for (const auto& row : rsm::config::schema()) {
        INFO(row.section << "." << row.key);
        CHECK_THAT(shipped, Catch::Contains("\n" + std::string{row.key} + " = "));
    }
}

TEST_CASE("config: docs/configuration.md documents every key", "[config]") {
    const std::string docs = read_source_file("docs/configuration.md");
    for (const auto& row : rsm::config::schema()) {
        INFO(row.section << "." << row.key);
        CHECK_THAT(docs, Catch::Contains("`" + std::string{row.section} + "." + std::string{row.key} + "`"));
    }
}

// --- [session] and [display.*] -----------------------------------------------

TEST_CASE("config: [session] and [display] defaults", "[config]") {
    const Config c;
    CHECK(c.session.default_type == "xvnc");
    CHECK(c.session.reconnect_policy == "UBD");
    CHECK(c.session.max_sessions == 100);
    CHECK(c.session.max_sessions_per_user == 5);
    CHECK(c.session.startup_timeout == 30s);
    CHECK(c.session.disconnected_timeout == 0s);
    CHECK(c.session.idle_timeout == 0s);
    CHECK(c.session.max_lifetime == 0s);
    CHECK(c.session.start_script == "/etc/rsm/startwm.sh");
    CHECK(c.session.reconnect_script.empty());
    CHECK(c.session.slice == "rsm.slice");
    CHECK(c.session.memory_max.empty());
    CHECK(c.session.tasks_max == 0);
    CHECK(c.session.cpu_weight == 0);
    CHECK(c.session.display_first == 10);
    CHECK(c.session.display_last == 1000);
    using Argv = std::vector<std::string>;
    CHECK(c.display.xvnc.argv ==
          Argv{"Xvnc", ":%d", "-displayfd", "3", "-auth", "%a", "-geometry", "%g", "-depth", "%b", "-SecurityTypes",
               "None", "-rfbunixpath", "%s", "-rfbunixmode", "0600", "-rfbport", "-1", "-nolisten", "tcp"});
    CHECK(c.display.xvfb.argv ==
          Argv{"Xvfb", ":%d", "-displayfd", "3", "-auth", "%a", "-screen", "0", "%gx%b", "-nolisten", "tcp"});
    CHECK(c.display.xorg.argv == Argv{"/usr/lib/xorg/Xorg", ":%d", "-displayfd", "3", "-auth", "%a", "-config",
                                      "xrdp/xorg.conf", "-noreset", "-nolisten", "tcp", "-logfile",
                                      ".xorgxrdp.%d.log"});
}

TEST_CASE("config: every [session] and [display] key is read into its own member", "[config]") {
    const Config c = parse_string(R"(
[session]
default_type = "xorg"
reconnect_policy = "UBDI"
max_sessions = 21
max_sessions_per_user = 22
startup_timeout = 23
disconnected_timeout = 24
idle_timeout = 25
max_lifetime = 26
start_script = "/usr/local/bin/start"
reconnect_script = "/usr/local/bin/again"
slice = "rsm-desktops.slice"
memory_max = "4G"
tasks_max = 27
cpu_weight = 28
display_first = 29
display_last = 30

[display.xvnc]
argv = ["Xvnc", ":%d"]

[display.xvfb]
argv = ["Xvfb", "%D"]

[display.xorg]
argv = ["Xorg", "-x", "%%"]
)", "full.toml");
    CHECK(c.session.default_type == "xorg");
    CHECK(c.session.reconnect_policy == "UBDI");
    CHECK(c.session.max_sessions == 21);
    CHECK(c.session.max_sessions_per_user == 22);
    CHECK(c.session.startup_timeout == 23s);
    CHECK(c.session.disconnected_timeout == 24s);
    CHECK(c.session.idle_timeout == 25s);
    CHECK(c.session.max_lifetime == 26s);
    CHECK(c.session.start_script == "/usr/local/bin/start");
    CHECK(c.session.reconnect_script == "/usr/local/bin/again");
    CHECK(c.session.slice == "rsm-desktops.slice");
    CHECK(c.session.memory_max == "4G");
    CHECK(c.session.tasks_max == 27);
    CHECK(c.session.cpu_weight == 28);
    CHECK(c.session.display_first == 29);
    CHECK(c.session.display_last == 30);
    CHECK(c.display.xvnc.argv == std::vector<std::string>{"Xvnc", ":%d"});
    CHECK(c.display.xvfb.argv == std::vector<std::string>{"Xvfb", "%D"});
    CHECK(c.display.xorg.argv == std::vector<std::string>{"Xorg", "-x", "%%"});
}

TEST_CASE("config: display tables may be written inline or with dotted keys", "[config]") {
    CHECK(parse_string("display = { xvfb = { argv = [\"a\"] } }\n", "t").display.xvfb.argv ==
          std::vector<std::string>{"a"});
    const Config c = parse_string("[display]\nxvnc.argv = [\"b\"]\nxorg = { argv = [\"c\"] }\n", "t");
    CHECK(c.display.xvnc.argv == std::vector<std::string>{"b"});
    CHECK(c.display.xorg.argv == std::vector<std::string>{"c"});
    CHECK(c.display.xvfb == Config{}.display.xvfb);
}

TEST_CASE("config: unknown display sections and keys are refused", "[config]") {
    SECTION("an unknown display type") {
        const auto e = parse_error("[display.xvnc]\nargv = [\"X\"]\n\n[display.wayland]\nargv = [\"weston\"]\n");
        CHECK(std::string{e.what()} == "test.toml:4: display.wayland: unknown section [display.wayland]");
    }
    SECTION("a key directly in [display]") {
        const auto e = parse_error("[display]\nargv = [\"X\"]\n");
        CHECK(std::string{e.what()} == "test.toml:2: display.argv: unknown key in section [display]");
    }
    SECTION("an unknown key in [display.xvnc]") {
        const auto e = parse_error("[display.xvnc]\nargs = [\"X\"]\n");
        CHECK(std::string{e.what()} == "test.toml:2: display.xvnc.args: unknown key in section [display.xvnc]");
    }
    SECTION("a sub-table of [display.xvnc]") {
        const auto e = parse_error("[display.xvnc.extra]\nargv = [\"X\"]\n");
        CHECK(e.key() == "display.xvnc.extra");
        CHECK_THAT(e.what(), Catch::EndsWith("unknown key in section [display.xvnc]"));
    }
    SECTION("display that is not a table") {
        const auto e = parse_error("display = \"xvnc\"\n");
        CHECK(std::string{e.what()} == "test.toml:1: display: expected a table (section), got a string");
    }
    SECTION("display.xvnc that is not a table") {
        const auto e = parse_error("[display]\nxvnc = [\"Xvnc\"]\n");
        CHECK(std::string{e.what()} == "test.toml:2: display.xvnc: expected a table (section), got an array");
    }
    SECTION("[session] is not a parent of sections") {
        const auto e = parse_error("[session.extra]\nx = 1\n");
        CHECK(std::string{e.what()} == "test.toml:1: session.extra: unknown key in section [session]");
    }
}

TEST_CASE("config: display templates are validated with their key and line", "[config]") {
    SECTION("an unknown placeholder") {
        const auto e = parse_error("[display.xvnc]\n\nargv = [\"Xvnc\", \"-a\", \"b\", \"-x%q\"]\n");
        CHECK(e.key() == "display.xvnc.argv");
        CHECK(e.line() == 3);
        CHECK(std::string{e.what()} ==
              "test.toml:3: display.xvnc.argv: invalid value: argument 3 \"-x%q\": unknown placeholder %q");
    }
    SECTION("a placeholder in the program") {
        const auto e = parse_error("[display.xorg]\nargv = [\"%u\"]\n");
        CHECK(std::string{e.what()} ==
              "test.toml:2: display.xorg.argv: invalid value: argument 0 \"%u\": the program may not contain "
              "placeholders");
    }
    SECTION("a lone '%'") {
        const auto e = parse_error("[display.xvfb]\nargv = [\"Xvfb\", \"50%\"]\n");
        CHECK(e.key() == "display.xvfb.argv");
        CHECK_THAT(e.what(), Catch::Contains("'%' at the end"));
    }
    SECTION("an empty template") {
        const auto e = parse_error("[display.xvfb]\nargv = []\n");
        CHECK(std::string{e.what()} == "test.toml:2: display.xvfb.argv: invalid value: must name the display server program");
    }
    SECTION("an empty program") {
        const auto e = parse_error("[display.xvfb]\nargv = [\"\", \"x\"]\n");
        CHECK_THAT(e.what(), Catch::EndsWith("argument 0: the program is empty"));
    }
    SECTION("a wrong element type names the element") {
        const auto e = parse_error("[display.xvnc]\nargv = [\"Xvnc\", 3]\n");
        CHECK(std::string{e.what()} == "test.toml:2: display.xvnc.argv[1]: expected a string, got an integer");
    }
}

TEST_CASE("config: [session] string values are checked", "[config]") {
    SECTION("default_type") {
        for (const char* ok : {"xvnc", "xvfb", "xorg", "null", "xpra", "xpra-desktop"})
            CHECK(parse_string(std::string{"[session]\ndefault_type = \""} + ok + "\"\n", "t").session.default_type == ok);
        const auto e = parse_error("[session]\ndefault_type = \"wayland\"\n");
        CHECK(std::string{e.what()} ==
              "test.toml:2: session.default_type: invalid value \"wayland\": must be one of xvnc, xvfb, xorg, null, "
              "xpra, xpra-desktop, nxagent");
    }
    SECTION("reconnect_policy") {
        CHECK(parse_string("[session]\nreconnect_policy = \"Default\"\n", "t").session.reconnect_policy == "Default");
        CHECK(parse_string("[session]\nreconnect_policy = \"C\"\n", "t").session.reconnect_policy == "C");
        const auto e = parse_error("[session]\n\nreconnect_policy = \"UBX\"\n");
        CHECK(e.key() == "session.reconnect_policy");
        CHECK_THAT(e.what(), Catch::StartsWith("test.toml:3: session.reconnect_policy: invalid value \"UBX\": "
                                               "unknown letter 'X'"));
        CHECK_THAT(parse_error("[session]\nreconnect_policy = \"UBB\"\n").what(), Catch::EndsWith("letter 'B' given twice"));
        CHECK_THAT(parse_error("[session]\nreconnect_policy = \"UC\"\n").what(), Catch::EndsWith("must stand alone"));
        CHECK_THAT(parse_error("[session]\nreconnect_policy = \"\"\n").what(), Catch::Contains("empty"));
    }
    SECTION("start_script must be absolute") {
        const auto e = parse_error("[session]\nstart_script = \"startwm.sh\"\n");
        CHECK(std::string{e.what()} ==
              "test.toml:2: session.start_script: invalid value \"startwm.sh\": must be an absolute path");
        CHECK_THROWS_AS(parse_string("[session]\nstart_script = \"\"\n", "t"), ConfigError);
        CHECK_THROWS_WITH(parse_string("[session]\nstart_script = \"/a\\nb\"\n", "t"),
                          Catch::EndsWith("must not contain control characters"));
    }
    SECTION("reconnect_script may be empty, else absolute") {
        CHECK(parse_string("[session]\nreconnect_script = \"\"\n", "t").session.reconnect_script.empty());
        const auto e = parse_error("[session]\nreconnect_script = \"again.sh\"\n");
        CHECK(e.key() == "session.reconnect_script");
        CHECK_THAT(e.what(), Catch::EndsWith("must be an absolute path"));
    }
    SECTION("slice") {
        for (const char* ok : {"rsm.slice", "-.slice", "user-rsm.slice", "a:b_c.d\\x2d.slice", "system-rsm-desk.slice"}) {
            INFO(ok);
            CHECK(parse_string(std::string{"[session]\nslice = '"} + ok + "'\n", "t").session.slice == ok);
        }
        for (const char* bad : {"rsm", "rsm.scope", ".slice", "-rsm.slice", "rsm-.slice", "a--b.slice",
                                "r sm.slice", "r/sm.slice", "rsm@1.slice"}) {
            INFO(bad);
            const auto e = parse_error(std::string{"[session]\nslice = '"} + bad + "'\n");
            CHECK(e.key() == "session.slice");
            CHECK(e.line() == 2);
        }
        CHECK_THROWS_WITH(parse_string("[session]\nslice = \"" + std::string(250, 'a') + ".slice\"\n", "t"),
                          Catch::EndsWith("must be at most 255 characters"));
    }
    SECTION("memory_max") {
        for (const char* ok : {"", "infinity", "1", "512K", "4G", "1T", "100M"}) {
            INFO(ok);
            CHECK(parse_string(std::string{"[session]\nmemory_max = \""} + ok + "\"\n", "t").session.memory_max == ok);
        }
        const auto e = parse_error("[session]\nmemory_max = \"4GB\"\n");
        CHECK(std::string{e.what()} ==
              "test.toml:2: session.memory_max: invalid value \"4GB\": unknown suffix \"GB\" (expected K, M, G or T)");
        CHECK_THROWS_WITH(parse_string("[session]\nmemory_max = \"0\"\n", "t"), Catch::Contains("greater than 0"));
    }
}

TEST_CASE("config: parse_memory_size", "[config]") {
    using rsm::config::parse_memory_size;
    CHECK_FALSE(parse_memory_size(""));
    CHECK(parse_memory_size("infinity") == std::numeric_limits<std::uint64_t>::max());
    CHECK(parse_memory_size("1") == 1u);
    CHECK(parse_memory_size("1023") == 1023u);
    CHECK(parse_memory_size("2K") == 2048u);
    CHECK(parse_memory_size("3M") == 3u * 1024 * 1024);
    CHECK(parse_memory_size("4G") == 4ull << 30);
    CHECK(parse_memory_size("5T") == 5ull << 40);
    CHECK(parse_memory_size("16777215T") == 16777215ull << 40);
    CHECK(parse_memory_size("18446744073709551615") == std::numeric_limits<std::uint64_t>::max());
    CHECK_THROWS_WITH(parse_memory_size("16777216T"), "too large");
    CHECK_THROWS_WITH(parse_memory_size("18446744073709551616"), "too large");
    CHECK_THROWS_WITH(parse_memory_size("0"), Catch::StartsWith("must be greater than 0"));
    CHECK_THROWS_WITH(parse_memory_size("0K"), Catch::StartsWith("must be greater than 0"));
    for (const char* bad : {"G", "-1", "+1", " 1", "1 ", "1.5G", "Infinity", "1k", "1g", "1KB", "1KiB", "1E", "0x10"}) {
        INFO(bad);
        CHECK_THROWS_AS(parse_memory_size(bad), std::invalid_argument);
    }
}

TEST_CASE("config: display_first must not exceed display_last", "[config]") {
    SECTION("equal is fine") {
        const Config c = parse_string("[session]\ndisplay_first = 50\ndisplay_last = 50\n", "t");
        CHECK(c.session.display_first == 50);
    }
    SECTION("the first set alone against the default last") {
        const auto e = parse_error("[session]\n\ndisplay_first = 2000\n");
        CHECK(std::string{e.what()} ==
              "test.toml:3: session.display_first: must not be greater than session.display_last (1000), got 2000");
    }
    SECTION("the key set later in the file is named") {
        const auto e = parse_error("[session]\ndisplay_first = 20\ndisplay_last = 10\n");
        CHECK(std::string{e.what()} ==
              "test.toml:3: session.display_last: must not be less than session.display_first (20), got 10");
        const auto e2 = parse_error("[session]\ndisplay_last = 10\ndisplay_first = 20\n");
        CHECK(e2.key() == "session.display_first");
        CHECK(e2.line() == 3);
    }
    SECTION("load checks once, after every file") {
        rsm::test::TempDir dir;
        const LoadPaths paths{dir.path() / "rsm.toml", dir.path() / "rsm.toml.d"};
        dir.write("rsm.toml", "[session]\ndisplay_first = 2000\n");
        dir.write("rsm.toml.d/50-range.toml", "[session]\ndisplay_last = 3000\n");
        const Config c = rsm::config::load(paths);
        CHECK(c.session.display_first == 2000);
        CHECK(c.session.display_last == 3000);

        const auto bad = dir.write("rsm.toml.d/60-low.toml", "# lower\n[session]\ndisplay_last = 1500\n");
        CHECK_THROWS_WITH(rsm::config::load(paths),
                          bad.string() + ":3: session.display_last: must not be less than session.display_first "
                                         "(2000), got 1500");
    }
    SECTION("apply_string checks the result") {
        Config c = parse_string("[session]\ndisplay_first = 500\n", "a.toml");
        CHECK_THROWS_WITH(rsm::config::apply_string(c, "[session]\ndisplay_last = 400\n", "b.toml"),
                          Catch::StartsWith("b.toml:2: session.display_last: "));
        // Inconsistent before, and not touched by the document: named without a line.
        Config broken;
        broken.session.display_first = 7;
        broken.session.display_last = 6;
        CHECK_THROWS_WITH(rsm::config::apply_string(broken, "[pam]\nservice = \"x\"\n", "c.toml"),
                          Catch::StartsWith("c.toml: session.display_last: must not be less than"));
    }
}

TEST_CASE("config: to_toml round-trips [session] and nested [display.*] tables", "[config]") {
    Config c;
    c.session.default_type = "null";
    c.session.reconnect_policy = "C";
    c.session.max_sessions = 0;
    c.session.idle_timeout = 3600s;
    c.session.reconnect_script = "/usr/bin/true";
    c.session.memory_max = "infinity";
    c.session.cpu_weight = 10000;
    c.session.display_first = 0;
    c.session.display_last = 0;
    c.display.xvnc.argv = {"Xvnc", "say \"%%\"", "%D"};
    c.display.xorg.argv = {"/opt/x y/Xorg"};
    const std::string text = rsm::config::to_toml(c);
    CHECK_THAT(text, Catch::Contains("[display.xvnc]"));
    CHECK_THAT(text, Catch::Contains("[session]"));
    CHECK(parse_string(text, "dump") == c);
    CHECK(parse_string(rsm::config::to_toml(Config{}), "dump") == Config{});
}
