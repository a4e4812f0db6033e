#include "scp_v1_session.hpp"

#include <cstring>
#include <time.h>

#include "bus/names.hpp"
#include "util/log.hpp"

namespace rsm::scp_daemon {

ScpV1Session::ScpV1Session(sd_event* event, ByteStream& stream, scp::FrameReader reader, std::string peer,
                           std::string gateway_socket, Done done)
    : event_{event}, stream_{stream}, reader_{std::move(reader)}, peer_{std::move(peer)},
      gateway_socket_{std::move(gateway_socket)}, done_{std::move(done)} {
    // on_input stays ScpConnection's (it is running when this object is
    // made): it forwards to on_input() below.
    stream_.on_closed = [this] { finish(); };
    // sesadmin closes right after its last answer ("-c=kill:" even before
    // sending anything). A half-close while rsm is still answering lets
    // the answer go out first.
    stream_.on_eof = [this] {
        peer_eof_ = true;
        if (state_ == State::ready) finish_when_sent();
    };
    stream_.on_drained = [this] {
        if (state_ == State::closing) finish();
    };
}

ScpV1Session::~ScpV1Session() = default;

void ScpV1Session::start(scp::Frame first) { handle(std::move(first)); }

void ScpV1Session::arm_timer(std::uint64_t usec) {
    std::uint64_t now = 0;
    sd_event_now(event_, CLOCK_MONOTONIC, &now);
    if (!timer_) {
        sd_event_source* t = nullptr;
        if (sd_event_add_time(event_, &t, CLOCK_MONOTONIC, now + usec, 0, &ScpV1Session::on_timer, this) < 0)
            return close("cannot arm the request timer");
        timer_.reset(t);
        return;
    }
    sd_event_source_set_time(timer_.get(), now + usec);
    sd_event_source_set_enabled(timer_.get(), SD_EVENT_ONESHOT);
}

int ScpV1Session::on_timer(sd_event_source*, std::uint64_t, void* self) {
    auto* s = static_cast<ScpV1Session*>(self);
    // Waiting for sesadmin: it sends its next request at once or never.
    // Waiting for rsm: ListSessions is late; sesadmin gets a read error
    // ("Error getting session list."), not a hang.
    s->close(s->state_ == State::listing ? "rsm did not list the sessions in time" : "no SCP v1 request in time");
    return 0;
}

void ScpV1Session::on_input() {
    // One message at a time: nothing is taken from the stream while rsm
    // answers (its bounded input then stops reading from the socket).
    while (state_ == State::ready) {
        if (auto frame = reader_.next()) {
            handle(std::move(*frame));
            continue;
        }
        if (reader_.error()) return close(*reader_.error());
        auto in = stream_.input();
        if (in.empty()) return;
        const auto e = reader_.feed(in);
        stream_.consume(in.size());
        if (e) return close(*e);
    }
}

void ScpV1Session::handle(scp::Frame frame) {
    if (timer_) sd_event_source_set_enabled(timer_.get(), SD_EVENT_OFF);
    if (frame.version != 1) return close("SCP v0 message inside an SCP v1 conversation");
    auto parsed = scp::parse_v1_mng(frame.body);
    if (auto* e = std::get_if<std::string>(&parsed)) return close("malformed SCP v1 message: " + *e);
    // The body may hold a password: not kept beyond the parse.
    explicit_bzero(frame.body.data(), frame.body.size());
    auto& m = std::get<scp::V1MngMessage>(parsed);
    if (state_ == State::login) {
        if (m.command != scp::V1MngCommand::login || !m.login)
            return close("SCP v1 management must start with a login", scp::encode_v1_mng_denied("Login first"));
        user_ = m.login->user;
        log::info("SCP v1 management login", {{"RSM_USER", user_}, {"RSM_SCP_PEER", peer_}});
        gateway::GatewayRequest g;
        g.user = std::move(m.login->user);
        g.password = std::move(m.login->password);
        explicit_bzero(m.login->password.data(), m.login->password.size());
        // sesadmin's own address claim is 0.0.0.0 and the peer is local:
        // rsm is told nothing about a remote client.
        g.want_session = false;
        gateway_ = std::make_unique<gateway::GatewayClient>(event_, gateway_socket_);
        gateway_->start(std::move(g), [this](gateway::GatewayOutcome o) { on_login(std::move(o)); });
        return;
    }
    switch (m.command) {
    case scp::V1MngCommand::list_request: {
        if (++requests_ > max_requests) return close("too many list requests on one connection");
        state_ = State::listing;
        sd_bus_slot* slot = nullptr;
        const int r = sd_bus_call_method_async(gateway_->bus(), &slot, names::gateway_bus_name, names::gateway_path,
                                               names::gateway_interface, "ListSessions", &ScpV1Session::on_list_reply,
                                               this, "");
        if (r < 0) return close(std::string("ListSessions: ") + std::strerror(-r));
        list_call_.reset(slot);
        arm_timer(list_timeout_usec);
        return;
    }
    case scp::V1MngCommand::action:
        // sesman 0.9.21 does nothing with it either (and then loops); no
        // 0.9.21 client sends it.
        return close("SCP v1 action request: not served (xrdp-sesadmin 0.9.21 never sends one)");
    default: return close("unexpected SCP v1 command " + std::to_string(static_cast<int>(m.command)));
    }
}

void ScpV1Session::on_login(gateway::GatewayOutcome o) {
    if (state_ != State::login) return;
    if (!o.ok) {
        log::notice("SCP v1 management login refused",
                    {{"RSM_USER", user_}, {"RSM_ERROR", o.error_name}, {"RSM_ERROR_MESSAGE", o.error_message}});
        // sesman's own text; rsm's error name says more in the journal.
        return close("login refused", scp::encode_v1_mng_denied("Login failed"));
    }
    state_ = State::ready;
    send(scp::encode_v1_mng_allowed());
    if (state_ != State::ready) return;
    if (peer_eof_) return finish_when_sent();
    arm_timer(request_timeout_usec);
    on_input();  // what arrived while rsm checked the password
}

int ScpV1Session::on_list_reply(sd_bus_message* m, void* self, sd_bus_error*) {
    static_cast<ScpV1Session*>(self)->handle_list_reply(m);
    return 0;
}

void ScpV1Session::handle_list_reply(sd_bus_message* m) {
    list_call_.reset();
    if (state_ != State::listing) return;
    if (timer_) sd_event_source_set_enabled(timer_.get(), SD_EVENT_OFF);
    if (sd_bus_message_is_method_error(m, nullptr)) {
        const sd_bus_error* e = sd_bus_message_get_error(m);
        return close(std::string("ListSessions failed: ") + (e && e->name ? e->name : "error"));
    }
    std::vector<scp::V1MngSession> out;
    int r = sd_bus_message_enter_container(m, 'a', "(susssssuuuttss)");
    std::uint64_t now = 0;
    sd_event_now(event_, CLOCK_REALTIME, &now);
    while (r >= 0) {
        scp::RsmSessionInfo s;
        const char *id = nullptr, *user = nullptr, *state = nullptr, *type = nullptr, *display = nullptr,
                   *desktop = nullptr, *address = nullptr, *name = nullptr;
        std::uint32_t uid = 0;
        r = sd_bus_message_read(m, "(susssssuuuttss)", &id, &uid, &user, &state, &type, &display, &desktop,
                                &s.width, &s.height, &s.depth, &s.created_usec, &s.disconnected_usec, &address,
                                &name);
        if (r <= 0) break;
        if (out.size() >= max_sessions) continue;  // sesadmin's reader has no bound; ours does
        s.id = id;
        s.type = type;
        s.state = state;
        out.push_back(scp::v1_session_of(s, now));
    }
    if (r < 0) return close(std::string("ListSessions reply: ") + std::strerror(-r));
    log::info("SCP v1 session list", {{"RSM_USER", user_}, {"RSM_SESSION_COUNT", std::to_string(out.size())}});
    state_ = State::ready;
    send(scp::encode_v1_mng_list(out));
    if (state_ != State::ready) return;
    if (peer_eof_) return finish_when_sent();
    arm_timer(request_timeout_usec);
    on_input();
}

void ScpV1Session::send(std::vector<std::uint8_t> bytes) {
    // Small messages (a list of 1000 sessions is 24 KB): the stream's
    // buffer holds them; a peer that does not read is ended by the timer.
    stream_.write(bytes);
    if (stream_.closed()) finish();
}

void ScpV1Session::close(const std::string& why, std::vector<std::uint8_t> bytes) {
    if (state_ == State::closing || state_ == State::done) return;
    log::info("SCP v1 management connection ends: " + why,
              {{"RSM_USER", user_}, {"RSM_REASON", why}, {"RSM_SCP_PEER", peer_}});
    state_ = State::closing;
    list_call_.reset();
    if (timer_) sd_event_source_set_enabled(timer_.get(), SD_EVENT_OFF);
    if (!bytes.empty()) stream_.write(bytes);
    finish_when_sent();
}

void ScpV1Session::finish_when_sent() {
    state_ = State::closing;
    if (timer_) sd_event_source_set_enabled(timer_.get(), SD_EVENT_OFF);
    if (stream_.closed() || stream_.pending_output() == 0) finish();
}

void ScpV1Session::finish() {
    if (state_ == State::done) return;
    state_ = State::done;
    list_call_.reset();
    if (timer_) sd_event_source_set_enabled(timer_.get(), SD_EVENT_OFF);
    if (auto d = std::exchange(done_, nullptr)) d();
}

}  // namespace rsm::scp_daemon
