// The viewer's connection: a non-blocking TCP socket, optionally wrapped in
// TLS (GnuTLS) once VeNCrypt asks for it. Two ways to use it:
//  - during the handshake, read_some()/write_all() wait with poll() up to a
//    deadline (this process serves one connection: waiting blocks nobody);
//  - in the relay, recv()/send() never wait, and wants_write() says whether
//    to poll for writing (TLS may need to write in order to read; a
//    WebSocket may hold frames the socket has not taken yet).
// A browser's connection is a WebSocket (start_websocket(), RFC 6455; the
// framing is ws_frame.hpp): recv() then yields the payload of the client's
// binary messages, send() wraps what it takes in one binary frame, pings
// are answered and a close is echoed, all on the same non-blocking calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <gnutls/gnutls.h>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rfb_handshake.hpp"
#include "util/fd.hpp"
#include "ws_frame.hpp"

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
    // From now on, WebSocket frames (the HTTP upgrade is done). `extra_in`:
    // bytes the HTTP server had read past the request, the first frames'.
    void start_websocket(std::span<const std::uint8_t> extra_in);
    bool websocket() const noexcept { return ws_.has_value(); }

    // Non-blocking: `n` is what was moved when Io::ok.
    Io recv(std::uint8_t* buf, std::size_t size, std::size_t& n);
    // After Io::again, call again with the same bytes (GnuTLS's rule). A
    // WebSocket takes the bytes into one frame (Io::ok) once what it holds
    // has gone out, and sends what it can of it now.
    Io send(const std::uint8_t* buf, std::size_t size, std::size_t& n);
    // Sends what the link holds (WebSocket frames, a pong, a close): ok when
    // nothing is left.
    Io flush();
    // Whether to poll for writing: TLS waits to write, or frames are held.
    bool wants_write() const noexcept;
    // Why a WebSocket ended in Io::error, when it was the client's framing.
    std::string protocol_error() const { return ws_ ? ws_->error : std::string(); }
    // Decrypted bytes GnuTLS holds that poll() cannot see.
    bool pending() const noexcept;
    // After Io::again from TLS: the record layer waits to write (true) or to read.
    bool tls_wants_write() const noexcept;
    bool tls() const noexcept { return session_ != nullptr; }
    int fd() const noexcept { return fd_.get(); }
    // Closes TLS politely (close_notify) without waiting long.
    void shutdown() noexcept;

private:
    // What a WebSocket holds beside the socket, each part bounded: the
    // decoder's partial frame (ws::max_frame_payload), decoded payload
    // (filled only when empty), frames to send (one data frame, filled only
    // when empty, then at most one pong and one close).
    struct WebSocket {
        ws::Decoder decoder;
        std::vector<std::uint8_t> in;
        std::size_t in_head = 0;
        std::string out;
        std::size_t out_head = 0;
        std::optional<std::string> pong;  // the latest ping's payload, not yet answered
        bool close_sent = false;
        bool peer_closed = false;
        bool failed = false;
        std::string error;
    };

    bool wait(short events, std::uint64_t deadline, std::string& error);
    Io raw_recv(std::uint8_t* buf, std::size_t size, std::size_t& n);
    Io raw_send(const std::uint8_t* buf, std::size_t size, std::size_t& n);
    Io ws_recv(std::uint8_t* buf, std::size_t size, std::size_t& n);
    Io ws_send(const std::uint8_t* buf, std::size_t size, std::size_t& n);
    void ws_close(std::uint16_t code, std::string_view reason);

    UniqueFd fd_;
    gnutls_session_t session_ = nullptr;
    bool send_retry_ = false;  // a GnuTLS send answered again: retry with (nullptr, 0)
    std::optional<WebSocket> ws_;
};

std::uint64_t now_usec();

}  // namespace rsm::gateway
