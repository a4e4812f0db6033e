// daemons/rsm-gateway/client_link (WebSocket mode): the viewer's link
// carrying RFB in WebSocket frames, on a real socket pair: masked client
// frames decoded (split anywhere, the first ones handed over by the HTTP
// server), each send() one binary frame, pings answered, a close echoed,
// bad framing closed with its code, and frames the socket could not take
// held and flushed later.
#include <catch2/catch.hpp>

#include <cstring>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <vector>

#include "client_link.hpp"

using namespace rsm;
using namespace rsm::gateway;

namespace {

std::string client_frame(std::uint8_t first, std::string_view payload) {
    std::string f(1, static_cast<char>(first));
    const std::uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    if (payload.size() < 126) {
        f.push_back(static_cast<char>(0x80 | payload.size()));
    } else {
        f.push_back(static_cast<char>(0x80 | 126));
        f.push_back(static_cast<char>(payload.size() >> 8));
        f.push_back(static_cast<char>(payload.size() & 0xff));
    }
    f.append(reinterpret_cast<const char*>(mask), 4);
    for (std::size_t i = 0; i < payload.size(); ++i) f.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
    return f;
}

struct Pair {
    UniqueFd peer;
    std::unique_ptr<ClientLink> link;
    explicit Pair(std::string_view extra_in = {}) {
        int sv[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
        peer.reset(sv[0]);
        link = std::make_unique<ClientLink>(UniqueFd{sv[1]});
        link->start_websocket(std::span(reinterpret_cast<const std::uint8_t*>(extra_in.data()), extra_in.size()));
    }
    void put(const std::string& bytes) const {
        REQUIRE(::send(peer.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
    }
    // Everything the link has written so far.
    std::string taken() const {
        std::string out;
        char buf[65536];
        ssize_t n;
        while ((n = ::recv(peer.get(), buf, sizeof buf, MSG_DONTWAIT)) > 0) out.append(buf, static_cast<std::size_t>(n));
        return out;
    }
    // What recv() yields until it would wait.
    std::string drain(ClientLink::Io& last) const {
        std::string out;
        std::uint8_t buf[7];  // small: payloads come out in pieces too
        for (;;) {
            std::size_t n = 0;
            last = link->recv(buf, sizeof buf, n);
            if (last != ClientLink::Io::ok) return out;
            out.append(reinterpret_cast<const char*>(buf), n);
        }
    }
};

}  // namespace

TEST_CASE("client frames are decoded into the RFB stream", "[ws-link]") {
    Pair p{client_frame(0x82, "RFB 003.")};  // the HTTP server had read this much already
    const std::string rest = client_frame(0x02, "008") + client_frame(0x80, "\n") + client_frame(0x82, std::string(300, 'x'));
    p.put(rest.substr(0, 5));
    ClientLink::Io io{};
    CHECK(p.drain(io) == "RFB 003.");
    CHECK(io == ClientLink::Io::again);
    p.put(rest.substr(5));
    CHECK(p.drain(io) == "008\n" + std::string(300, 'x'));
    CHECK(io == ClientLink::Io::again);
    CHECK_FALSE(p.link->pending());
}

TEST_CASE("each send is one unmasked binary frame", "[ws-link]") {
    Pair p;
    std::size_t n = 0;
    const std::string greeting = "RFB 003.008\n";
    REQUIRE(p.link->send(reinterpret_cast<const std::uint8_t*>(greeting.data()), greeting.size(), n) == ClientLink::Io::ok);
    CHECK(n == greeting.size());
    CHECK(p.taken() == std::string("\x82\x0c", 2) + greeting);
    const std::string big(70000, 'y');  // more than one frame holds: taken in part
    REQUIRE(p.link->send(reinterpret_cast<const std::uint8_t*>(big.data()), big.size(), n) == ClientLink::Io::ok);
    CHECK(n == 64 * 1024);
    std::string error;
    REQUIRE(p.link->write_all("abc", now_usec() + 1'000'000, error));
    const std::string got = [&] {
        std::string all;
        for (int i = 0; i < 100 && all.size() < 10 + 64 * 1024 + 5; ++i) {
            all += p.taken();
            p.link->flush();
        }
        return all;
    }();
    REQUIRE(got.size() == 10 + 64 * 1024 + 5);
    CHECK(got.substr(0, 10) == std::string("\x82\x7f\0\0\0\0\0\x01\0\0", 10));  // 127: a 64-bit length, 65536
    CHECK(got.substr(10 + 64 * 1024) == std::string("\x82\x03" "abc", 5));
}

TEST_CASE("a ping is answered with its payload, between frames", "[ws-link]") {
    Pair p;
    p.put(client_frame(0x89, "are you there") + client_frame(0x82, "data"));
    ClientLink::Io io{};
    CHECK(p.drain(io) == "data");
    CHECK(p.taken() == std::string("\x8a\x0d", 2) + "are you there");
    // Two pings before the link is read again: only the latest is answered.
    p.put(client_frame(0x89, "one") + client_frame(0x89, "two"));
    CHECK(p.drain(io).empty());
    CHECK(p.taken() == std::string("\x8a\x03", 2) + "two");
}

TEST_CASE("a close is echoed and ends the stream after what came before", "[ws-link]") {
    Pair p;
    p.put(client_frame(0x82, "last") + client_frame(0x88, std::string("\x03\xe9", 2)));  // 1001 going away
    ClientLink::Io io{};
    CHECK(p.drain(io) == "last");
    CHECK(io == ClientLink::Io::eof);
    CHECK(p.taken() == std::string("\x88\x02\x03\xe9", 4));
    std::size_t n = 0;
    const std::uint8_t b = 'x';
    CHECK(p.link->send(&b, 1, n) == ClientLink::Io::error);  // nothing after a close
}

TEST_CASE("bad framing ends the link with the close code", "[ws-link]") {
    Pair p;
    p.put(std::string("\x82\x03" "abc", 5));  // unmasked
    ClientLink::Io io{};
    CHECK(p.drain(io).empty());
    CHECK(io == ClientLink::Io::error);
    CHECK(p.link->protocol_error() == "unmasked frame from the client");
    const std::string close = p.taken();
    REQUIRE(close.size() > 4);
    CHECK(close.substr(0, 1) == "\x88");
    CHECK(close.substr(2, 2) == std::string("\x03\xea", 2));  // 1002 protocol error
    Pair t;
    t.put(client_frame(0x81, "text"));
    CHECK(t.drain(io).empty());
    CHECK(io == ClientLink::Io::error);
    CHECK(t.taken().substr(2, 2) == std::string("\x03\xeb", 2));  // 1003 unsupported
}

TEST_CASE("frames the socket cannot take are held and flushed", "[ws-link]") {
    Pair p;
    int small = 4096;
    setsockopt(p.link->fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    const std::string chunk(16384, 'z');
    std::size_t sent = 0, n = 0;
    ClientLink::Io io{};
    for (int i = 0; i < 1000; ++i) {
        io = p.link->send(reinterpret_cast<const std::uint8_t*>(chunk.data()), chunk.size(), n);
        if (io != ClientLink::Io::ok) break;
        sent += n;
    }
    CHECK(io == ClientLink::Io::again);
    CHECK(p.link->wants_write());
    CHECK(p.link->flush() == ClientLink::Io::again);
    std::string got;
    for (int i = 0; i < 1000 && p.link->wants_write(); ++i) {
        got += p.taken();
        p.link->flush();
    }
    got += p.taken();
    CHECK_FALSE(p.link->wants_write());
    CHECK(got.size() == sent + (sent / chunk.size()) * 4);  // each frame: 4 header bytes
}

TEST_CASE("shutdown sends a normal close", "[ws-link]") {
    Pair p;
    p.link->shutdown();
    CHECK(p.taken() == std::string("\x88\x02\x03\xe8", 4));
}
