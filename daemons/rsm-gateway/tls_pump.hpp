// HTTPS for browsers: the bytes between the browser's TLS link (ClientLink,
// the handshake done by tls_entry.hpp) and one end of a socket pair whose
// other end libmicrohttpd serves as plain HTTP (web_session.hpp).
//
// Why a socket pair rather than MHD's own TLS mode: the gateway must read
// the first decrypted bytes to tell HTTPS from xpra-over-TLS on the same
// port, so the TLS session exists before MHD is involved, and MHD cannot
// take over a GnuTLS session already set up. The pump lives only as long
// as HTTP does: at a WebSocket upgrade it hands over (flush_from_server,
// take_unread) and the RFB path runs on the TLS link itself, as for any
// viewer, with no second copy of the desktop's stream.
//
// Bounded (pump_buffer per direction: a full buffer stops reading that
// side), non-blocking (step() never waits; the caller's loop polls for
// outer_events()/inner_events()), both directions and half-closes: the
// browser's close becomes a shutdown(SHUT_WR) of the pair, so MHD sees its
// EOF; the server's close, once what it wrote has been sent, a close_notify.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "client_link.hpp"
#include "util/fd.hpp"

namespace rsm::gateway {

inline constexpr std::size_t pump_buffer = 64 * 1024;

class TlsPump {
public:
    enum class State { running, finished, failed };

    // `outer`: the browser's link (outlives the pump); `inner`: the pump's
    // end of the pair (non-blocking); `first`: the decrypted bytes read
    // already to tell the protocol, which the server gets before any other.
    TlsPump(ClientLink& outer, UniqueFd inner, std::span<const std::uint8_t> first);

    // Moves what it can now, in both directions, never waiting.
    State step();
    // What to poll each side for now (0: nothing; HUP/ERR are reported anyway).
    short outer_events() const noexcept;
    short inner_events() const noexcept;
    int inner_fd() const noexcept { return inner_.get(); }
    const std::string& error() const noexcept { return error_; }

    // After the server has written its last bytes for now (its connection
    // closed, or a 101 answered): reads what it wrote and sends it all to
    // the browser, waiting up to `deadline` (usec, CLOCK_MONOTONIC).
    bool flush_from_server(std::uint64_t deadline, std::string& error);
    // The browser's bytes the pump holds that the server has not been given.
    std::vector<std::uint8_t> take_unread();

private:
    struct Queue {
        std::vector<std::uint8_t> bytes;
        std::size_t head = 0;
        std::size_t size() const { return bytes.size() - head; }
        bool empty() const { return size() == 0; }
        std::size_t room() const { return size() >= pump_buffer ? 0 : pump_buffer - size(); }
        const std::uint8_t* data() const { return bytes.data() + head; }
        void drop(std::size_t n);
    };
    // false on a failure (error_ set).
    bool read_inner();
    bool to_server();

    ClientLink& outer_;
    UniqueFd inner_;
    Queue to_inner_;
    Queue to_outer_;
    bool outer_eof_ = false;   // the browser closed its side
    bool inner_shut_ = false;  // ... and the server was told (SHUT_WR)
    bool inner_eof_ = false;   // the server closed its side
    std::string error_;
};

}  // namespace rsm::gateway
