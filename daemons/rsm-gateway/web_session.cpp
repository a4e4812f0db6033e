#include "web_session.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <stdexcept>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "http/http_server.hpp"
#include "static_files.hpp"
#include "tls_pump.hpp"
#include "util/handles.hpp"
#include "util/log.hpp"
#include "ws_upgrade.hpp"

namespace rsm::gateway {

namespace {

// How long a request or an answer may stall, and how long a connection
// may wait after an answer for the next request (a page's requests follow
// each other within milliseconds).
constexpr unsigned request_timeout_sec = 10;
constexpr unsigned keep_alive_idle_ms = 500;

int exit_loop(sd_event_source* s, std::uint64_t, void*) {
    return sd_event_exit(sd_event_source_get_event(s), 0);
}

std::string_view header_or_empty(const http::Request& r, std::string_view name) {
    const std::string* v = r.header(name);
    return v ? std::string_view(*v) : std::string_view();
}

http::Response upgrade_or_refusal(const http::Request& req, const log::Fields& fields, std::string_view scheme,
                                  std::function<void(http::Upgraded)> take) {
    ws::UpgradeRequest u;
    u.host = header_or_empty(req, "Host");
    u.upgrade = header_or_empty(req, "Upgrade");
    u.connection = header_or_empty(req, "Connection");
    u.key = header_or_empty(req, "Sec-WebSocket-Key");
    u.version = header_or_empty(req, "Sec-WebSocket-Version");
    u.protocols = header_or_empty(req, "Sec-WebSocket-Protocol");
    u.origin = header_or_empty(req, "Origin");
    const ws::UpgradeAnswer a = ws::check_upgrade(u, scheme);
    if (!a.ok) {
        log::Fields f = fields;
        f.push_back({"RSM_ERROR", a.error});
        log::notice("WebSocket upgrade refused", f);
        http::Response r = http::Response::text(a.status, a.error + "\n");
        r.headers.emplace_back("Sec-WebSocket-Version", "13");
        return r;
    }
    http::Response r = http::Response::empty(101);
    r.headers.emplace_back("Upgrade", "websocket");
    r.headers.emplace_back("Sec-WebSocket-Accept", a.accept);
    if (!a.protocol.empty()) r.headers.emplace_back("Sec-WebSocket-Protocol", a.protocol);
    r.upgrade = std::move(take);
    return r;
}

http::Response static_file(int root_fd, const http::Request& req, const log::Fields& fields) {
    StaticLookup found = root_fd >= 0 ? open_static(root_fd, req.path) : StaticLookup{std::nullopt, "no noVNC directory"};
    if (!found.file) {
        log::Fields f = fields;
        f.push_back({"RSM_HTTP_PATH", req.path});
        f.push_back({"RSM_ERROR", found.error});
        log::info("HTTP request for no file served", f);
        return http::Response::text(404, "not found\n");
    }
    http::Response r;
    r.content_type = std::string(found.file->content_type);
    auto body = std::make_shared<http::FileBody>();
    body->size = found.file->size;
    body->fd = std::move(found.file->fd);
    r.file = std::move(body);
    // noVNC's files change only with the package.
    r.headers.emplace_back("Cache-Control", "max-age=3600");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return r;
}

// The pump's two sources on the loop, their interest kept up to date after
// every step; a side with nothing to wait for is switched off (a hung-up
// socket would otherwise wake the loop over and over).
struct PumpWatch {
    TlsPump* pump = nullptr;
    sd_event* event = nullptr;
    EventSourcePtr outer;
    EventSourcePtr inner;
    TlsPump::State state = TlsPump::State::running;

    static std::uint32_t epoll_events(short e) {
        return (e & POLLIN ? EPOLLIN : 0u) | (e & POLLOUT ? EPOLLOUT : 0u);
    }
    static void arm(sd_event_source* s, short e) {
        sd_event_source_set_io_events(s, epoll_events(e));
        sd_event_source_set_enabled(s, e ? SD_EVENT_ON : SD_EVENT_OFF);
    }
    void step() {
        state = pump->step();
        if (state != TlsPump::State::running) {
            sd_event_exit(event, 0);
            return;
        }
        arm(outer.get(), pump->outer_events());
        arm(inner.get(), pump->inner_events());
    }
    static int on_io(sd_event_source*, int, std::uint32_t, void* self) {
        static_cast<PumpWatch*>(self)->step();
        return 0;
    }
};

// The HTTP part, on `http_fd`: the browser's TCP socket, or (HTTPS) MHD's
// end of the socket pair whose other end `pump` feeds from `tls_link`.
// `peer` is the browser's address either way (MHD logs and limits by it).
int serve_http(UniqueFd http_fd, const sockaddr_storage& peer, socklen_t peer_len, const RfbOptions& options,
               std::uint64_t started, ClientLink* tls_link, TlsPump* pump) {
    log::Fields fields{{"RSM_CLIENT_ADDRESS", options.client_address}};
    if (tls_link) fields.push_back({"RSM_TLS", "yes"});
    const std::string_view scheme = tls_link ? "https" : "http";
    std::string error;
    const UniqueFd root = open_static_root(options.config.novnc_root, error);
    if (!root) log::error("rsm-gateway: noVNC's files", {{"RSM_ERROR", error}});
    const std::uint64_t deadline = started + std::uint64_t{options.config.auth_timeout_sec} * 1'000'000;

    sd_event* e = nullptr;
    if (sd_event_new(&e) < 0) return 1;
    EventPtr event{e};
    std::optional<http::Upgraded> upgraded;  // declared before the server: it outlives MHD's callbacks
    http::Limits limits;
    limits.max_body = 0;  // GET and HEAD carry none
    limits.max_connections = 1;
    limits.max_per_address = 1;
    // A browser loads a page on up to six kept-alive connections, each a
    // process counted against the socket's MaxConnectionsPerSource: once
    // the page is loaded they end (keep_alive_idle_ms after their last
    // answer) instead of idling until the deadline and turning the next
    // browser from the same address away. (One request per connection
    // would not do: systemd counts a connection until its process is
    // reaped, and a page's fifty files would pile up against the cap.) A
    // request or an answer that stalls goes after request_timeout_sec.
    limits.keep_alive_idle_ms = keep_alive_idle_ms;
    limits.idle_timeout_sec = std::min(options.config.auth_timeout_sec, request_timeout_sec);
    const auto take = [&](http::Upgraded u) {
        upgraded.emplace(std::move(u));
        sd_event_exit(e, 0);
    };
    try {
        http::Server server{e,
                            [&](http::Request req, http::Responder responder) {
                                if (req.path == websocket_path)
                                    responder.send(upgrade_or_refusal(req, fields, scheme, take));
                                else
                                    responder.send(static_file(root.get(), req, fields));
                            },
                            limits, http::Methods::get_head};
        server.on_connection_closed([e] { sd_event_exit(e, 0); });
        // An upgraded connection is closed before MHD's daemon stops, on
        // every way out of here.
        struct CloseFirst {
            std::optional<http::Upgraded>& u;
            ~CloseFirst() {
                if (u) u->close();
            }
        } close_first{upgraded};
        // The authentication deadline covers the HTTP part too.
        sd_event_source* timer = nullptr;
        if (sd_event_add_time(e, &timer, CLOCK_MONOTONIC, deadline, 0, &exit_loop, nullptr) < 0) return 1;
        const EventSourcePtr deadline_source{timer};
        PumpWatch watch;
        if (pump) {
            watch.pump = pump;
            watch.event = e;
            sd_event_source* s = nullptr;
            if (sd_event_add_io(e, &s, tls_link->fd(), EPOLLIN, &PumpWatch::on_io, &watch) < 0) return 1;
            watch.outer.reset(s);
            if (sd_event_add_io(e, &s, pump->inner_fd(), EPOLLIN, &PumpWatch::on_io, &watch) < 0) return 1;
            watch.inner.reset(s);
        }
        server.add_connection(std::move(http_fd), reinterpret_cast<const sockaddr*>(&peer), peer_len);
        // The first decrypted bytes (and any GnuTLS holds already, which
        // epoll cannot see) go to the server now.
        if (pump) watch.step();
        if (watch.state == TlsPump::State::running) sd_event_loop(e);
        if (watch.state == TlsPump::State::failed) {
            log::Fields f = fields;
            f.push_back({"RSM_ERROR", pump->error()});
            log::info("HTTPS connection ended", f);
            return 0;
        }
        if (!upgraded) {
            // MHD closed the connection (its last answer is in the pair,
            // whole: writes to a socket pair are synchronous), or the
            // deadline passed.
            if (pump && watch.state == TlsPump::State::running && pump->flush_from_server(now_usec() + 5'000'000, error))
                tls_link->shutdown();
            return 0;
        }

        int status = 0;
        if (pump) {
            // HTTPS: the WebSocket runs on the TLS link itself. First the
            // 101 answer (MHD calls the upgrade handler once it has sent it),
            // then the browser's bytes past the request in the order they
            // came: what MHD read, what it left in its end of the pair, what
            // the pump held.
            std::vector<std::uint8_t> in(upgraded->extra_in().begin(), upgraded->extra_in().end());
            if (!pump->flush_from_server(deadline, error)) {
                log::Fields f = fields;
                f.push_back({"RSM_ERROR", error});
                log::info("HTTPS connection ended", f);
                return 0;
            }
            std::uint8_t buf[4096];
            for (;;) {
                const ssize_t n = ::recv(upgraded->fd(), buf, sizeof buf, MSG_DONTWAIT);
                if (n <= 0) break;  // bounded by the pair's socket buffer
                in.insert(in.end(), buf, buf + n);
            }
            const std::vector<std::uint8_t> held = pump->take_unread();
            in.insert(in.end(), held.begin(), held.end());
            watch.outer.reset();
            watch.inner.reset();
            upgraded->close();
            server.run_all();
            tls_link->start_websocket(in);
            RfbOptions rfb = options;
            rfb.started_usec = started;  // one authentication deadline for TLS, HTTP and RFB
            return serve_rfb(*tls_link, rfb);
        }
        // The WebSocket: the viewer's RFB login, on a duplicate of MHD's
        // socket (MHD closes its own when the upgrade is closed).
        {
            ClientLink link{UniqueFd{fcntl(upgraded->fd(), F_DUPFD_CLOEXEC, 3)}};
            if (link.fd() < 0) {
                log::error("fcntl(F_DUPFD) failed", {{"RSM_ERRNO", std::strerror(errno)}});
                status = 1;
            } else {
                const std::string& extra = upgraded->extra_in();
                link.start_websocket(std::span(reinterpret_cast<const std::uint8_t*>(extra.data()), extra.size()));
                RfbOptions rfb = options;
                rfb.started_usec = started;  // one authentication deadline for HTTP and RFB
                status = serve_rfb(link, rfb);
            }
        }
        upgraded->close();
        server.run_all();  // MHD cleans the closed connection up
        return status;
    } catch (const std::exception& ex) {
        log::error("rsm-gateway: HTTP", {{"RSM_ERROR", ex.what()}, fields[0]});
        return 1;
    }
}

}  // namespace

int serve_web(UniqueFd connection, const RfbOptions& options) {
    const std::uint64_t started = now_usec();
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    if (getpeername(connection.get(), reinterpret_cast<sockaddr*>(&peer), &peer_len) < 0) {
        log::notice("getpeername failed", {{"RSM_ERRNO", std::strerror(errno)}});
        return 0;
    }
    return serve_http(std::move(connection), peer, peer_len, options, started, nullptr, nullptr);
}

int serve_web(ClientLink& tls_link, std::span<const std::uint8_t> first, const RfbOptions& options) {
    const std::uint64_t started = options.started_usec ? options.started_usec : now_usec();
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    if (getpeername(tls_link.fd(), reinterpret_cast<sockaddr*>(&peer), &peer_len) < 0) {
        log::notice("getpeername failed", {{"RSM_ERRNO", std::strerror(errno)}});
        return 0;
    }
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) < 0) {
        log::error("socketpair failed", {{"RSM_ERRNO", std::strerror(errno)}});
        return 1;
    }
    UniqueFd http_end{pair[0]};
    TlsPump pump{tls_link, UniqueFd{pair[1]}, first};
    return serve_http(std::move(http_end), peer, peer_len, options, started, &tls_link, &pump);
}

}  // namespace rsm::gateway
