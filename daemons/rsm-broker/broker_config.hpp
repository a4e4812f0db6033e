// rsm-broker's configuration, /etc/rsm/broker.toml (docs/broker.md). A
// missing file means the defaults. The profiles are X2Go's own file, named
// here, and/or [profiles.<id>] tables of this file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/profile_builder.hpp"

namespace rsm::broker {

enum class AuthMethod { pam, none };
// [hosts] agent: how x2gobroker-agent is asked about sessions and load.
enum class AgentMode { none, ssh };
std::string_view to_string(AuthMethod m);
std::optional<AuthMethod> auth_method_from_string(std::string_view s);

struct BrokerConfig {
    // [broker] X2Go's INI file; "" for none.
    std::string profiles = "/etc/x2go/broker/x2gobroker-sessionprofiles.conf";
    // [profiles.<id>] (and [profiles.DEFAULT]), as written; built with the INI's
    // semantics by load_profiles() in profile_sources.hpp.
    std::vector<SourceSection> toml_profiles;
    // URL backends served (/plain/<backend>/); a URL without one is served too.
    std::vector<std::string> backends{"inifile"};
    bool enable_plain = true;
    bool enable_json = true;
    // [auth]
    AuthMethod auth = AuthMethod::pam;
    // 0: no authid cookies; else their lifetime.
    unsigned authid_lifetime_sec = 0;
    std::string gateway_socket = "/run/rsm/gateway.sock";
    // [tls] PEM files; both set: every listening socket serves HTTPS.
    std::string tls_certificate;
    std::string tls_key;
    // [hosts]
    bool portscan = true;              // pick only a host whose SSH port answers
    unsigned probe_timeout_ms = 2000;  // per host
    // x2gobroker-agent over SSH (agent_query.hpp): "none" = profile order.
    AgentMode agent = AgentMode::none;
    std::string agent_user = "x2gobroker";
    // The broker's private key; "": $CREDENTIALS_DIRECTORY/agent_key (LoadCredential=).
    std::string agent_key;
    std::string known_hosts = "/etc/rsm/broker-known-hosts";
    std::string agent_command = "/usr/lib/x2go/x2gobroker-agent";
    unsigned agent_timeout_ms = 5000;  // per ssh run (connect + answer)
    // ssh processes at once, all requests together; beyond, a selection
    // goes without the agent (profile order).
    unsigned agent_max_queries = 16;
    // [autologin] Broker autologin (docs/broker.md, "Autologin"): for a
    // profile whose broker-session-autologin is on (else `default`), the
    // client's public key goes into `authorized_keys` (x2gobroker's %h %u %U
    // %G %%) on the selected server through its agent, and is deleted
    // through it key_lifetime_sec later; sshd's expiry-time= ends it then
    // too, should the deletion never run. Needs [hosts] agent = "ssh".
    bool autologin_default = false;
    std::string authorized_keys = "%h/.x2go/authorized_keys";
    unsigned key_lifetime_sec = 20;
    // Not in broker.toml (tests change them): the ssh client, and how long
    // to wait after asking an agent to suspend a session (x2gobroker: 2 s).
    std::string ssh_program = "/usr/bin/ssh";
    unsigned suspend_wait_ms = 2000;
    // [limits] Open HTTP connections, in all and from one address (behind
    // a TLS proxy every client has the proxy's address: raise it there).
    unsigned max_connections = 256;
    unsigned max_connections_per_address = 32;
};

struct BrokerConfigResult {
    std::optional<BrokerConfig> config;
    std::string error;  // "<file>:<line>: ..."
};
BrokerConfigResult load_broker_config(const std::string& path);
BrokerConfigResult parse_broker_config(std::string_view text, std::string_view source);

}  // namespace rsm::broker
