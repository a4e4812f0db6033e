#include "xpra_auth.hpp"

#include <array>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdexcept>

namespace rsm::gateway::xpra {

namespace {

struct Hmac {
    std::string_view name;
    gnutls_mac_algorithm_t algorithm;
    std::size_t size;
};
// Strongest first.
constexpr std::array<Hmac, 5> hmacs{{
    {"hmac+sha512", GNUTLS_MAC_SHA512, 64},
    {"hmac+sha384", GNUTLS_MAC_SHA384, 48},
    {"hmac+sha256", GNUTLS_MAC_SHA256, 32},
    {"hmac+sha224", GNUTLS_MAC_SHA224, 28},
    {"hmac+sha1", GNUTLS_MAC_SHA1, 20},
}};

bool lists(const Value* offered, std::string_view name) {
    const List* l = offered ? offered->list() : nullptr;
    if (!l) return false;
    for (const auto& v : *l)
        if (const std::string* s = v.string(); s && *s == name) return true;
    return false;
}

std::string hex(const unsigned char* p, std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * n);
    for (std::size_t i = 0; i < n; ++i) {
        out += digits[p[i] >> 4];
        out += digits[p[i] & 15];
    }
    return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    unsigned char d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
    return d == 0;
}

}  // namespace

std::string strongest_hmac(const Value* offered) {
    for (const auto& h : hmacs)
        if (lists(offered, h.name)) return std::string(h.name);
    return {};
}

std::optional<std::string> hmac_hex(std::string_view digest, std::string_view key, std::string_view message) {
    for (const auto& h : hmacs) {
        if (h.name != digest) continue;
        std::array<unsigned char, 64> out{};
        if (gnutls_hmac_fast(h.algorithm, key.data(), key.size(), message.data(), message.size(), out.data()) < 0)
            return std::nullopt;
        return hex(out.data(), h.size);
    }
    return std::nullopt;
}

std::optional<Challenge> make_challenge(const Value& hello, bool need_password, std::string& error) {
    Challenge c;
    c.salt_digest = strongest_hmac(hello.find("salt-digest"));
    if (c.salt_digest.empty()) {
        error = "the client offers no hmac+sha salt digest (xpra 3.1 or later is needed)";
        return std::nullopt;
    }
    if (need_password) {
        if (!lists(hello.find("digest"), "xor")) {
            error = "the client does not offer the 'xor' digest a system password login needs";
            return std::nullopt;
        }
        c.digest = "xor";
    } else {
        c.digest = strongest_hmac(hello.find("digest"));
        if (c.digest.empty()) {
            error = "the client offers no hmac+sha digest";
            return std::nullopt;
        }
    }
    std::array<unsigned char, 32> salt{};
    if (gnutls_rnd(GNUTLS_RND_NONCE, salt.data(), salt.size()) < 0) {
        error = "no random bytes for the salt";
        return std::nullopt;
    }
    c.server_salt = hex(salt.data(), salt.size());
    return c;
}

Value challenge_packet(const Challenge& c) {
    return List{"challenge", c.server_salt, "", c.digest, c.salt_digest, "password"};
}

std::optional<std::string> combined_salt(const Challenge& c, const Value& hello, std::string& error) {
    const Value* v = hello.find("challenge_client_salt");
    const std::string* client_salt = v ? v->string() : nullptr;
    if (!client_salt || client_salt->size() < 16) {
        error = "the response has no client salt of at least 16 bytes";
        return std::nullopt;
    }
    if (*client_salt == c.server_salt) {
        error = "the client salt repeats the server's";
        return std::nullopt;
    }
    auto salt = hmac_hex(c.salt_digest, *client_salt, c.server_salt);
    if (!salt) error = "unsupported salt digest " + c.salt_digest;
    return salt;
}

std::optional<std::string> recover_password(const Challenge& c, const Value& hello, std::string& error) {
    if (c.digest != "xor") {
        error = "not an xor challenge";
        return std::nullopt;
    }
    const Value* v = hello.find("challenge_response");
    const std::string* response = v ? v->string() : nullptr;
    if (!response || response->empty()) {
        error = "the hello has no challenge_response";
        return std::nullopt;
    }
    auto salt = combined_salt(c, hello, error);
    if (!salt) return std::nullopt;
    std::string password = *response;
    for (std::size_t i = 0; i < password.size() && i < salt->size(); ++i)
        password[i] = static_cast<char>(password[i] ^ (*salt)[i]);
    return password;
}

bool verify_response(const Challenge& c, const Value& hello, std::string_view password) {
    const Value* v = hello.find("challenge_response");
    const std::string* response = v ? v->string() : nullptr;
    std::string error;
    const auto salt = combined_salt(c, hello, error);
    if (!response || !salt || password.empty()) return false;
    const auto expected = hmac_hex(c.digest, password, *salt);
    return expected && equal_constant_time(*expected, *response);
}

}  // namespace rsm::gateway::xpra
