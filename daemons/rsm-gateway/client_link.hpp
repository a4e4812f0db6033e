// The viewer's connection: a non-blocking TCP socket, optionally wrapped in
// TLS (GnuTLS) once VeNCrypt asks for it. Two ways to use it:
//  - during the handshake, read_some()/write_all() wait with poll() up to a
//    deadline (this process serves one connection: waiting blocks nobody);
//  - in the relay, recv()/send() never wait, and wants() says what to poll
//    for (TLS may need to write in order to read, and the other way round).
#pragma once

#include <cstddef>
#include <cstdint>
#include <gnutls/gnutls.h>
#include <string>
#include <string_view>
#include <vector>

#include "rfb_handshake.hpp"
#include "util/fd.hpp"

namespace rsm::gateway {

// The server's TLS credentials, loaded once per process: anonymous
// (TLSPlain: encrypted, the viewer cannot tell who it talks to) and, when
// configured, a certificate (X509Plain).
class TlsCredentials {
public:
    TlsCredentials() = default;
    TlsCredentials(const TlsCredentials&) = delete;
    TlsCredentials& operator=(const TlsCredentials&) = delete;
    ~TlsCredentials();
    // "" on success, else the error.
    std::string load(const std::string& certificate, const std::string& key);
    bool has_certificate() const noexcept { return certificate_ != nullptr; }

private:
    friend class ClientLink;
    gnutls_anon_server_credentials_t anonymous_ = nullptr;
    gnutls_certificate_credentials_t certificate_ = nullptr;
};

class ClientLink {
public:
    enum class Io { ok, again, eof, error };

    explicit ClientLink(UniqueFd fd);
    ClientLink(const ClientLink&) = delete;
    ClientLink& operator=(const ClientLink&) = delete;
    ~ClientLink();

    // Appends what arrived (at most `max` bytes) to `out`; false on EOF,
    // an error or the deadline (CLOCK_MONOTONIC, usec), with `error` set.
    bool read_some(std::vector<std::uint8_t>& out, std::size_t max, std::uint64_t deadline, std::string& error);
    bool write_all(std::string_view bytes, std::uint64_t deadline, std::string& error);
    bool start_tls(TlsKind kind, const TlsCredentials& credentials, std::uint64_t deadline, std::string& error);

    // Non-blocking: `n` is what was moved when Io::ok.
    Io recv(std::uint8_t* buf, std::size_t size, std::size_t& n);
    // After Io::again, call again with the same bytes (GnuTLS's rule).
    Io send(const std::uint8_t* buf, std::size_t size, std::size_t& n);
    // Decrypted bytes GnuTLS holds that poll() cannot see.
    bool pending() const noexcept;
    // After Io::again from TLS: the record layer waits to write (true) or to read.
    bool tls_wants_write() const noexcept;
    bool tls() const noexcept { return session_ != nullptr; }
    int fd() const noexcept { return fd_.get(); }
    // Closes TLS politely (close_notify) without waiting long.
    void shutdown() noexcept;

private:
    bool wait(short events, std::uint64_t deadline, std::string& error);

    UniqueFd fd_;
    gnutls_session_t session_ = nullptr;
    bool send_retry_ = false;  // a GnuTLS send answered again: retry with (nullptr, 0)
};

std::uint64_t now_usec();

}  // namespace rsm::gateway
