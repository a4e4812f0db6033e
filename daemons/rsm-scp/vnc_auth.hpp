// RFB's "VNC authentication" (RFC 6143 7.2.2), server side: the response to
// a 16-byte challenge is the challenge DES-encrypted (ECB) with the password
// as key - at most 8 bytes, zero-padded, each byte's bits reversed (the
// quirk of the original VNC's d3des, which xrdp's vnc/vnc.c shares).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace rsm::scp_daemon {

using VncChallenge = std::array<std::uint8_t, 16>;

VncChallenge vnc_encrypt_challenge(const VncChallenge& challenge, std::string_view password);
// Constant-time comparison of a client's response with the expected one.
bool vnc_response_ok(const VncChallenge& challenge, std::string_view password,
                     std::span<const std::uint8_t> response);

}  // namespace rsm::scp_daemon
