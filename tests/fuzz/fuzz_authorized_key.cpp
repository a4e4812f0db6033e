// Fuzz target: broker autologin's public key from the client
// (src/broker/authkey: the selectsession form's pubkey=, checked and
// rebuilt before it goes to x2gobroker-agent's command line, which the far
// side runs through a shell, and into the user's authorized_keys).
// Properties: no crash; a key is either refused with a reason or rebuilt
// into a line that valid_authorized_key_line() accepts, that starts with
// the broker's own options and expiry and ends with its comment, holds no
// quote, control or non-ASCII byte, and reaches the shell as one quoted
// word; a refusal is a short fixed reason (no copy of the input).
//
// Input: the pubkey field's value, as it would arrive (URL-decoded).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "broker/authkey.hpp"
#include "fuzz_check.hpp"

using namespace rsm::broker;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    constexpr std::time_t noon = 1796385600;  // 2026-12-04 12:00:00 UTC
    const auto c = authorized_key_line(input, noon);
    FUZZ_CHECK(c.line.has_value() != !c.error.empty());
    if (!c.line) {
        FUZZ_CHECK(c.error.size() <= 200);  // a fixed reason, no copy of the input
        return 0;
    }
    const std::string& line = *c.line;
    FUZZ_CHECK(valid_authorized_key_line(line));
    const std::string head = std::string(authkey_options) + ",expiry-time=\"20261204120000Z\" ";
    FUZZ_CHECK(line.starts_with(head));
    FUZZ_CHECK(line.ends_with(" " + std::string(authkey_comment)));
    for (const char ch : line) FUZZ_CHECK(ch >= 0x20 && ch < 0x7f && ch != '\'' && ch != '\\' && ch != '`');
    FUZZ_CHECK(agent_shell_word(line) == "'" + line + "'");
    // Rebuilding the rebuilt key changes nothing.
    const auto again = authorized_key_line(line.substr(line.find(" ") + 1), noon);
    FUZZ_CHECK(again.line && *again.line == line);
    return 0;
}
