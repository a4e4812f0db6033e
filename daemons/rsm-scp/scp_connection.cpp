#include "scp_connection.hpp"

#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "protocol/validate.hpp"
#include "scp/xrdp_vnc_password.hpp"
#include "util/log.hpp"

namespace rsm::scp_daemon {

ScpConnection::ScpConnection(sd_event* event, UniqueFd socket, std::string peer, std::string gateway_socket,
                             Retire retire)
    : event_{event}, peer_{std::move(peer)}, gateway_socket_{std::move(gateway_socket)}, retire_{std::move(retire)} {
    // One message and a little: the reader refuses anything larger anyway.
    scp_ = std::make_unique<ByteStream>(event_, std::move(socket), scp::max_message_size + scp::header_size);
    scp_->on_input = [this] { on_input(); };
    scp_->on_closed = [this] {
        if (!replied_) log::info("xrdp closed the SCP connection before the reply", {{"RSM_SCP_PEER", peer_}});
        // Nobody to answer any more. The gateway client is not destroyed
        // here (this may run inside its own callback, through deny() and a
        // failed write): retiring defers that, and on_gateway ignores what
        // arrives until then.
        replied_ = true;
        scp_done_ = true;
        maybe_retire();
    };
    // xrdp never half-closes, but a client that sends its request and
    // shuts down its side still gets the reply.
    scp_->on_eof = [this] {
        if (!replied_ && !gateway_) deny("the SCP request is incomplete at end of stream");
    };
    scp_->on_drained = [this] {
        if (replied_) finish_scp();
    };
    std::uint64_t now = 0;
    sd_event_now(event_, CLOCK_MONOTONIC, &now);
    sd_event_source* t = nullptr;
    if (sd_event_add_time(event_, &t, CLOCK_MONOTONIC, now + request_timeout_usec, 0, &ScpConnection::on_timer,
                          this) >= 0)
        timer_.reset(t);
}

ScpConnection::~ScpConnection() = default;

int ScpConnection::on_timer(sd_event_source*, std::uint64_t, void* self) {
    auto* c = static_cast<ScpConnection*>(self);
    if (!c->replied_) c->deny("no complete SCP request in time");
    return 0;
}

void ScpConnection::on_input() {
    if (v1_) return v1_->on_input();
    if (replied_ || gateway_) {
        // One request per connection: anything after it is ignored (not
        // read: the stream's bounded input stops reading when full).
        return;
    }
    auto in = scp_->input();
    if (auto e = reader_.feed(in)) return deny(*e);
    scp_->consume(in.size());
    auto frame = reader_.next();
    if (!frame) return;
    if (frame->version == 1) return start_v1(std::move(*frame));
    auto parsed = scp::parse_v0_request(frame->body);
    if (auto* e = std::get_if<std::string>(&parsed)) return deny("malformed SCP v0 request: " + *e);
    handle_request(std::move(std::get<scp::V0Request>(parsed)));
}

void ScpConnection::start_v1(scp::Frame first) {
    replied_ = true;  // no v0 reply (deny, timer) on this connection any more
    if (timer_) sd_event_source_set_enabled(timer_.get(), SD_EVENT_OFF);
    v1_ = std::make_unique<ScpV1Session>(event_, *scp_, std::move(reader_), peer_, gateway_socket_,
                                         [this] { finish_scp(); });
    v1_->start(std::move(first));
}

void ScpConnection::handle_request(scp::V0Request req) {
    if (timer_) sd_event_source_set_enabled(timer_.get(), SD_EVENT_OFF);
    code_ = req.code;
    user_ = req.user;
    gateway::GatewayRequest g;
    g.user = req.user;
    g.password = std::move(req.password);
    explicit_bzero(req.password.data(), req.password.size());
    std::string canonical;
    const std::string address = scp::client_address_of(req.connection_description);
    if (!address.empty() && !protocol::canonicalize_address(address, canonical)) g.client_address = canonical;
    log::info("SCP v0 request", {{"RSM_USER", req.user},
                                 {"RSM_SCP_CODE", scp::to_string(req.code)},
                                 {"RSM_CLIENT_ADDRESS", g.client_address},
                                 {"RSM_SCP_PEER", peer_}});
    switch (req.code) {
    case scp::V0Code::gateway_auth: g.want_session = false; break;
    case scp::V0Code::xvnc: g.type = "xvnc"; g.companions = {"chansrv"}; break;
    case scp::V0Code::xorg: g.type = "xorg"; g.companions = {"chansrv"}; break;
    case scp::V0Code::x11rdp:
        // X11rdp does not exist in rsm.
        return deny(std::string("display type ") + scp::to_string(req.code) + " is not supported by rsm-scp");
    }
    g.width = req.width;
    g.height = req.height;
    // Xvnc has no depth 32 (xrdp asks for the client's bpp); 15 is 16 to it.
    g.depth = req.bpp == 32 ? 24 : req.bpp == 15 ? 16 : req.bpp;
    gateway_ = std::make_unique<gateway::GatewayClient>(event_, gateway_socket_);
    gateway_->start(std::move(g), [this](gateway::GatewayOutcome o) { on_gateway(std::move(o)); });
}

void ScpConnection::on_gateway(gateway::GatewayOutcome o) {
    // The client is not destroyed here (we are inside its callback); it is
    // kept until this connection goes, which also keeps the login's bus
    // connection open as long as the relay runs (harmless, bounded by one
    // per connection).
    if (retired_ || scp_done_) return;  // xrdp is gone
    if (!o.ok) {
        log::notice("rsm refused the login",
                    {{"RSM_USER", user_}, {"RSM_ERROR", o.error_name}, {"RSM_ERROR_MESSAGE", o.error_message}});
        return deny(o.error_name);
    }
    if (code_ == scp::V0Code::gateway_auth) {
        replied_ = true;
        send_reply(scp::encode_v0_gateway_reply(true));
        return;
    }
    session_id_ = o.session_id;
    if (code_ == scp::V0Code::xorg) return accept_xorg(std::move(o));  // scp_connection_xorg.cpp
    const int port = 5900 + o.display_number;
    if (o.protocol != "rfb" || port > 65535) return deny("session " + o.session_id + " is not an RFB display");
    scp::Guid guid{};
    if (getrandom(guid.data(), guid.size(), 0) != static_cast<ssize_t>(guid.size())) return deny("getrandom failed");
    std::string password;
    try {
        password = scp::xrdp_vnc_password(guid);
    } catch (const std::exception& e) {
        return deny(e.what());
    }
    control_ = std::move(o.control);
    relay_done_ = false;
    relay_ = std::make_unique<VncRelay>(event_, std::move(o.display), std::move(password),
                                        [this](const std::string& reason) {
                                            log::info("VNC relay ended: " + reason, {{"RSM_SESSION_ID", session_id_},
                                                                          {"RSM_USER", user_},
                                                                          {"RSM_REASON", reason}});
                                            control_.reset();  // rsm: the session is now disconnected
                                            relay_done_ = true;
                                            maybe_retire();
                                        });
    if (auto e = relay_->listen(static_cast<std::uint16_t>(port))) {
        relay_done_ = true;
        control_.reset();
        return deny(*e);
    }
    log::info("SCP v0 accept", {{"RSM_USER", user_},
                                {"RSM_SESSION_ID", o.session_id},
                                {"RSM_SESSION_REUSED", o.reused ? "yes" : "no"},
                                {"RSM_DISPLAY", std::to_string(o.display_number)},
                                {"RSM_VNC_PORT", std::to_string(port)}});
    replied_ = true;
    send_reply(scp::encode_v0_accept(static_cast<std::uint16_t>(o.display_number), guid));
}

void ScpConnection::deny(const std::string& why) {
    if (replied_) return;
    log::notice("SCP v0 deny: " + why, {{"RSM_USER", user_}, {"RSM_REASON", why}, {"RSM_SCP_PEER", peer_}});
    replied_ = true;
    if (timer_) sd_event_source_set_enabled(timer_.get(), SD_EVENT_OFF);
    send_reply(code_ == scp::V0Code::gateway_auth && !user_.empty() ? scp::encode_v0_gateway_reply(false)
                                                                      : scp::encode_v0_deny());
}

void ScpConnection::send_reply(std::vector<std::uint8_t> bytes) {
    scp_->write(bytes);
    if (scp_->pending_output() == 0 || scp_->closed()) finish_scp();
}

void ScpConnection::finish_scp() {
    // The reply is out: end the SCP connection now (a client that reads
    // until EOF must not wait for the relay), without destroying the stream
    // here (we may be inside its callback); the relay, if any, lives on.
    if (!scp_->closed()) ::shutdown(scp_->fd(), SHUT_RDWR);
    scp_done_ = true;
    maybe_retire();
}

void ScpConnection::maybe_retire() {
    if (retired_ || !scp_done_ || !relay_done_) return;
    retired_ = true;
    if (retire_) retire_(this);
}

}  // namespace rsm::scp_daemon
