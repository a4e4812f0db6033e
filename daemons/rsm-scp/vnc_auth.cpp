#include "vnc_auth.hpp"

#include <nettle/des.h>

namespace rsm::scp_daemon {

namespace {

std::uint8_t reverse_bits(std::uint8_t b) {
    std::uint8_t r = 0;
    for (int i = 0; i < 8; ++i)
        if (b & (1u << i)) r |= static_cast<std::uint8_t>(0x80u >> i);
    return r;
}

}  // namespace

VncChallenge vnc_encrypt_challenge(const VncChallenge& challenge, std::string_view password) {
    std::uint8_t key[DES_KEY_SIZE] = {};
    for (std::size_t i = 0; i < DES_KEY_SIZE && i < password.size(); ++i)
        key[i] = reverse_bits(static_cast<std::uint8_t>(password[i]));
    des_ctx ctx;
    // des_set_key returns 0 for the handful of weak keys but sets them up
    // anyway; VNC has no notion of weak keys, so neither do we. Parity bits
    // are ignored.
    (void)des_set_key(&ctx, key);
    VncChallenge out{};
    des_encrypt(&ctx, challenge.size(), out.data(), challenge.data());  // ECB, two blocks
    return out;
}

bool vnc_response_ok(const VncChallenge& challenge, std::string_view password,
                     std::span<const std::uint8_t> response) {
    if (response.size() != challenge.size()) return false;
    const VncChallenge expected = vnc_encrypt_challenge(challenge, password);
    std::uint8_t diff = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) diff |= static_cast<std::uint8_t>(expected[i] ^ response[i]);
    return diff == 0;
}

}  // namespace rsm::scp_daemon
