#include "client_link.hpp"

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

namespace rsm::gateway {

namespace {

// TLSPlain is anonymous Diffie-Hellman, which TLS 1.3 does not have.
constexpr const char* anonymous_priority = "NORMAL:-VERS-TLS1.3:+ANON-ECDH:+ANON-DH";
constexpr const char* x509_priority = "NORMAL";

std::string tls_error(const char* what, int r) { return std::string(what) + ": " + gnutls_strerror(r); }

}  // namespace

std::uint64_t now_usec() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<std::uint64_t>(ts.tv_nsec) / 1000;
}

TlsCredentials::~TlsCredentials() {
    if (anonymous_) gnutls_anon_free_server_credentials(anonymous_);
    if (certificate_) gnutls_certificate_free_credentials(certificate_);
}

std::string TlsCredentials::load(const std::string& certificate, const std::string& key) {
    int r = gnutls_anon_allocate_server_credentials(&anonymous_);
    if (r < 0) return tls_error("gnutls_anon_allocate_server_credentials", r);
    // RFC 7919 groups, no parameter generation at start.
    gnutls_anon_set_server_known_dh_params(anonymous_, GNUTLS_SEC_PARAM_MEDIUM);
    if (certificate.empty()) return {};
    if ((r = gnutls_certificate_allocate_credentials(&certificate_)) < 0)
        return tls_error("gnutls_certificate_allocate_credentials", r);
    r = gnutls_certificate_set_x509_key_file(certificate_, certificate.c_str(), key.c_str(), GNUTLS_X509_FMT_PEM);
    if (r < 0) {
        gnutls_certificate_free_credentials(certificate_);
        certificate_ = nullptr;
        return tls_error(("certificate " + certificate + ", key " + key).c_str(), r);
    }
    gnutls_certificate_set_known_dh_params(certificate_, GNUTLS_SEC_PARAM_MEDIUM);
    return {};
}

ClientLink::ClientLink(UniqueFd fd) : fd_{std::move(fd)} {}

ClientLink::~ClientLink() {
    if (session_) gnutls_deinit(session_);
}

bool ClientLink::wait(short events, std::uint64_t deadline, std::string& error) {
    for (;;) {
        const std::uint64_t now = now_usec();
        if (now >= deadline) {
            error = "timed out";
            return false;
        }
        pollfd p{fd_.get(), events, 0};
        const int ms = static_cast<int>((deadline - now + 999) / 1000);
        const int r = ::poll(&p, 1, ms);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            error = std::string("poll: ") + std::strerror(errno);
            return false;
        }
        if (r > 0) return true;
    }
}

bool ClientLink::read_some(std::vector<std::uint8_t>& out, std::size_t max, std::uint64_t deadline,
                           std::string& error) {
    std::uint8_t buf[4096];
    for (;;) {
        std::size_t n = 0;
        switch (recv(buf, std::min(max, sizeof buf), n)) {
        case Io::ok:
            out.insert(out.end(), buf, buf + n);
            explicit_bzero(buf, n);  // may be a password
            return true;
        case Io::eof: error = "the viewer closed the connection"; return false;
        case Io::error: error = "the viewer's connection failed"; return false;
        case Io::again:
            if (!wait(session_ && tls_wants_write() ? POLLOUT : wants_write() ? POLLIN | POLLOUT : POLLIN, deadline,
                      error))
                return false;
        }
    }
}

bool ClientLink::write_all(std::string_view bytes, std::uint64_t deadline, std::string& error) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
    std::size_t left = bytes.size();
    while (left > 0) {
        std::size_t n = 0;
        switch (send(p, left, n)) {
        case Io::ok:
            p += n;
            left -= n;
            break;
        case Io::eof:
        case Io::error: error = "the viewer's connection failed"; return false;
        case Io::again:
            if (!wait(session_ && !tls_wants_write() ? POLLIN : POLLOUT, deadline, error)) return false;
        }
    }
    // A WebSocket may still hold the last frame.
    for (;;) {
        switch (flush()) {
        case Io::ok: return true;
        case Io::again:
            if (!wait(session_ && !tls_wants_write() ? POLLIN : POLLOUT, deadline, error)) return false;
            break;
        default: error = "the viewer's connection failed"; return false;
        }
    }
}

bool ClientLink::start_tls(TlsKind kind, const TlsCredentials& credentials, std::uint64_t deadline,
                           std::string& error) {
    int r = gnutls_init(&session_, GNUTLS_SERVER | GNUTLS_NONBLOCK);
    if (r < 0) {
        session_ = nullptr;
        error = tls_error("gnutls_init", r);
        return false;
    }
    const char* err_pos = nullptr;
    if (kind == TlsKind::x509) {
        r = gnutls_priority_set_direct(session_, x509_priority, &err_pos);
        if (r >= 0) r = gnutls_credentials_set(session_, GNUTLS_CRD_CERTIFICATE, credentials.certificate_);
    } else {
        r = gnutls_priority_set_direct(session_, anonymous_priority, &err_pos);
        if (r >= 0) r = gnutls_credentials_set(session_, GNUTLS_CRD_ANON, credentials.anonymous_);
    }
    if (r < 0) {
        error = tls_error("TLS setup", r);
        return false;
    }
    gnutls_transport_set_int(session_, fd_.get());
    for (;;) {
        r = gnutls_handshake(session_);
        if (r == GNUTLS_E_SUCCESS) return true;
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
            if (!wait(gnutls_record_get_direction(session_) ? POLLOUT : POLLIN, deadline, error)) return false;
            continue;
        }
        if (gnutls_error_is_fatal(r)) {
            error = tls_error("TLS handshake", r);
            return false;
        }
    }
}

ClientLink::Io ClientLink::recv(std::uint8_t* buf, std::size_t size, std::size_t& n) {
    return ws_ ? ws_recv(buf, size, n) : raw_recv(buf, size, n);
}

ClientLink::Io ClientLink::send(const std::uint8_t* buf, std::size_t size, std::size_t& n) {
    return ws_ ? ws_send(buf, size, n) : raw_send(buf, size, n);
}

ClientLink::Io ClientLink::raw_recv(std::uint8_t* buf, std::size_t size, std::size_t& n) {
    n = 0;
    if (!session_) {
        const ssize_t r = ::recv(fd_.get(), buf, size, MSG_DONTWAIT);
        if (r > 0) {
            n = static_cast<std::size_t>(r);
            return Io::ok;
        }
        if (r == 0) return Io::eof;
        return errno == EAGAIN || errno == EINTR ? Io::again : Io::error;
    }
    const ssize_t r = gnutls_record_recv(session_, buf, size);
    if (r > 0) {
        n = static_cast<std::size_t>(r);
        return Io::ok;
    }
    if (r == 0) return Io::eof;
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) return Io::again;
    // A TCP close without close_notify: most viewers just close.
    if (r == GNUTLS_E_PREMATURE_TERMINATION) return Io::eof;
    return Io::error;
}

ClientLink::Io ClientLink::raw_send(const std::uint8_t* buf, std::size_t size, std::size_t& n) {
    n = 0;
    if (!session_) {
        const ssize_t r = ::send(fd_.get(), buf, size, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r >= 0) {
            n = static_cast<std::size_t>(r);
            return Io::ok;
        }
        return errno == EAGAIN || errno == EINTR ? Io::again : Io::error;
    }
    // One record at most per call, so that a retry covers exactly it.
    const std::size_t chunk = std::min<std::size_t>(size, 16384);
    const ssize_t r = send_retry_ ? gnutls_record_send(session_, nullptr, 0) : gnutls_record_send(session_, buf, chunk);
    if (r >= 0) {
        send_retry_ = false;
        n = static_cast<std::size_t>(r);
        return Io::ok;
    }
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
        send_retry_ = true;
        return Io::again;
    }
    return Io::error;
}

bool ClientLink::pending() const noexcept {
    if (ws_ && ws_->in_head < ws_->in.size()) return true;
    return session_ && gnutls_record_check_pending(session_) > 0;
}

bool ClientLink::tls_wants_write() const noexcept { return session_ && gnutls_record_get_direction(session_) == 1; }

void ClientLink::shutdown() noexcept {
    if (ws_) {
        // A close frame (unless one went out already), and a short while
        // for the socket to take what is held: the process ends next.
        if (!ws_->close_sent) ws_close(ws::close_normal, "");
        const std::uint64_t deadline = now_usec() + 500'000;
        std::string ignored;
        while (flush() == Io::again && wait(POLLOUT, deadline, ignored)) {
        }
    }
    if (session_) gnutls_bye(session_, GNUTLS_SHUT_WR);  // non-blocking: best effort
}

}  // namespace rsm::gateway
