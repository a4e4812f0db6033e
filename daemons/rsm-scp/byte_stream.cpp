#include "byte_stream.hpp"

#include <cerrno>
#include <stdexcept>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>

namespace rsm::scp_daemon {

ByteStream::ByteStream(sd_event* event, UniqueFd fd, std::size_t max_input)
    : fd_{std::move(fd)}, max_input_{max_input} {
    sd_event_source* s = nullptr;
    const int r = sd_event_add_io(event, &s, fd_.get(), EPOLLIN, &ByteStream::on_io, this);
    if (r < 0) throw std::runtime_error("sd_event_add_io: " + std::to_string(-r));
    source_.reset(s);
    input_.reserve(std::min<std::size_t>(max_input_, 64 * 1024));
}

void ByteStream::consume(std::size_t n) {
    input_.erase(input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(std::min(n, input_.size())));
    update();
}

bool ByteStream::write(std::span<const std::uint8_t> bytes) {
    if (closed_) return true;  // nobody to send to; drop silently
    output_.insert(output_.end(), bytes.begin(), bytes.end());
    // No on_drained from here: the caller is in the middle of its own work
    // (a relay that has not yet consumed what it forwards would send it
    // twice); the loop reports draining.
    write_some(false);
    update();
    return output_.size() <= max_output;
}

void ByteStream::update() {
    if (!source_) return;
    if (closed_) {
        sd_event_source_set_enabled(source_.get(), SD_EVENT_OFF);
        return;
    }
    std::uint32_t events = 0;
    if (!input_full() && !eof_) events |= EPOLLIN;
    if (!output_.empty()) events |= EPOLLOUT;
    if (events == 0) {
        sd_event_source_set_enabled(source_.get(), SD_EVENT_OFF);
        return;
    }
    sd_event_source_set_io_events(source_.get(), events);
    sd_event_source_set_enabled(source_.get(), SD_EVENT_ON);
}

void ByteStream::mark_closed() {
    if (closed_) return;
    closed_ = true;
    output_.clear();
    update();
    if (on_closed) on_closed();
}

void ByteStream::read_some() {
    if (closed_ || eof_ || input_full()) return;
    std::uint8_t buf[16384];
    const std::size_t room = std::min(sizeof buf, max_input_ - input_.size());
    const ssize_t n = ::recv(fd_.get(), buf, room, MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        mark_closed();
        return;
    }
    if (n == 0) {
        if (!on_eof) return mark_closed();
        eof_ = true;
        update();
        on_eof();
        return;
    }
    input_.insert(input_.end(), buf, buf + n);
    if (on_input) on_input();
}

void ByteStream::write_some(bool notify) {
    while (!closed_ && !output_.empty()) {
        const ssize_t n = ::send(fd_.get(), output_.data(), output_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            mark_closed();
            return;
        }
        output_.erase(output_.begin(), output_.begin() + n);
        if (output_.empty() && notify && on_drained) on_drained();
    }
}

int ByteStream::on_io(sd_event_source*, int, std::uint32_t revents, void* self) {
    auto* s = static_cast<ByteStream*>(self);
    if (revents & EPOLLOUT) s->write_some(true);
    if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if ((revents & EPOLLIN) == 0 || !s->input_full()) s->read_some();
        if ((revents & (EPOLLHUP | EPOLLERR)) && !(revents & EPOLLIN)) s->mark_closed();
    }
    s->update();
    return 0;
}

}  // namespace rsm::scp_daemon
