#include "xpra_session.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "client_link.hpp"
#include "relay.hpp"
#include "rfb_handshake.hpp"
#include "session_attach.hpp"
#include "util/log.hpp"
#include "xpra_auth.hpp"
#include "xpra_frame.hpp"
#include "xpra_target.hpp"

namespace rsm::gateway {

namespace {

// One main packet as it came (header and payload, for forwarding) and decoded.
struct Packet {
    std::string raw;
    xpra::Value value;
};

// The client's bytes: first those read before (the TLS entry's look at the
// first decrypted bytes), then the link's.
struct Reader {
    ClientLink& link;
    std::string_view already_read;
};

bool read_exact(Reader& in, std::size_t n, std::string& out, std::uint64_t deadline, std::string& error) {
    const std::size_t early = std::min(in.already_read.size(), n - std::min(n, out.size()));
    out.append(in.already_read.substr(0, early));
    in.already_read.remove_prefix(early);
    ClientLink& link = in.link;
    std::vector<std::uint8_t> buf;
    while (out.size() < n) {
        buf.clear();
        if (!link.read_some(buf, n - out.size(), deadline, error)) return false;
        out.append(buf.begin(), buf.end());
    }
    return true;
}

// Reads the next packet; false with `error` (for the journal and the client).
bool read_packet(Reader& in, Packet& p, std::uint64_t deadline, std::string& error) {
    p.raw.clear();
    if (!read_exact(in, xpra::header_size, p.raw, deadline, error)) return false;
    std::array<std::uint8_t, xpra::header_size> h{};
    std::memcpy(h.data(), p.raw.data(), h.size());
    const auto header = xpra::parse_header(h, error);
    if (!header) return false;
    if (!read_exact(in, xpra::header_size + header->length, p.raw, deadline, error)) return false;
    const auto* body = reinterpret_cast<const std::uint8_t*>(p.raw.data()) + xpra::header_size;
    xpra::Decoded d = xpra::decode_packet(*header, std::span(body, header->length));
    if (!d.value) {
        error = d.error;
        return false;
    }
    p.value = std::move(*d.value);
    return true;
}

// The hello's capabilities, or nullptr if `p` is not a hello.
const xpra::Value* hello_caps(const Packet& p) {
    const xpra::List* l = p.value.list();
    if (!l || l->size() < 2) return nullptr;
    const std::string* type = l->front().string();
    if (!type || *type != "hello" || !(*l)[1].dict()) return nullptr;
    return &(*l)[1];
}

std::string string_cap(const xpra::Value& caps, std::string_view key) {
    const xpra::Value* v = caps.find(key);
    const std::string* s = v ? v->string() : nullptr;
    return s ? *s : std::string();
}

// Tells the client why (xpra shows the reason) and closes.
int disconnect(ClientLink& link, const log::Fields& fields, const std::string& log_why,
               const std::string& client_why) {
    log::Fields f = fields;
    f.push_back({"RSM_ERROR", log_why});
    log::notice("xpra client turned away", f);
    std::string ignored;
    link.write_all(xpra::encode_frame(xpra::List{"disconnect", client_why}), now_usec() + 5'000'000, ignored);
    link.shutdown();
    return 0;
}

bool write_fd(int fd, std::string_view bytes, std::uint64_t deadline, std::string& error) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n > 0) {
            bytes.remove_prefix(static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            error = std::string("write to the session: ") + std::strerror(errno);
            return false;
        }
        const std::uint64_t now = now_usec();
        if (now >= deadline) {
            error = "the session's xpra server does not read";
            return false;
        }
        pollfd p{fd, POLLOUT, 0};
        (void)::poll(&p, 1, static_cast<int>((deadline - now) / 1000 + 1));
    }
    return true;
}

}  // namespace

int serve_xpra(UniqueFd connection, const XpraOptions& options) {
    const int flags = fcntl(connection.get(), F_GETFL);
    if (flags < 0 || fcntl(connection.get(), F_SETFL, flags | O_NONBLOCK) < 0) {
        log::error("fcntl failed", {{"RSM_ERRNO", std::strerror(errno)}});
        return 1;
    }
    ClientLink link{std::move(connection)};
    return serve_xpra(link, options, {}, now_usec() + std::uint64_t{options.config.auth_timeout_sec} * 1'000'000);
}

int serve_xpra(ClientLink& link, const XpraOptions& options, std::string_view already_read, std::uint64_t deadline) {
    Reader in{link, already_read};
    log::Fields fields{{"RSM_CLIENT_ADDRESS", options.client_address}, {"RSM_PROTOCOL", "xpra"}};
    if (link.tls()) fields.push_back({"RSM_TLS", "yes"});
    std::string error;

    Packet first;
    if (!read_packet(in, first, deadline, error)) return disconnect(link, fields, error, "invalid packet: " + error);
    const xpra::Value* caps = hello_caps(first);
    if (!caps) return disconnect(link, fields, "the first packet is not a hello", "invalid packet: expected a hello");
    const std::string name = string_cap(*caps, "username");
    const xpra::TargetResult wanted = xpra::target_of_hello(*caps);
    if (!wanted.target) return disconnect(link, fields, wanted.error, wanted.client_error);
    const xpra::Target& target = *wanted.target;
    fields.push_back({"RSM_USER", target.selector.user});
    if (!target.display.empty()) fields.push_back({"RSM_DISPLAY", target.display});
    if (caps->find("challenge_response"))
        return disconnect(link, fields, "a challenge response before any challenge", "authentication failed");

    // PAM needs the password itself: digest xor, which xpra's client sends
    // only over TLS or to a local address; so does rsm-gateway ask for it
    // only over TLS or from loopback (xpra_auth.hpp).
    if (!xpra::password_login_allowed(options.loopback, link.tls()))
        return disconnect(link, fields, "a password login over plain TCP from a remote address",
                          "rsm-gateway: password logins over plain TCP are accepted from loopback only "
                          "(use xpra attach ssl://..., or an SSH tunnel)");
    const auto challenge = xpra::make_challenge(*caps, true, error);
    if (!challenge) return disconnect(link, fields, error, "rsm-gateway: " + error);
    if (!link.write_all(xpra::encode_frame(xpra::challenge_packet(*challenge)), deadline, error))
        return disconnect(link, fields, error, "rsm-gateway: " + error);

    Packet second;
    if (!read_packet(in, second, deadline, error)) return disconnect(link, fields, error, "invalid packet: " + error);
    const xpra::Value* answer = hello_caps(second);
    if (!answer) return disconnect(link, fields, "the response is not a hello", "invalid packet: expected a hello");
    if (string_cap(*answer, "username") != name)
        return disconnect(link, fields, "the response names another user", "authentication failed");
    auto password = xpra::recover_password(*challenge, *answer, error);
    if (!password) return disconnect(link, fields, error, "authentication failed");

    // A session named by id or display may be of either xpra type.
    static const std::vector<std::string> xpra_types{std::string(xpra::to_string(xpra::SessionKind::seamless)),
                                                     std::string(xpra::to_string(xpra::SessionKind::desktop))};
    AttachResult attached = login_and_attach(options.config, options.gateway_socket, target.selector,
                                             std::move(*password), options.client_address, deadline,
                                             std::string(xpra::to_string(target.kind)), target.display, xpra_types);
    if (!attached.ok) {
        const bool refused = attached.viewer_reason == "Authentication failed";
        return disconnect(link, fields, attached.log_error,
                          refused ? "authentication failed" : "rsm-gateway: " + attached.viewer_reason);
    }
    fields.push_back({"RSM_SESSION_ID", attached.session_id});
    fields.push_back({"RSM_REUSED", attached.reused ? "yes" : "no"});
    fields.push_back({"RSM_SESSION_TYPE", attached.type});
    if (!write_fd(attached.display.get(), second.raw, now_usec() + 10'000'000, error))
        return disconnect(link, fields, error, "rsm-gateway: the session's xpra server does not answer");
    log::info("xpra client connected to its session", fields);
    const std::string why = relay(link, attached.display.get(), attached.control.get());
    fields.push_back({"RSM_REASON", why});
    log::info("xpra relay ended", fields);
    link.shutdown();
    return 0;
}

}  // namespace rsm::gateway
