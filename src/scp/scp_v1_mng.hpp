// SCP v1 management, what xrdp-sesadmin 0.9.21 speaks (sesman/libscp/
// libscp_v1c_mng.c): a login, then a session list. All numbers big-endian;
// strings are a u8 length and that many bytes. Every message starts with
// u32 version=1, u32 size (whole message), u16 command set = 1 (manage),
// u16 command:
//
//   1 login      u8-string user, u8-string password, u8 address type
//                (0: u32 IPv4, 1: 16-byte IPv6), u8-string host name
//   2 allowed    (no data)
//   3 denied     u16 length + reason text
//   5 list req   (no data)
//   6 list       u32 total, u8 continued, u8 count, then per session:
//                u32 id, u8 type, u16 height, u16 width, u8 bpp,
//                u8 idle days, hours, minutes, u16 year, u8 month, day,
//                hour, minute (of the connection), u8 address type + address
//   7 action     (sesman 0.9.21 accepts it and does nothing; sesadmin's
//                "kill:<sid>" sends nothing at all: its cmndKill is empty)
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
    std::string address;  // the client's own idea of its address, as text ("" if none)
    std::string host_name;
};

// A v1 management message body (after the 8-byte header): the command, and
// for a login its fields. Anything else is an error text.
struct V1MngMessage {
    V1MngCommand command = V1MngCommand::list_request;
    std::optional<V1MngLogin> login;
};
std::variant<V1MngMessage, std::string> parse_v1_mng(std::span<const std::uint8_t> body);

// One session in a list reply; sesadmin prints id, type, size, bpp, idle
// time and the connection time.
struct V1MngSession {
    std::uint32_t id = 0;
    std::uint8_t type = 0;  // 0 Xvnc, 1 X11rdp, 3 Xorg (libscp_types.h)
    std::uint16_t width = 0, height = 0;
    std::uint8_t bpp = 0;
    std::uint32_t idle_minutes = 0;
    std::uint64_t connected_usec = 0;  // CLOCK_REALTIME, shown in local time by us as sesman does
};

std::vector<std::uint8_t> encode_v1_mng_allowed();
std::vector<std::uint8_t> encode_v1_mng_denied(const std::string& reason);
// One or more messages (at most 100 sessions each, as sesman sends them).
std::vector<std::uint8_t> encode_v1_mng_list(const std::vector<V1MngSession>& sessions);
// Requests as xrdp-sesadmin sends them (tests, fuzz seeds).
std::vector<std::uint8_t> encode_v1_mng_login(const V1MngLogin& login);
std::vector<std::uint8_t> encode_v1_mng_list_request();

}  // namespace rsm::scp
