// rsm-broker's TOML profiles ([profiles.<id>] in broker.toml): the same
// semantics as X2Go's INI file (one builder, src/broker/profile_builder),
// native TOML types, errors with file, line and key, and the merge with an
// INI file (daemons/rsm-broker/profile_sources).
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

#include "broker/profiles_ini.hpp"
#include "broker_config.hpp"
#include "profile_sources.hpp"

using namespace rsm::broker;

namespace {

ProfilesResult from_toml(const std::string& text) {
    const auto c = parse_broker_config("[broker]\nprofiles = \"\"\n" + text, "broker.toml");
    if (!c.config) return {std::nullopt, c.error};
    return load_profiles(*c.config, "broker.toml");
}

}  // namespace

TEST_CASE("TOML profiles mean what the same INI profiles mean", "[broker][profiles-toml]") {
    const auto toml = from_toml(R"T([profiles.DEFAULT]
command = "TERMINAL"
sshport = 2222
[profiles.pool]
name = "Pool"
host = ["down (127.0.0.1:22462)", "up (127.0.0.1)"]
command = "xfce"
rootless = true
acl-users-allow = ["ALL"]
acl-users-deny = ["bob"]
acl-clients-allow = ["10.0.0.0/8", "127.0.0.1"]
[profiles.plain]
host = "srv"
fullscreen = "yes"
)T");
    INFO(toml.error);
    REQUIRE(toml.set);
    const auto ini = parse_profiles(R"T([DEFAULT]
command=TERMINAL
sshport=2222
[pool]
name=Pool
host=down (127.0.0.1:22462),up (127.0.0.1)
command=xfce
rootless=true
acl-users-allow=ALL
acl-users-deny=bob
acl-clients-allow=10.0.0.0/8,127.0.0.1
[plain]
host=srv
fullscreen=yes
)T", "p.conf");
    REQUIRE(ini.set);
    REQUIRE(toml.set->profiles.size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
        const Profile& t = toml.set->profiles[i];
        const Profile& n = ini.set->profiles[i];
        CHECK(t.id == n.id);
        CHECK(t.options == n.options);
        CHECK(t.sshport == n.sshport);
        REQUIRE(t.hosts.size() == n.hosts.size());
        for (std::size_t h = 0; h < t.hosts.size(); ++h) {
            CHECK(t.hosts[h].address == n.hosts[h].address);
            CHECK(t.hosts[h].port == n.hosts[h].port);
        }
    }
    const Profile* pool = toml.set->find("pool");
    REQUIRE(pool);
    CHECK(pool->hosts[0].port == 22462);
    CHECK(pool->hosts[1].port == 2222);  // [profiles.DEFAULT] sshport
    CHECK(pool->options.at("rootless").boolean);
    CHECK(acl_permits(pool->acl, "alice", {}, "10.1.2.3"));
    CHECK_FALSE(acl_permits(pool->acl, "bob", {}, "10.1.2.3"));
    CHECK_FALSE(acl_permits(pool->acl, "alice", {}, "192.0.2.1"));
}

TEST_CASE("TOML profile errors name file, line and key", "[broker][profiles-toml]") {
    CHECK(from_toml("[profiles.p]\nsshport = \"abc\"\n").error == "broker.toml:4: [p] sshport: 'abc' is not an integer");
    CHECK(from_toml("[profiles.p]\nhost = [\"a b\"]\n").error ==
          "broker.toml:4: [p] host: 'a b' is not 'name' or 'name (address[:port])'");
    CHECK(from_toml("[profiles.p]\nhost = [\"a,b\"]\n").error == "broker.toml:4: [profiles.p] host: 'a,b': an item may not contain ','");
    CHECK(from_toml("[profiles.p]\nheight = 1.5\n").error ==
          "broker.toml:4: [profiles.p] height: expected a string, a boolean, an integer or an array of strings");
    CHECK(from_toml("[profiles.p]\nhost = [true]\n").error == "broker.toml:4: [profiles.p] host: expected an array of strings");
    CHECK(from_toml("[profiles]\np = 1\n").error == "broker.toml:4: profiles.p: expected a table ([profiles.p])");
    CHECK(from_toml("[profiles.p]\nacl-clients-allow = [\"nonsense/99\"]\n").error ==
          "broker.toml:4: [p] acl-clients-allow: 'nonsense/99' is not an address, a network (CIDR) or ALL");
}

TEST_CASE("TOML profiles join the INI file's; one id in both is refused", "[broker][profiles-toml]") {
    char path[] = "/tmp/rsm-broker-profiles-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    std::ofstream(path) << "[from-ini]\nhost=a\n[both]\nhost=b\n";
    auto c = parse_broker_config(std::string("[broker]\nprofiles = \"") + path + "\"\n[profiles.from-toml]\nhost = \"c\"\n",
                                 "broker.toml");
    REQUIRE(c.config);
    auto r = load_profiles(*c.config, "broker.toml");
    INFO(r.error);
    REQUIRE(r.set);
    REQUIRE(r.set->profiles.size() == 3);
    CHECK(r.set->find("from-ini"));
    CHECK(r.set->find("from-toml"));
    c = parse_broker_config(std::string("[broker]\nprofiles = \"") + path + "\"\n[profiles.both]\nhost = \"c\"\n", "broker.toml");
    REQUIRE(c.config);
    r = load_profiles(*c.config, "broker.toml");
    CHECK(r.error == std::string("broker.toml: profile 'both' is also defined in ") + path);
    std::remove(path);
}
