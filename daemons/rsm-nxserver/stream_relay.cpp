#include "stream_relay.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <sys/epoll.h>
#include <unistd.h>
#include <utility>

namespace rsm::nx {
namespace {

EventSourcePtr add(sd_event* e, int fd, void* self, sd_event_io_handler_t h) {
    sd_event_source* s = nullptr;
    const int r = sd_event_add_io(e, &s, fd, 0, h, self);
    if (r < 0) throw std::runtime_error(std::string{"sd_event_add_io: "} + std::strerror(-r));
    return EventSourcePtr{s};
}

// Reads into `buf` up to buffer_size; 1 data, 0 EOF, -1 error, 2 nothing now.
int fill(int fd, std::string& buf, std::uint64_t& total) {
    char chunk[65536];
    const std::size_t room = StreamRelay::buffer_size - buf.size();
    const ssize_t n = ::read(fd, chunk, room < sizeof chunk ? room : sizeof chunk);
    if (n > 0) {
        buf.append(chunk, static_cast<std::size_t>(n));
        total += static_cast<std::uint64_t>(n);
        return 1;
    }
    if (n == 0) return 0;
    return errno == EAGAIN || errno == EINTR ? 2 : -1;
}

// Writes what it can of `buf`; false on an error.
bool drain(int fd, std::string& buf) {
    while (!buf.empty()) {
        const ssize_t n = ::write(fd, buf.data(), buf.size());
        if (n > 0) {
            buf.erase(0, static_cast<std::size_t>(n));
            continue;
        }
        return n < 0 && (errno == EAGAIN || errno == EINTR);
    }
    return true;
}

}  // namespace

StreamRelay::StreamRelay(sd_event* event, int in, int out, int peer, std::string first, Done done)
    : in_{in}, out_{out}, peer_{peer}, up_{std::move(first)}, done_{std::move(done)} {
    in_src_ = add(event, in_, this, &StreamRelay::on_io);
    out_src_ = add(event, out_, this, &StreamRelay::on_io);
    peer_src_ = add(event, peer_, this, &StreamRelay::on_io);
    update();
}

int StreamRelay::on_io(sd_event_source*, int fd, std::uint32_t revents, void* self) {
    static_cast<StreamRelay*>(self)->pump(fd, revents);
    return 0;
}

void StreamRelay::pump(int fd, std::uint32_t revents) {
    if (!done_) return;
    if (fd == in_ || (fd == peer_ && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))) {
        std::string& buf = fd == in_ ? up_ : down_;
        std::uint64_t& total = fd == in_ ? up_total_ : down_total_;
        if (buf.size() < buffer_size) {
            const int r = fill(fd, buf, total);
            if (r == 0) return finish(fd == in_ ? "the client closed its stream" : "the session closed its stream");
            if (r < 0) return finish(std::string{"read: "} + std::strerror(errno));
        }
    }
    // Write whatever is pending in both directions.
    if (!drain(peer_, up_)) return finish(std::string{"write to the session: "} + std::strerror(errno));
    if (!drain(out_, down_)) return finish(std::string{"write to the client: "} + std::strerror(errno));
    update();
}

void StreamRelay::update() {
    sd_event_source_set_io_events(in_src_.get(), up_.size() < buffer_size ? static_cast<std::uint32_t>(EPOLLIN) : 0u);
    sd_event_source_set_io_events(out_src_.get(), down_.empty() ? 0u : static_cast<std::uint32_t>(EPOLLOUT));
    std::uint32_t peer = down_.size() < buffer_size ? static_cast<std::uint32_t>(EPOLLIN) : 0u;
    if (!up_.empty()) peer |= EPOLLOUT;
    sd_event_source_set_io_events(peer_src_.get(), peer);
    sd_event_source_set_enabled(in_src_.get(), SD_EVENT_ON);
    sd_event_source_set_enabled(out_src_.get(), SD_EVENT_ON);
    sd_event_source_set_enabled(peer_src_.get(), SD_EVENT_ON);
}

void StreamRelay::finish(std::string why) {
    in_src_.reset();
    out_src_.reset();
    peer_src_.reset();
    if (auto d = std::exchange(done_, nullptr)) d(std::move(why));
}

}  // namespace rsm::nx
