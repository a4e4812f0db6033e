// SCP v1 management, what xrdp-sesadmin 0.9.21 speaks (sesman/libscp/
// libscp_v1c_mng.c, the client; libscp_v1s_mng.c, sesman's side): a login,
// then session lists. All numbers big-endian; strings are a u8 length and
// that many bytes. Every message starts with u32 version=1, u32 size (whole
// message), u16 command set = 1 (manage), u16 command:
//
//   1 login      u8-string user, u8-string password, u8 address type
//                (0: u32 IPv4, 1: 16-byte IPv6), u8-string host name
//   2 allowed    (no data)
//   3 denied     u8 length + reason text. sesman 0.9.21 writes a u16 length
//                here, but sesadmin reads a u8 (its high byte, 0): it shows
//                an empty reason. We write what the only client reads.
//   5 list req   (no data)
//   6 list       u32 total, u8 continued, u8 count, then per session:
//                u32 id, u8 type, u16 height, u16 width, u8 bpp,
//                u8 idle days, hours, minutes, u16 year, u8 month, day,
//                hour, minute (of the connection, local time), u8 address
//                type + address (sesman: always IPv4 0.0.0.0)
//   7 action     sesman 0.9.21 accepts it and does nothing. xrdp-sesadmin
//                0.9.21 never sends it: "-c=kill:<sid>" calls cmndKill(),
//                whose body is empty, so no kill reaches any server.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace rsm::scp {

enum class V1MngCommand : std::uint16_t { login = 1, allowed = 2, denied = 3, list_request = 5, list = 6, action = 7 };

struct V1MngLogin {
    std::string user;
    std::string password;
    std::string address;  // the client's own idea of its address, as text (sesadmin: "0.0.0.0")
    std::string host_name;
};

// A v1 management message body (after the 8-byte header): the command, and
// for a login its fields. Anything else is an error text.
struct V1MngMessage {
    V1MngCommand command = V1MngCommand::list_request;
    std::optional<V1MngLogin> login;
};
std::variant<V1MngMessage, std::string> parse_v1_mng(std::span<const std::uint8_t> body);

// The session types sesman puts in a list (SESMAN_SESSION_TYPE_* of
// sesman/session.h, not libscp's SCP_SESSION_TYPE_*): sesadmin prints the
// number as "Session type".
enum class V1SessionType : std::uint8_t { none = 0, x11rdp = 1, xvnc = 2, xorg = 3 };

// One session in a list reply, as the wire has it.
struct V1MngSession {
    std::uint32_t id = 0;
    V1SessionType type = V1SessionType::none;
    std::uint16_t width = 0, height = 0;
    std::uint8_t bpp = 0;
    std::uint32_t idle_minutes = 0;
    std::uint64_t connected_usec = 0;  // CLOCK_REALTIME; sent in local time, as sesman does
};

// What rsm's Gateway1.ListSessions says of a session, and how it maps:
//   id          the first 7 hex digits of rsm's 32-digit id as a number
//               (sesadmin prints it with %d: 28 bits stay positive), so
//               printf %07x turns "Session ID" back into the id's prefix
//   type        xvnc 2, xorg 3, anything else 0 (not an xrdp type)
//   geometry    width, height, depth (clamped to the wire's u16/u8)
//   idle        time since the disconnection for a disconnected session,
//               else 0 (sesman never sets it at all)
//   connected   the session's creation time
// User, display and state are not in sesadmin's list format.
struct RsmSessionInfo {
    std::string id;
    std::string type;
    std::string state;
    std::uint32_t width = 0, height = 0, depth = 0;
    std::uint64_t created_usec = 0, disconnected_usec = 0;
};
V1MngSession v1_session_of(const RsmSessionInfo& s, std::uint64_t now_usec);
std::uint32_t v1_session_id_of(const std::string& rsm_id);

std::vector<std::uint8_t> encode_v1_mng_allowed();
// The reason is cut to 255 bytes (the u8 length).
std::vector<std::uint8_t> encode_v1_mng_denied(const std::string& reason);
// One or more messages (at most 100 sessions each, as sesman sends them).
std::vector<std::uint8_t> encode_v1_mng_list(const std::vector<V1MngSession>& sessions);
// Requests as xrdp-sesadmin sends them (tests, fuzz seeds).
std::vector<std::uint8_t> encode_v1_mng_login(const V1MngLogin& login);
std::vector<std::uint8_t> encode_v1_mng_list_request();

}  // namespace rsm::scp
