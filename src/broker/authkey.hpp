// Broker autologin's key material, checked at the edge (docs/broker.md,
// "Autologin"). python-x2go sends its public key with every selectsession
// (x2go/utils.py genkeypair: "no-X11-forwarding,no-pty,no-user-rc ssh-rsa
// <base64> <user>@127.0.0.1"); x2gobroker hands it to x2gobroker-agent's
// addauthkey/delauthkey, whose command line the far side runs through a
// shell and whose delauthkey matches the line with sed. So the key is
// parsed strictly and rebuilt: the client's options must be from a short
// list and are replaced by x2gobroker's own, its comment is dropped, the
// base64 must decode to a key blob of the named type. The line also
// carries sshd's expiry-time= (UTC): a key the broker could not delete
// (crash, unreachable host) stops working anyway. What goes to the agent
// is that rebuilt line, the same for add and delete.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace rsm::broker {

// What the agent writes into the user's authorized_keys for the client.
inline constexpr std::string_view authkey_options = "no-X11-forwarding,no-pty,no-user-rc";
inline constexpr std::string_view authkey_comment = "rsm-broker-autologin";

struct PublicKeyCheck {
    std::optional<std::string> line;  // "<options> <type> <base64> <comment>"
    std::string error;                // what is wrong, for the log (never echoes the key)
};
// `[options ]type base64[ comment]`; types: ssh-ed25519, ssh-rsa,
// ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com,
// sk-ecdsa-sha2-nistp256@openssh.com.
// `expires`: when sshd stops accepting it.
PublicKeyCheck authorized_key_line(std::string_view pubkey, std::time_t expires);
// True for a line authorized_key_line() built (AgentQuery re-checks its arguments).
bool valid_authorized_key_line(std::string_view line);

// sshd's expiry-time= timespec for `t`: "YYYYMMDDHHMMSSZ".
std::string expiry_timespec(std::time_t t);

// x2gobroker's authorized_keys location (broker-authorized-keys,
// default-authorized-keys): %h, %u, %U, %G, %% and the characters
// [A-Za-z0-9._/-], no "..", at most 255 bytes.
bool valid_authorized_keys_path(std::string_view path);

// An argument of the agent's command line as the far shell reads it:
// a plain word as is, an authorized_keys line or path in single quotes
// (they hold no quote, checked above).
std::string agent_shell_word(std::string_view arg);

}  // namespace rsm::broker
