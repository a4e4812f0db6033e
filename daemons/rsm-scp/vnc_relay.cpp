#include "vnc_relay.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <vector>

#include "util/log.hpp"

namespace rsm::scp_daemon {

namespace {

constexpr std::uint8_t u32_be(std::uint32_t v, int i) { return static_cast<std::uint8_t>(v >> (24 - 8 * i)); }

std::string be32(std::uint32_t v) {
    return {static_cast<char>(u32_be(v, 0)), static_cast<char>(u32_be(v, 1)), static_cast<char>(u32_be(v, 2)),
            static_cast<char>(u32_be(v, 3))};
}

std::uint32_t read_be32(std::span<const std::uint8_t> b) {
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

bool is_rfb_version(std::span<const std::uint8_t> b) {
    return b.size() >= 12 && std::memcmp(b.data(), "RFB 003.", 8) == 0 && b[11] == '\n';
}

// The minor version of "RFB 003.00x\n".
int rfb_minor(std::span<const std::uint8_t> b) { return (b[8] - '0') * 100 + (b[9] - '0') * 10 + (b[10] - '0'); }

}  // namespace

VncRelay::VncRelay(sd_event* event, UniqueFd display, std::string password, End on_end)
    : event_{event}, password_{std::move(password)}, on_end_{std::move(on_end)} {
    server_ = std::make_unique<ByteStream>(event_, std::move(display), buffer_size);
    server_->on_input = [this] { server_input(); };
    server_->on_closed = [this] { end("the session's display server closed the connection"); };
}

VncRelay::~VncRelay() { explicit_bzero(password_.data(), password_.size()); }

std::optional<std::string> VncRelay::listen(std::uint16_t port) {
    UniqueFd s{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (!s) return std::string("socket: ") + std::strerror(errno);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // SO_REUSEADDR: the previous relay of this display leaves the port in
    // TIME_WAIT for a minute, and the next login on the display must not be
    // denied for it. On Linux it never lets a second listener share a port
    // someone listens on (that is SO_REUSEPORT, not set): a port another
    // user holds still fails here.
    const int on = 1;
    if (::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0)
        return std::string("setsockopt SO_REUSEADDR: ") + std::strerror(errno);
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
        return "bind 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno);
    if (::listen(s.get(), 1) < 0) return std::string("listen: ") + std::strerror(errno);
    sd_event_source* src = nullptr;
    if (const int r = sd_event_add_io(event_, &src, s.get(), EPOLLIN, &VncRelay::on_accept, this); r < 0)
        return std::string("sd_event_add_io: ") + std::strerror(-r);
    listen_source_.reset(src);
    listener_ = std::move(s);
    if (getrandom(challenge_.data(), challenge_.size(), 0) != static_cast<ssize_t>(challenge_.size()))
        return std::string("getrandom: ") + std::strerror(errno);
    arm_timer(accept_timeout_usec);
    return std::nullopt;
}

void VncRelay::arm_timer(std::uint64_t usec) {
    std::uint64_t now = 0;
    sd_event_now(event_, CLOCK_MONOTONIC, &now);
    if (timer_) {
        sd_event_source_set_time(timer_.get(), now + usec);
        sd_event_source_set_enabled(timer_.get(), SD_EVENT_ONESHOT);
        return;
    }
    sd_event_source* t = nullptr;
    if (sd_event_add_time(event_, &t, CLOCK_MONOTONIC, now + usec, 0, &VncRelay::on_timer, this) >= 0)
        timer_.reset(t);
}

int VncRelay::on_timer(sd_event_source*, std::uint64_t, void* self) {
    auto* r = static_cast<VncRelay*>(self);
    r->end(r->viewer_ ? "the VNC handshake did not finish in time"
                      : "xrdp did not connect to the display port in time");
    return 0;
}

int VncRelay::on_accept(sd_event_source*, int fd, std::uint32_t, void* self) {
    auto* r = static_cast<VncRelay*>(self);
    UniqueFd c{::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK)};
    if (!c) return 0;  // a transient error; keep waiting until the deadline
    // One connection only: whoever comes first must know the password, and
    // nobody else gets a second try.
    r->listen_source_.reset();
    r->listener_.reset();
    r->arm_timer(handshake_timeout_usec);
    r->viewer_ = std::make_unique<ByteStream>(r->event_, std::move(c), buffer_size);
    r->viewer_->on_input = [r] { r->viewer_input(); };
    r->viewer_->on_closed = [r] { r->end("xrdp closed the display connection"); };
    r->viewer_state_ = ViewerState::version;
    r->viewer_->write(std::string_view("RFB 003.003\n"));
    return 0;
}

void VncRelay::viewer_input() {
    if (ended_) return;
    if (relaying_) return pump(*viewer_, *server_);
    auto in = viewer_->input();
    switch (viewer_state_) {
    case ViewerState::version:
        if (in.size() < 12) return;
        if (!is_rfb_version(in)) return end("xrdp sent no RFB version");
        viewer_->consume(12);
        viewer_->write(be32(2));  // security type 2: VNC authentication
        viewer_->write(challenge_);
        viewer_state_ = ViewerState::response;
        return viewer_input();
    case ViewerState::response:
        if (in.size() < 16) return;
        if (!vnc_response_ok(challenge_, password_, in.first(16))) {
            viewer_->write(be32(1));
            return end("wrong VNC password on the display port");
        }
        viewer_->consume(16);
        viewer_->write(be32(0));
        viewer_state_ = ViewerState::ready;
        return maybe_start_relay();
    case ViewerState::waiting:
    case ViewerState::ready:
    case ViewerState::done: return;
    }
}

void VncRelay::server_input() {
    if (ended_) return;
    if (relaying_) return pump(*server_, *viewer_);
    auto in = server_->input();
    switch (server_state_) {
    case ServerState::version: {
        if (in.size() < 12) return;
        if (!is_rfb_version(in)) return end("the display server sent no RFB version");
        const int minor = rfb_minor(in);
        server_->consume(12);
        if (minor >= 7) {
            server_->write(std::string_view("RFB 003.008\n"));
            server_state_ = ServerState::types;
        } else {
            server_->write(std::string_view("RFB 003.003\n"));
            server_state_ = ServerState::type33;
        }
        return server_input();
    }
    case ServerState::types: {
        if (in.empty()) return;
        const std::size_t n = in[0];
        if (n == 0) return end("the display server refused the connection");
        if (in.size() < 1 + n) return;
        bool none = false;
        for (std::size_t i = 1; i <= n; ++i) none = none || in[i] == 1;
        if (!none) return end("the display server does not offer security type None");
        server_->consume(1 + n);
        const std::uint8_t choice = 1;
        server_->write(std::span(&choice, 1));
        server_state_ = ServerState::result;
        return server_input();
    }
    case ServerState::result:
        if (in.size() < 4) return;
        if (read_be32(in) != 0) return end("the display server's security result is a failure");
        server_->consume(4);
        server_state_ = ServerState::ready;
        return maybe_start_relay();
    case ServerState::type33:
        if (in.size() < 4) return;
        if (read_be32(in) != 1) return end("the display server (RFB 3.3) wants authentication");
        server_->consume(4);
        server_state_ = ServerState::ready;
        return maybe_start_relay();
    case ServerState::ready: return;
    }
}

void VncRelay::maybe_start_relay() {
    if (relaying_ || viewer_state_ != ViewerState::ready || server_state_ != ServerState::ready) return;
    relaying_ = true;
    if (timer_) sd_event_source_set_enabled(timer_.get(), SD_EVENT_OFF);
    viewer_->on_drained = [this] { pump(*server_, *viewer_); };
    server_->on_drained = [this] { pump(*viewer_, *server_); };
    log::info("VNC relay established");
    // What either side sent early (xrdp's ClientInit) goes through now.
    pump(*viewer_, *server_);
    pump(*server_, *viewer_);
}

void VncRelay::pump(ByteStream& from, ByteStream& to) {
    if (ended_ || !relaying_ || from.input().empty()) return;
    // Back-pressure: leave bytes in `from` (which then stops reading) while
    // `to` still has a full buffer to send.
    if (to.pending_output() >= ByteStream::max_output) return;
    // Consumed before it is sent on: write() may end the relay (a closed
    // peer), and nothing may ever see these bytes twice.
    const std::vector<std::uint8_t> chunk(from.input().begin(), from.input().end());
    from.consume(chunk.size());
    to.write(chunk);
}

void VncRelay::end(const std::string& reason) {
    if (ended_) return;
    ended_ = true;
    relaying_ = false;
    listen_source_.reset();
    listener_.reset();
    if (timer_) sd_event_source_set_enabled(timer_.get(), SD_EVENT_OFF);
    if (on_end_) on_end_(reason);
}

}  // namespace rsm::scp_daemon
