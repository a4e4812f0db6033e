#include "rfb_session.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>

#include "client_link.hpp"
#include "relay.hpp"
#include "rfb_input.hpp"
#include "rfb_handshake.hpp"
#include "session_attach.hpp"
#include "util/log.hpp"
#include "xvnc_handshake.hpp"

namespace rsm::gateway {

namespace {

// How long a viewer may take to send its protocol version after the
// greeting (a retransmission or two on a slow link).
constexpr std::uint64_t version_timeout_usec = 2'000'000;

int give_up(ClientLink& link, const log::Fields& fields, std::string_view why) {
    log::Fields f = fields;
    f.push_back({"RSM_ERROR", std::string(why)});
    log::notice("VNC viewer turned away", f);
    link.shutdown();
    return 0;
}

}  // namespace

int serve_rfb(UniqueFd connection, const RfbOptions& options) {
    const int flags = fcntl(connection.get(), F_GETFL);
    if (flags < 0 || fcntl(connection.get(), F_SETFL, flags | O_NONBLOCK) < 0) {
        log::error("fcntl failed", {{"RSM_ERRNO", std::strerror(errno)}});
        return 1;
    }
    ClientLink link{std::move(connection)};
    return serve_rfb(link, options);
}

int serve_rfb(ClientLink& link, const RfbOptions& options) {
    log::Fields fields{{"RSM_CLIENT_ADDRESS", options.client_address}};
    if (link.websocket()) fields.push_back({"RSM_TRANSPORT", "websocket"});
    if (link.tls()) fields.push_back({"RSM_TLS", "yes"});
    const std::uint64_t deadline = (options.started_usec ? options.started_usec : now_usec()) +
                                   std::uint64_t{options.config.auth_timeout_sec} * 1'000'000;

    TlsCredentials credentials;
    if (const std::string e = credentials.load(options.config.certificate, options.config.key); !e.empty()) {
        // A broken certificate must not silently downgrade to anonymous TLS
        // for a site that configured one: refuse until it is fixed.
        log::error("rsm-gateway: TLS credentials", {{"RSM_ERROR", e}});
        return 1;
    }
    Offer offer;
    offer.x509_plain = credentials.has_certificate() && !link.websocket();
    offer.tls_plain = !link.websocket();
    // A browser's WebSocket inside the gateway's TLS (HTTPS, wss://): the
    // password travels encrypted, as inside VeNCrypt's TLS.
    const bool inside_tls = link.websocket() && link.tls();
    offer.plain = options.loopback || inside_tls;
    RfbHandshake handshake{offer};
    if (link.websocket() && !offer.plain)
        handshake.refuse("Password logins over plain HTTP are accepted from this host only: use https://");

    std::string error;
    if (!link.write_all(RfbHandshake::greeting(), deadline, error)) return give_up(link, fields, error);
    std::vector<std::uint8_t> bytes;
    // A viewer answers the greeting at once; a connection that stays silent
    // (a browser's speculative preconnect, a port scan) is not kept until
    // the authentication deadline: it is a process counted against the
    // socket's MaxConnectionsPerSource.
    std::uint64_t read_deadline = std::min(deadline, now_usec() + version_timeout_usec);
    for (bool have_credentials = false; !have_credentials;) {
        RfbHandshake::Step step = handshake.next();
        if (!step.out.empty() && !link.write_all(step.out, deadline, error)) return give_up(link, fields, error);
        switch (step.kind) {
        case RfbHandshake::Step::Kind::need_more:
            bytes.clear();
            if (!link.read_some(bytes, 4096, read_deadline, error))
                return give_up(link, fields,
                               error != "timed out"          ? error
                               : read_deadline < deadline ? "the viewer did not answer the greeting"
                                                            : "the authentication deadline passed");
            read_deadline = deadline;
            handshake.push(bytes);
            explicit_bzero(bytes.data(), bytes.size());
            break;
        case RfbHandshake::Step::Kind::reply: break;
        case RfbHandshake::Step::Kind::start_tls:
            if (!link.start_tls(step.tls, credentials, deadline, error)) return give_up(link, fields, error);
            break;
        case RfbHandshake::Step::Kind::credentials: have_credentials = true; break;
        case RfbHandshake::Step::Kind::fail: return give_up(link, fields, step.reason);
        }
    }
    const int minor = handshake.minor();
    const auto tell = [&](std::string_view reason) {
        // The deadline may have passed while rsm worked: a few seconds more
        // for the viewer to take the reason.
        std::string ignored;
        link.write_all(rfb::security_result_failed(minor, reason), now_usec() + 5'000'000, ignored);
        link.shutdown();
    };
    const SelectorResult selected = parse_user_selector(handshake.user());
    if (!selected.ok) {
        fields.push_back({"RSM_ERROR", selected.error});
        log::notice("VNC viewer sent a malformed user name", fields);
        tell("Invalid user name: use USER, USER:new or USER:SESSION-ID");
        return 0;
    }
    fields.push_back({"RSM_USER", selected.selector.user});
    fields.push_back({"RSM_VENCRYPT_SUBTYPE", std::to_string(handshake.subtype())});
    AttachResult attached =
        login_and_attach(options.config, options.gateway_socket, selected.selector, handshake.password(),
                         options.client_address, deadline);
    if (!attached.ok) {
        log::Fields f = fields;
        f.push_back({"RSM_ERROR", attached.log_error});
        log::notice("VNC login or session failed", f);
        tell(attached.viewer_reason);
        return 0;
    }
    fields.push_back({"RSM_SESSION_ID", attached.session_id});
    if (const std::string e = xvnc_handshake(attached.display.get(), now_usec() + xvnc_handshake_timeout_usec);
        !e.empty()) {
        log::Fields f = fields;
        f.push_back({"RSM_ERROR", e});
        log::error("the session's display server did not answer", f);
        tell("The session's display server did not answer");
        return 0;
    }
    if (!link.write_all(rfb::security_result_ok(), now_usec() + 10'000'000, error)) return give_up(link, fields, error);
    fields.push_back({"RSM_REUSED", attached.reused ? "yes" : "no"});
    log::info("VNC viewer connected to its session", fields);
    // Only the viewer's input restarts the session's idle timer, not its
    // update requests (rfb_input.hpp).
    RfbInputScanner input;
    const std::string why = relay(link, attached.display.get(), attached.control.get(),
                                  [&input](std::span<const std::uint8_t> sent) { return input.feed(sent); });
    fields.push_back({"RSM_REASON", why});
    log::info("VNC relay ended", fields);
    link.shutdown();
    // Closing the control fd (on return) marks the session disconnected.
    return 0;
}

}  // namespace rsm::gateway
