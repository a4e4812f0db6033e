// Broker autologin (docs/broker.md, "Autologin"): the client's public key
// checked and rebuilt with x2gobroker's options and sshd's expiry-time=
// (src/broker/authkey), the profile keys and [autologin], the JSON answer,
// and the key added and deleted through the agent (AutologinKeys, against
// a fake ssh, fake_ssh.hpp).
#include <catch2/catch.hpp>


#include "autologin_keys.hpp"
#include "broker/authkey.hpp"
#include "broker/profiles_ini.hpp"
#include "broker/replies.hpp"
#include "broker_config.hpp"
#include "fake_ssh.hpp"
#include "util/handles.hpp"

using namespace rsm::broker;

namespace {

const std::string key_b64 = "AAAAC3NzaC1lZDI1NTE5AAAAIJJtew14PtgNvT/OaMwNvUU9uYuquv5GpJ9m6HyUEj+R";
// 2026-12-04 12:00:00 UTC
constexpr std::time_t noon = 1796385600;
const std::string rebuilt = "no-X11-forwarding,no-pty,no-user-rc,expiry-time=\"20261204120000Z\" ssh-ed25519 " + key_b64 +
                            " rsm-broker-autologin";

std::string refused(std::string_view pubkey) {
    const auto c = authorized_key_line(pubkey, noon);
    CHECK_FALSE(c.line);
    return c.error;
}

}  // namespace

TEST_CASE("a client's public key is rebuilt with the broker's options and an expiry", "[broker][autologin]") {
    CHECK(expiry_timespec(noon) == "20261204120000Z");
    // python-x2go's form (x2go/utils.py genkeypair), its comment dropped.
    auto c = authorized_key_line("no-X11-forwarding,no-pty,no-user-rc ssh-ed25519 " + key_b64 + " alice@127.0.0.1", noon);
    REQUIRE(c.line);
    CHECK(*c.line == rebuilt);
    c = authorized_key_line("ssh-ed25519 " + key_b64, noon);
    REQUIRE(c.line);
    CHECK(*c.line == rebuilt);
    CHECK(valid_authorized_key_line(rebuilt));
    CHECK(agent_shell_word(rebuilt) == "'" + rebuilt + "'");
    CHECK(agent_shell_word("addauthkey") == "addauthkey");
}

TEST_CASE("a public key the far shell or sshd would read more into is refused", "[broker][autologin]") {
    CHECK(refused("") == "no public key");
    CHECK(refused("command=\"/bin/sh\" ssh-ed25519 " + key_b64).find("options are not among") != std::string::npos);
    CHECK(refused("no-pty,permitopen=\"*:*\" ssh-ed25519 " + key_b64).find("options") != std::string::npos);
    CHECK(refused("ssh-dss " + key_b64).find("type is unknown") != std::string::npos);
    CHECK(refused("ssh-ed25519") == "the public key is not '[options] type base64 [comment]'");
    CHECK(refused("ssh-ed25519 " + key_b64 + "'") == "the key's base64 has a wrong length");
    CHECK(refused("ssh-ed25519 AAAA'AAA") == "the key is not base64");
    CHECK(refused("ssh-rsa " + key_b64) == "the key blob is not of the named type");
    CHECK(refused("ssh-ed25519 " + key_b64 + " x\ncommand=x") == "the public key has a control or non-ASCII character");
    CHECK(refused(std::string(20000, 'a')) == "the public key is too long");
    // What AgentQuery lets through is only the rebuilt form.
    CHECK_FALSE(valid_authorized_key_line("ssh-ed25519 " + key_b64 + " rsm-broker-autologin"));
    CHECK_FALSE(valid_authorized_key_line(rebuilt + " x"));
    CHECK_FALSE(valid_authorized_key_line(std::string(rebuilt).replace(rebuilt.find(" ssh"), 1, "  ")));
    CHECK_FALSE(valid_authorized_key_line(std::string(rebuilt).replace(rebuilt.find("2026"), 4, "20'6")));
    CHECK(valid_authorized_keys_path("%h/.x2go/authorized_keys"));
    CHECK_FALSE(valid_authorized_keys_path("%h/../x"));
    CHECK_FALSE(valid_authorized_keys_path("%h/a b"));
    CHECK_FALSE(valid_authorized_keys_path("-x"));
}

TEST_CASE("broker-session-autologin marks a profile as x2gobroker does", "[broker][autologin]") {
    auto r = parse_profiles("[a]\nbroker-session-autologin=true\nbroker-authorized-keys=%h/.ssh/x2go_keys\n[b]\nname=b\n"
                            "[c]\nbroker-session-autologin=false\n",
                            "p.conf");
    INFO(r.error);
    REQUIRE(r.set);
    const auto a = options_for_user(*r.set->find("a"), "alice");
    CHECK(a.at("autologin") == ProfileValue::of_bool(true));
    CHECK(a.at("key").text == "<will-be-exchanged-during-session-selection>");
    CHECK(r.set->find("a")->authorized_keys == "%h/.ssh/x2go_keys");
    CHECK(options_for_user(*r.set->find("b"), "alice").count("key") == 0);
    // [autologin] default = true: on where the profile says nothing.
    CHECK(options_for_user(*r.set->find("b"), "alice", true).at("autologin") == ProfileValue::of_bool(true));
    CHECK(options_for_user(*r.set->find("c"), "alice", true).count("key") == 0);
    r = parse_profiles("[a]\nbroker-session-autologin=perhaps\n", "p.conf");
    CHECK(r.error == "p.conf:2: [a] broker-session-autologin: 'perhaps' is not a boolean (true/false, yes/no, on/off, 1/0)");
    r = parse_profiles("[a]\nbroker-authorized-keys=%h/../../etc/x\n", "p.conf");
    CHECK(r.error.starts_with("p.conf:2: [a] broker-authorized-keys: '%h/../../etc/x' is not a path"));
}

TEST_CASE("[autologin] in broker.toml", "[broker][autologin]") {
    auto c = parse_broker_config("[autologin]\ndefault = true\nauthorized_keys = \"%h/.ssh/authorized_keys2\"\n"
                                 "key_lifetime = 60\n",
                                 "b");
    INFO(c.error);
    REQUIRE(c.config);
    CHECK(c.config->autologin_default);
    CHECK(c.config->authorized_keys == "%h/.ssh/authorized_keys2");
    CHECK(c.config->key_lifetime_sec == 60);
    c = parse_broker_config("", "b");
    CHECK_FALSE(c.config->autologin_default);
    CHECK(c.config->authorized_keys == "%h/.x2go/authorized_keys");
    CHECK(c.config->key_lifetime_sec == 20);
    CHECK(parse_broker_config("[autologin]\nauthorized_keys = \"$(reboot)\"\n", "b").error.find("authorized_keys: expected") !=
          std::string::npos);
    CHECK(parse_broker_config("[autologin]\nkey_lifetime = 1\n", "b").error.find("key_lifetime") != std::string::npos);
}

TEST_CASE("an accepted key is ACCEPTED in the JSON answer only", "[broker][autologin]") {
    Selection s{"10.0.0.1", 22, {}, true};
    INFO(json_select(std::nullopt, s));
    CHECK(json_select(std::nullopt, s).find("\"authentication_pubkey\": \"ACCEPTED\"") != std::string::npos);
    CHECK(plain_select(std::nullopt, s) == "Access granted\nSERVER:10.0.0.1:22\n");
    s.pubkey_accepted = false;
    CHECK(json_select(std::nullopt, s).find("authentication_pubkey") == std::string::npos);
}

namespace {

struct Run {
    rsm::EventPtr event;
    rsm::EventSourcePtr poll;
    std::function<bool()> done_when;
    Run() {
        sd_event* e = nullptr;
        REQUIRE(sd_event_new(&e) >= 0);
        event.reset(e);
    }
    // Runs the loop until done_when() holds (checked every 5 ms, at most 5 s).
    void until(std::function<bool()> when) {
        done_when = std::move(when);
        sd_event_source* s = nullptr;
        REQUIRE(sd_event_add_time_relative(
                    event.get(), &s, CLOCK_MONOTONIC, 5000, 0,
                    [](sd_event_source* src, std::uint64_t, void* p) {
                        auto& r = *static_cast<Run*>(p);
                        if (r.done_when()) return sd_event_exit(sd_event_source_get_event(src), 0);
                        sd_event_source_set_time_relative(src, 5000);
                        return sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
                    },
                    this) >= 0);
        poll.reset(s);
        sd_event_source* deadline = nullptr;
        REQUIRE(sd_event_add_time_relative(event.get(), &deadline, CLOCK_MONOTONIC, 5'000'000, 0,
                                           [](sd_event_source* src, std::uint64_t, void*) {
                                               return sd_event_exit(sd_event_source_get_event(src), 1);
                                           },
                                           nullptr) >= 0);
        rsm::EventSourcePtr keep{deadline};
        REQUIRE(sd_event_loop(event.get()) == 0);
    }
};

}  // namespace

TEST_CASE("an autologin key is added through the agent, then deleted through it", "[broker][autologin][process]") {
    FakeSsh agent("echo OK\n");
    auto config = agent.config();
    config.key_lifetime_sec = 0;  // the deletion at once
    Run run;
    unsigned slots = 0;
    AutologinKeys keys{run.event.get(), config, slots};
    std::optional<bool> accepted;
    keys.add(AgentTarget{"10.0.0.1", 22}, "alice", rebuilt, "%h/.x2go/authorized_keys", [&](bool ok) { accepted = ok; });
    run.until([&] { return accepted && keys.pending_deletions() == 0 && slots == 0; });
    CHECK(*accepted);
    const std::string words = " /usr/lib/x2go/x2gobroker-agent alice ";
    CHECK(agent.calls() == "10.0.0.1" + words + "addauthkey '" + rebuilt + "' '%h/.x2go/authorized_keys'\n" +
                               "10.0.0.1" + words + "delauthkey '" + rebuilt + "' '%h/.x2go/authorized_keys'\n");
}

TEST_CASE("an autologin key the agent cannot add is not ACCEPTED and not deleted", "[broker][autologin][process]") {
    FakeSsh agent("echo 'sudo: a password is required' >&2; exit 1\n");
    auto config = agent.config();
    config.key_lifetime_sec = 0;  // the deletion at once
    Run run;
    unsigned slots = 0;
    AutologinKeys keys{run.event.get(), config, slots};
    std::optional<bool> accepted;
    keys.add(AgentTarget{"10.0.0.1", 22}, "alice", rebuilt, "%h/.x2go/authorized_keys", [&](bool ok) { accepted = ok; });
    run.until([&] { return accepted.has_value() && slots == 0; });
    CHECK_FALSE(*accepted);
    CHECK(keys.pending_deletions() == 0);
    CHECK(agent.calls().find("delauthkey") == std::string::npos);
    // No free agent run: refused at once, nothing run.
    slots = config.agent_max_queries;
    accepted.reset();
    keys.add(AgentTarget{"10.0.0.1", 22}, "alice", rebuilt, "%h/.x2go/authorized_keys", [&](bool ok) { accepted = ok; });
    CHECK(accepted == false);
    slots = 0;
}
