#include "scp/scp_v1_mng.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <ctime>

#include "scp/wire.hpp"

namespace rsm::scp {
namespace {

constexpr std::uint16_t command_set_manage = 1;
constexpr std::size_t max_list_per_message = 100;  // SCP_SERVER_MAX_LIST_SIZE

Writer header(V1MngCommand cmd) {
    Writer w;
    w.u32(1).u32(0).u16(command_set_manage).u16(static_cast<std::uint16_t>(cmd));
    return w;
}

std::vector<std::uint8_t> finish(Writer& w) {
    w.put_u32_at(4, static_cast<std::uint32_t>(w.size()));
    return w.take();
}

void string8(Writer& w, const std::string& s) {
    const std::size_t n = std::min<std::size_t>(s.size(), 255);
    w.u8(static_cast<std::uint8_t>(n));
    w.bytes(std::span(reinterpret_cast<const std::uint8_t*>(s.data()), n));
}

}  // namespace

std::variant<V1MngMessage, std::string> parse_v1_mng(std::span<const std::uint8_t> body) {
    Reader r{body};
    const auto set = r.u16();
    const auto cmd = r.u16();
    if (!set || !cmd) return std::string("command set and command: missing");
    if (*set != command_set_manage)
        return "command set " + std::to_string(*set) + ": only management (1) is served here";
    V1MngMessage m;
    switch (*cmd) {
    case 1: {
        V1MngLogin login;
        auto user = r.string8(), password = r.string8();
        if (!user || !password) return std::string("login: user or password missing");
        const auto type = r.u8();
        if (!type) return std::string("login: address type missing");
        char text[INET6_ADDRSTRLEN] = {};
        if (*type == 0) {
            const auto a = r.bytes(4);
            if (!a) return std::string("login: IPv4 address missing");
            inet_ntop(AF_INET, a->data(), text, sizeof text);
        } else if (*type == 1) {
            const auto a = r.bytes(16);
            if (!a) return std::string("login: IPv6 address missing");
            inet_ntop(AF_INET6, a->data(), text, sizeof text);
        } else {
            return "login: unknown address type " + std::to_string(*type);
        }
        auto host = r.string8();
        if (!host) return std::string("login: host name missing");
        for (const std::string* s : {&*user, &*password, &*host})
            if (s->find('\0') != std::string::npos) return std::string("login: a string contains a NUL byte");
        login.user = std::move(*user);
        login.password = std::move(*password);
        login.address = text;
        login.host_name = std::move(*host);
        m.command = V1MngCommand::login;
        m.login = std::move(login);
        break;
    }
    case 5: m.command = V1MngCommand::list_request; break;
    case 7:
        m.command = V1MngCommand::action;
        return m;  // sesman reads no data for it either
    default: return "command " + std::to_string(*cmd) + ": not a management request";
    }
    if (!r.at_end()) return std::to_string(r.remaining()) + " unexpected bytes after the message";
    return m;
}

std::vector<std::uint8_t> encode_v1_mng_allowed() {
    Writer w = header(V1MngCommand::allowed);
    return finish(w);
}

std::vector<std::uint8_t> encode_v1_mng_denied(const std::string& reason) {
    // A u8 length, as libscp_v1c_mng.c reads it (see the header).
    Writer w = header(V1MngCommand::denied);
    string8(w, reason);
    return finish(w);
}

std::uint32_t v1_session_id_of(const std::string& rsm_id) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 7 && i < rsm_id.size(); ++i) {
        const char c = rsm_id[i];
        const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return 0;
        v = v << 4 | static_cast<std::uint32_t>(d);
    }
    return v;
}

V1MngSession v1_session_of(const RsmSessionInfo& s, std::uint64_t now_usec) {
    V1MngSession out;
    out.id = v1_session_id_of(s.id);
    out.type = s.type == "xvnc" ? V1SessionType::xvnc : s.type == "xorg" ? V1SessionType::xorg : V1SessionType::none;
    out.width = static_cast<std::uint16_t>(std::min<std::uint32_t>(s.width, 0xffff));
    out.height = static_cast<std::uint16_t>(std::min<std::uint32_t>(s.height, 0xffff));
    out.bpp = static_cast<std::uint8_t>(std::min<std::uint32_t>(s.depth, 0xff));
    if (s.state == "disconnected" && s.disconnected_usec != 0 && now_usec > s.disconnected_usec)
        out.idle_minutes = static_cast<std::uint32_t>(
            std::min<std::uint64_t>((now_usec - s.disconnected_usec) / 60'000'000, 0xffffffffu));
    out.connected_usec = s.created_usec;
    return out;
}

std::vector<std::uint8_t> encode_v1_mng_list(const std::vector<V1MngSession>& sessions) {
    std::vector<std::uint8_t> out;
    std::size_t i = 0;
    do {
        const std::size_t n = std::min(max_list_per_message, sessions.size() - i);
        Writer w = header(V1MngCommand::list);
        w.u32(static_cast<std::uint32_t>(sessions.size()));
        w.u8(i + n < sessions.size() ? 1 : 0);
        w.u8(static_cast<std::uint8_t>(n));
        for (std::size_t k = i; k < i + n; ++k) {
            const V1MngSession& s = sessions[k];
            const std::uint32_t idle = s.idle_minutes;
            w.u32(s.id).u8(static_cast<std::uint8_t>(s.type)).u16(s.height).u16(s.width).u8(s.bpp);
            w.u8(static_cast<std::uint8_t>(std::min<std::uint32_t>(idle / 1440, 255)))
                .u8(static_cast<std::uint8_t>(idle / 60 % 24))
                .u8(static_cast<std::uint8_t>(idle % 60));
            const time_t t = static_cast<time_t>(s.connected_usec / 1000000);
            struct tm tm {};
            localtime_r(&t, &tm);
            w.u16(static_cast<std::uint16_t>(tm.tm_year + 1900))
                .u8(static_cast<std::uint8_t>(tm.tm_mon + 1))
                .u8(static_cast<std::uint8_t>(tm.tm_mday))
                .u8(static_cast<std::uint8_t>(tm.tm_hour))
                .u8(static_cast<std::uint8_t>(tm.tm_min));
            w.u8(0).u32(0);  // address: rsm does not tell sesadmin where clients are (IPv4 0.0.0.0)
        }
        const auto msg = finish(w);
        out.insert(out.end(), msg.begin(), msg.end());
        i += n;
    } while (i < sessions.size());
    return out;
}

std::vector<std::uint8_t> encode_v1_mng_login(const V1MngLogin& login) {
    Writer w = header(V1MngCommand::login);
    string8(w, login.user);
    string8(w, login.password);
    in_addr a4{};
    if (inet_pton(AF_INET, login.address.c_str(), &a4) == 1) {
        w.u8(0).bytes(std::span(reinterpret_cast<const std::uint8_t*>(&a4), 4));
    } else {
        in6_addr a6{};
        (void)inet_pton(AF_INET6, login.address.c_str(), &a6);
        w.u8(1).bytes(std::span(reinterpret_cast<const std::uint8_t*>(&a6), 16));
    }
    string8(w, login.host_name);
    return finish(w);
}

std::vector<std::uint8_t> encode_v1_mng_list_request() {
    Writer w = header(V1MngCommand::list_request);
    return finish(w);
}

}  // namespace rsm::scp
