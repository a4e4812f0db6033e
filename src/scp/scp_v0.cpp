#include "scp/scp_v0.hpp"

#include "scp/frame_reader.hpp"
#include "scp/wire.hpp"

namespace rsm::scp {

const char* to_string(V0Code c) {
    switch (c) {
    case V0Code::xvnc: return "xvnc";
    case V0Code::x11rdp: return "x11rdp";
    case V0Code::xorg: return "xorg";
    case V0Code::gateway_auth: return "gateway-auth";
    }
    return "unknown";
}

std::optional<V0Code> v0_code_from_number(std::uint16_t n) {
    switch (n) {
    case 0: return V0Code::xvnc;
    case 10: return V0Code::x11rdp;
    case 20: return V0Code::xorg;
    case 4: return V0Code::gateway_auth;
    default: return std::nullopt;
    }
}

namespace {

std::optional<std::string> read_string(Reader& r, std::string& out, const char* what) {
    auto s = r.string16(v0_max_string);
    if (!s) return std::string(what) + ": missing, truncated or longer than 512 bytes";
    if (s->find('\0') != std::string::npos) return std::string(what) + ": contains a NUL byte";
    out = std::move(*s);
    return std::nullopt;
}

}  // namespace

std::variant<V0Request, std::string> parse_v0_request(std::span<const std::uint8_t> body) {
    Reader r{body};
    V0Request req;
    const auto number = r.u16();
    if (!number) return std::string("code: missing");
    const auto code = v0_code_from_number(*number);
    if (!code) return "code: unknown request code " + std::to_string(*number);
    req.code = *code;
    if (auto e = read_string(r, req.user, "user")) return *e;
    if (auto e = read_string(r, req.password, "password")) return *e;
    if (req.code != V0Code::gateway_auth) {
        const auto w = r.u16(), h = r.u16(), b = r.u16();
        if (!w || !h || !b) return std::string("width, height, bpp: missing");
        req.width = *w;
        req.height = *h;
        req.bpp = *b;
        if (req.code == V0Code::xorg) req.bpp = 24;  // sesman ignores the client's value for xorgxrdp
        if (req.bpp != 8 && req.bpp != 15 && req.bpp != 16 && req.bpp != 24 && req.bpp != 32)
            return "bpp: unsupported colour depth " + std::to_string(req.bpp);
        // Older clients stop here; newer ones send all four strings.
        std::string* optional_strings[] = {&req.domain, &req.program, &req.directory, &req.connection_description};
        const char* names[] = {"domain", "program", "directory", "connection description"};
        for (std::size_t i = 0; i < 4 && !r.at_end(); ++i)
            if (auto e = read_string(r, *optional_strings[i], names[i])) return *e;
    }
    if (!r.at_end()) return std::to_string(r.remaining()) + " unexpected bytes after the request";
    return req;
}

namespace {

std::vector<std::uint8_t> v0_reply(std::uint16_t cmd, std::uint16_t a, std::uint16_t b, const Guid* guid) {
    Writer w;
    w.u32(0).u32(guid ? 30 : 14).u16(cmd).u16(a).u16(b);
    if (guid) w.bytes(*guid);
    return w.take();
}

}  // namespace

std::vector<std::uint8_t> encode_v0_accept(std::uint16_t display, const Guid& guid) {
    return v0_reply(3, 1, display, &guid);
}

std::vector<std::uint8_t> encode_v0_deny() { return v0_reply(3, 0, 0, nullptr); }

std::vector<std::uint8_t> encode_v0_gateway_reply(bool ok) { return v0_reply(4, ok ? 0 : 1, 0, nullptr); }

std::vector<std::uint8_t> encode_v0_request(const V0Request& req, bool with_trailing_strings) {
    Writer w;
    w.u32(0).u32(0).u16(static_cast<std::uint16_t>(req.code));
    auto str = [&](const std::string& s) {
        w.u16(static_cast<std::uint16_t>(s.size()));
        w.bytes(std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
    };
    str(req.user);
    str(req.password);
    if (req.code != V0Code::gateway_auth) {
        w.u16(req.width).u16(req.height).u16(req.bpp);
        if (with_trailing_strings) {
            str(req.domain);
            str(req.program);
            str(req.directory);
            str(req.connection_description);
        }
    }
    w.put_u32_at(4, static_cast<std::uint32_t>(w.size()));
    return w.take();
}

std::string client_address_of(std::string_view d) {
    // xrdp writes "%s:%d - socket: %d" (common/os_calls.c
    // g_sck_get_peer_description): inet_ntoa or inet_ntop, so IPv6
    // addresses come without brackets; the port is after the last ':'.
    const auto end = d.find(" - ");
    std::string_view addr_port = end == std::string_view::npos ? d : d.substr(0, end);
    if (addr_port.starts_with('[')) {
        const auto close = addr_port.find(']');
        return close == std::string_view::npos ? std::string() : std::string(addr_port.substr(1, close - 1));
    }
    const auto colon = addr_port.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return {};
    std::string_view addr = addr_port.substr(0, colon);
    if (addr.starts_with("::ffff:") && addr.find('.') != std::string_view::npos) addr.remove_prefix(7);
    if (addr == "NULL") return {};  // xrdp could not read its peer's address
    return std::string(addr);
}

}  // namespace rsm::scp
