// SCP v0, the protocol xrdp 0.9.21 speaks to its session manager (sesman)
// to log a user in and get a display: one request, one reply, per TCP
// connection. Layout from xrdp's sesman/libscp/libscp_v0.c at v0.9.21 (all
// numbers big-endian; strings are a u16 length and that many bytes, no NUL):
//
//   request  u32 version=0, u32 size, u16 code,
//            code 0/10/20: string user, string password, u16 width,
//                u16 height, u16 bpp, then optionally (older clients stop
//                after bpp) string domain, string program, string directory,
//                string connection description ("127.0.0.1:58584 - socket: 12")
//            code 4 (gateway authentication): string user, string password
//   reply    accept  u32 0, u32 30, u16 3, u16 1, u16 display, 16-byte GUID
//            deny    u32 0, u32 14, u16 3, u16 0, u16 0
//            gateway u32 0, u32 14, u16 4, u16 result (0 = ok), u16 0
//
// The parser takes the body after the 8-byte header (frame_reader.hpp) and
// checks everything sesman checks, and a little more: no NUL bytes inside
// strings (sesman would cut them there), a known bpp, nothing left over.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rsm::scp {

enum class V0Code : std::uint16_t {
    xvnc = 0,           // Xvnc; xrdp then connects to 127.0.0.1:5900+display with VNC auth
    x11rdp = 10,        // the old X11rdp server (rsm has none)
    xorg = 20,          // Xorg + xorgxrdp; xrdp connects to xorgxrdp's socket
    gateway_auth = 4,   // authentication only (xrdp as an RDP gateway)
};
const char* to_string(V0Code c);
std::optional<V0Code> v0_code_from_number(std::uint16_t n);

// sesman's limit for one string (STRING16_MAX_LEN).
inline constexpr std::size_t v0_max_string = 512;

struct V0Request {
    V0Code code = V0Code::xvnc;
    std::string user;
    std::string password;
    // Display requests only (not gateway_auth):
    std::uint16_t width = 0, height = 0, bpp = 0;
    std::string domain, program, directory;
    std::string connection_description;  // free text from xrdp; see client_address_of()
};

// Parses a v0 request body. Returns the request, or a text saying what is
// wrong (for the log; the peer only ever gets a deny).
std::variant<V0Request, std::string> parse_v0_request(std::span<const std::uint8_t> body);

using Guid = std::array<std::uint8_t, 16>;

std::vector<std::uint8_t> encode_v0_accept(std::uint16_t display, const Guid& guid);
std::vector<std::uint8_t> encode_v0_deny();
std::vector<std::uint8_t> encode_v0_gateway_reply(bool ok);
// A request, as xrdp sends it (for tests, benchmarks and fuzz seeds).
std::vector<std::uint8_t> encode_v0_request(const V0Request& r, bool with_trailing_strings = true);

// The client's address in xrdp's connection description: "ADDR:PORT - socket:
// N" (IPv4), "::ffff:ADDR:PORT - ..." or "[V6]:PORT - ..."; "" if none can be
// read. The result still needs protocol::canonicalize_address.
std::string client_address_of(std::string_view connection_description);

}  // namespace rsm::scp
