#include "tls_entry.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <vector>

#include "client_link.hpp"
#include "sniff.hpp"
#include "web_session.hpp"
#include "util/log.hpp"

namespace rsm::gateway {

int serve_tls(UniqueFd connection, const XpraOptions& options) {
    const int flags = fcntl(connection.get(), F_GETFL);
    if (flags < 0 || fcntl(connection.get(), F_SETFL, flags | O_NONBLOCK) < 0) {
        log::error("fcntl failed", {{"RSM_ERRNO", std::strerror(errno)}});
        return 1;
    }
    log::Fields fields{{"RSM_CLIENT_ADDRESS", options.client_address}, {"RSM_TLS", "yes"}};
    TlsCredentials credentials;
    if (const std::string e = credentials.load(options.config.certificate, options.config.key); !e.empty()) {
        log::error("rsm-gateway: TLS credentials", {{"RSM_ERROR", e}});
        return 1;
    }
    ClientLink link{std::move(connection)};
    const std::uint64_t deadline = now_usec() + std::uint64_t{options.config.auth_timeout_sec} * 1'000'000;
    std::string error;
    const auto turn_away = [&](const std::string& why) {
        log::Fields f = fields;
        f.push_back({"RSM_ERROR", why});
        log::notice("TLS client turned away", f);
        link.shutdown();
        return 0;
    };
    if (!link.start_tls(TlsKind::x509, credentials, deadline, error)) return turn_away(error);
    // Every protocol served inside TLS speaks first, as outside.
    std::vector<std::uint8_t> first;
    if (!link.read_some(first, 16, deadline, error)) return turn_away(error);
    const FirstBytes inside = classify_first_bytes(first);
    if (inside == FirstBytes::xpra)
        return serve_xpra(link, options, std::string_view(reinterpret_cast<const char*>(first.data()), first.size()),
                          deadline);
    if (inside == FirstBytes::http) {
        // HTTPS: noVNC's files and RFB over a WebSocket (web_session.hpp).
        RfbOptions rfb;
        rfb.config = options.config;
        rfb.gateway_socket = options.gateway_socket;
        rfb.client_address = options.client_address;
        rfb.loopback = options.loopback;
        rfb.started_usec = deadline - std::uint64_t{options.config.auth_timeout_sec} * 1'000'000;
        return serve_web(link, first, rfb);
    }
    fields.push_back({"RSM_PROTOCOL", std::string(to_string(inside))});
    log::notice("protocol inside TLS not served yet", fields);
    link.shutdown();
    return 0;
}

}  // namespace rsm::gateway
