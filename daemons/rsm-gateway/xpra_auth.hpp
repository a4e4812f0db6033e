// xpra 3.1's challenge-response login, the gateway's side
// (xpra/net/digest.py, client_base.py send_challenge_reply):
//
//   gateway -> client  ["challenge", server_salt, "", digest, salt_digest, "password"]
//   client -> gateway  hello with challenge_response and challenge_client_salt:
//       salt     = HMAC(key=client_salt, msg=server_salt, salt_digest).hexdigest()
//       response = HMAC(key=password, msg=salt, digest).hexdigest()   for hmac+*
//                = password XOR salt (salt zero-padded to the password's length) for xor
//
// rsm checks passwords with PAM (LoginWithPassword, in rsm's executor), which
// needs the password itself: an HMAC proves knowledge of a password the
// verifier already has, and the gateway has none. So a PAM login asks for
// digest "xor", which hands the gateway the password (masked by a salt only
// this connection knows), exactly what xpra's own server does for system
// accounts ("sys" auth). The xpra client sends an xor response only over an
// encrypted (ssl, wss) or local connection, and so does the gateway ask for
// one only there (xpra_session.cpp refuses other connections with a reason).
// HMAC verification (strongest hmac+sha* both sides know) is here for
// password files (multifile), where the gateway holds the password.
//
// Each connection gets a fresh 32-byte random server salt; the salt digest
// is always the strongest hmac+sha* the client lists (never xor or des, as
// xpra 3.1's client itself insists).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "xpra_codec.hpp"

namespace rsm::gateway::xpra {

struct Challenge {
    std::string server_salt;  // 64 lower-case hex digits (32 random bytes)
    std::string digest;       // "xor" or "hmac+sha..."
    std::string salt_digest;  // "hmac+sha..."
};

// The strongest of hmac+sha512, +sha384, +sha256, +sha224, +sha1 in the
// client's list of strings `offered` (a hello's "digest" or "salt-digest"),
// or "" if none (md5, xor and des are never chosen).
std::string strongest_hmac(const Value* offered);

// HMAC(key, message) in lower-case hex, for digest "hmac+sha..." of the
// list above; nullopt for any other name.
std::optional<std::string> hmac_hex(std::string_view digest, std::string_view key, std::string_view message);

// Whether the gateway may ask for the password (digest "xor"): only where
// the xpra client itself sends it, over TLS or to a local address.
constexpr bool password_login_allowed(bool loopback, bool tls) noexcept { return loopback || tls; }

// The challenge for `hello`: digest "xor" when `need_password` (PAM), else
// the strongest hmac. nullopt with `error` (for the client) if the client
// offers no usable digest.
std::optional<Challenge> make_challenge(const Value& hello, bool need_password, std::string& error);

// The packet to send.
Value challenge_packet(const Challenge& c);

// The salt both sides mix into the response (see the top), from the
// response hello's challenge_client_salt; nullopt with `error` if missing
// or shorter than 16 bytes.
std::optional<std::string> combined_salt(const Challenge& c, const Value& hello, std::string& error);

// For digest "xor": the password in the response hello; nullopt with `error`.
std::optional<std::string> recover_password(const Challenge& c, const Value& hello, std::string& error);

// For an hmac digest: whether the response hello proves `password`
// (constant-time comparison).
bool verify_response(const Challenge& c, const Value& hello, std::string_view password);

}  // namespace rsm::gateway::xpra
