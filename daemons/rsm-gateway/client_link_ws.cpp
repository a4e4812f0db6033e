// ClientLink's WebSocket mode (client_link.hpp): RFB carried in binary
// WebSocket messages, as noVNC sends it, over the same non-blocking calls
// as a plain or TLS connection.
#include "client_link.hpp"

#include <algorithm>

namespace rsm::gateway {

namespace {

// One frame to the client carries at most this much of the RFB stream (a
// frame is queued whole: this bounds what the link holds).
constexpr std::size_t max_send_frame = 64 * 1024;

}  // namespace

void ClientLink::start_websocket(std::span<const std::uint8_t> extra_in) {
    ws_.emplace();
    ws_->decoder.push(extra_in);
}

bool ClientLink::wants_write() const noexcept {
    return tls_wants_write() || (ws_ && (ws_->out_head < ws_->out.size() || ws_->pong));
}

void ClientLink::ws_close(std::uint16_t code, std::string_view reason) {
    if (ws_->close_sent) return;
    ws_->close_sent = true;
    const std::string payload = ws::close_payload(code, reason);
    ws::encode(ws::Opcode::close, std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()),
               ws_->out);
}

ClientLink::Io ClientLink::flush() {
    if (!ws_) return Io::ok;
    WebSocket& w = *ws_;
    for (;;) {
        if (w.out_head == w.out.size()) {
            w.out.clear();
            w.out_head = 0;
            // The pong waits for the frame before it: frames never interleave.
            if (!w.pong || w.close_sent) {
                w.pong.reset();
                return Io::ok;
            }
            const std::string payload = std::move(*w.pong);
            w.pong.reset();
            ws::encode(ws::Opcode::pong, std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()),
                       w.out);
        }
        std::size_t n = 0;
        const Io io = raw_send(reinterpret_cast<const std::uint8_t*>(w.out.data()) + w.out_head, w.out.size() - w.out_head, n);
        if (io != Io::ok) return io;
        w.out_head += n;
    }
}

ClientLink::Io ClientLink::ws_send(const std::uint8_t* buf, std::size_t size, std::size_t& n) {
    n = 0;
    WebSocket& w = *ws_;
    if (w.close_sent || w.failed) return Io::error;  // no data after a close
    if (const Io io = flush(); io != Io::ok) return io;
    const std::size_t take = std::min(size, max_send_frame);
    ws::encode(ws::Opcode::binary, std::span(buf, take), w.out);
    n = take;
    // What the socket does not take now stays queued; wants_write() says so.
    if (const Io io = flush(); io == Io::error || io == Io::eof) return io;
    return Io::ok;
}

ClientLink::Io ClientLink::ws_recv(std::uint8_t* buf, std::size_t size, std::size_t& n) {
    n = 0;
    WebSocket& w = *ws_;
    // Answers (pongs) go out whenever the client is read.
    if (const Io io = flush(); io == Io::error) return io;
    std::uint8_t raw[16384];
    for (;;) {
        if (w.in_head < w.in.size()) {
            n = std::min(size, w.in.size() - w.in_head);
            std::copy_n(w.in.data() + w.in_head, n, buf);
            w.in_head += n;
            if (w.in_head == w.in.size()) {
                w.in.clear();
                w.in_head = 0;
            }
            return Io::ok;
        }
        if (w.peer_closed) return Io::eof;
        if (w.failed) return Io::error;
        // Every complete frame the decoder holds, then more bytes.
        ws::Frame f;
        ws::Decoder::Result r = ws::Decoder::Result::need_more;
        while (!w.peer_closed && (r = w.decoder.next(f)) == ws::Decoder::Result::frame) {
            switch (f.opcode) {
            case ws::Opcode::binary:
            case ws::Opcode::continuation: w.in.insert(w.in.end(), f.payload.begin(), f.payload.end()); break;
            case ws::Opcode::ping: w.pong.emplace(f.payload.begin(), f.payload.end()); break;
            case ws::Opcode::close: {
                // Echo the code (RFC 6455, 5.5.1); the stream ends once
                // what came before is read.
                w.peer_closed = true;
                const std::uint16_t code = f.payload.size() >= 2 ? static_cast<std::uint16_t>((f.payload[0] << 8) | f.payload[1])
                                                                 : ws::close_normal;
                ws_close(code, "");
                flush();
                break;
            }
            case ws::Opcode::pong:
            case ws::Opcode::text: break;  // text: the decoder refuses it
            }
        }
        if (!w.peer_closed && r == ws::Decoder::Result::error) {
            w.failed = true;
            w.error = w.decoder.error_text();
            ws_close(w.decoder.close_code(), w.decoder.error_text());
            flush();
            return Io::error;
        }
        if (w.in_head < w.in.size() || w.peer_closed) continue;
        if (w.pong) {
            if (const Io io = flush(); io == Io::error) return io;
        }
        std::size_t got = 0;
        if (const Io io = raw_recv(raw, sizeof raw, got); io != Io::ok) return io;
        w.decoder.push(std::span(raw, got));
    }
}

}  // namespace rsm::gateway
