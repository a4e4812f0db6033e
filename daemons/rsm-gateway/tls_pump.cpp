#include "tls_pump.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>

namespace rsm::gateway {

void TlsPump::Queue::drop(std::size_t n) {
    head += n;
    if (head == bytes.size()) {
        bytes.clear();
        head = 0;
    } else if (head >= pump_buffer) {
        bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(head));
        head = 0;
    }
}

TlsPump::TlsPump(ClientLink& outer, UniqueFd inner, std::span<const std::uint8_t> first)
    : outer_{outer}, inner_{std::move(inner)} {
    // At most what tls_entry read to decide (16 bytes): within the bound.
    to_inner_.bytes.assign(first.begin(), first.end());
}

bool TlsPump::read_inner() {
    std::uint8_t buf[16384];
    while (!inner_eof_ && to_outer_.room() > 0) {
        const ssize_t n = ::recv(inner_.get(), buf, std::min(sizeof buf, to_outer_.room()), MSG_DONTWAIT);
        if (n > 0) {
            to_outer_.bytes.insert(to_outer_.bytes.end(), buf, buf + n);
            continue;
        }
        if (n == 0) {
            inner_eof_ = true;
            break;
        }
        if (errno == EAGAIN || errno == EINTR) break;
        if (errno == ECONNRESET) {  // the server dropped the connection: as a close
            inner_eof_ = true;
            break;
        }
        error_ = std::string("the HTTP server's socket: ") + std::strerror(errno);
        return false;
    }
    return true;
}

bool TlsPump::to_server() {
    std::uint8_t buf[16384];
    // Again while GnuTLS holds decrypted bytes (epoll cannot see them) and
    // the server took some: nothing else would wake the loop for them.
    for (bool again = true; again;) {
        while (!outer_eof_ && to_inner_.room() > 0) {
            std::size_t n = 0;
            const ClientLink::Io io = outer_.recv(buf, std::min(sizeof buf, to_inner_.room()), n);
            if (io == ClientLink::Io::again) break;
            if (io == ClientLink::Io::eof) {
                outer_eof_ = true;
                break;
            }
            if (io == ClientLink::Io::error) {
                error_ = "the browser's TLS connection failed";
                return false;
            }
            to_inner_.bytes.insert(to_inner_.bytes.end(), buf, buf + n);
        }
        while (!to_inner_.empty()) {
            const ssize_t n = ::send(inner_.get(), to_inner_.data(), to_inner_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n >= 0) {
                to_inner_.drop(static_cast<std::size_t>(n));
                continue;
            }
            if (errno == EAGAIN || errno == EINTR) break;
            if (errno == EPIPE || errno == ECONNRESET) {  // the server closed: what it did not read is moot
                to_inner_.drop(to_inner_.size());
                inner_shut_ = true;
                break;
            }
            error_ = std::string("the HTTP server's socket: ") + std::strerror(errno);
            return false;
        }
        again = !outer_eof_ && !inner_shut_ && to_inner_.room() > 0 && outer_.pending();
    }
    return true;
}

TlsPump::State TlsPump::step() {
    if (!error_.empty()) return State::failed;
    if (!to_server()) return State::failed;
    if (outer_eof_ && to_inner_.empty() && !inner_shut_) {
        ::shutdown(inner_.get(), SHUT_WR);
        inner_shut_ = true;
    }
    // The server's bytes to the browser.
    if (!read_inner()) return State::failed;
    while (!to_outer_.empty()) {
        std::size_t n = 0;
        const ClientLink::Io io = outer_.send(to_outer_.data(), to_outer_.size(), n);
        if (io == ClientLink::Io::again) break;
        if (io != ClientLink::Io::ok) {
            error_ = "the browser's TLS connection failed";
            return State::failed;
        }
        to_outer_.drop(n);
    }
    if (inner_eof_ && to_outer_.empty()) {
        outer_.shutdown();
        return State::finished;
    }
    if (outer_eof_ && inner_shut_ && inner_eof_) return State::finished;
    return State::running;
}

short TlsPump::outer_events() const noexcept {
    short e = 0;
    if (!outer_eof_ && to_inner_.room() > 0) e |= POLLIN;
    if (!to_outer_.empty() || outer_.tls_wants_write()) e |= POLLOUT;
    return e;
}

short TlsPump::inner_events() const noexcept {
    short e = 0;
    if (!inner_eof_ && to_outer_.room() > 0) e |= POLLIN;
    if (!to_inner_.empty()) e |= POLLOUT;
    return e;
}

bool TlsPump::flush_from_server(std::uint64_t deadline, std::string& error) {
    for (;;) {
        if (!read_inner()) {
            error = error_;
            return false;
        }
        if (to_outer_.empty()) return true;
        const std::string_view bytes(reinterpret_cast<const char*>(to_outer_.data()), to_outer_.size());
        if (!outer_.write_all(bytes, deadline, error)) return false;
        to_outer_.drop(to_outer_.size());
    }
}

std::vector<std::uint8_t> TlsPump::take_unread() {
    std::vector<std::uint8_t> out(to_inner_.data(), to_inner_.data() + to_inner_.size());
    to_inner_.drop(to_inner_.size());
    return out;
}

}  // namespace rsm::gateway
