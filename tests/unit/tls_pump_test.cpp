// daemons/rsm-gateway/tls_pump: the bytes between the browser's link and
// the HTTP server's end of a socket pair (HTTPS, web_session.cpp). Here
// the browser's link is a plain ClientLink on a socket pair (the pump sees
// TLS only through ClientLink's calls): the first bytes read to tell the
// protocol reach the server first, both directions in order, at most
// pump_buffer held per direction while a side does not read, the
// browser's close passed on as EOF, the server's last answer delivered
// before the browser's side is closed, and the hand-over at an upgrade;
// and once over real TLS (GnuTLS anonymous, a client thread), where GnuTLS
// holds decrypted bytes that poll() cannot see.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <poll.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <string>
#include <sys/socket.h>
#include <thread>

#include "tls_pump.hpp"

using namespace rsm;
using namespace rsm::gateway;

namespace {

std::pair<UniqueFd, UniqueFd> socket_pair() {
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    return {UniqueFd{sv[0]}, UniqueFd{sv[1]}};
}

// browser <-> [outer link] pump [inner] <-> server
struct Setup {
    UniqueFd browser, server;
    std::unique_ptr<ClientLink> outer;
    std::unique_ptr<TlsPump> pump;
    explicit Setup(std::string_view first = {}) {
        auto [b, o] = socket_pair();
        auto [s, i] = socket_pair();
        browser = std::move(b);
        server = std::move(s);
        outer = std::make_unique<ClientLink>(std::move(o));
        pump = std::make_unique<TlsPump>(*outer, std::move(i),
                                         std::span(reinterpret_cast<const std::uint8_t*>(first.data()), first.size()));
    }
    // Steps the pump as its poll events say, until 3 rounds of 5 ms with nothing to do.
    TlsPump::State run() {
        TlsPump::State st = pump->step();
        for (int idle = 0; st == TlsPump::State::running && idle < 3;) {
            pollfd p[2] = {{outer->fd(), pump->outer_events(), 0}, {pump->inner_fd(), pump->inner_events(), 0}};
            if (::poll(p, 2, 5) == 0) {
                ++idle;
                continue;
            }
            st = pump->step();
        }
        return st;
    }
};

std::string drain(int fd, bool& eof) {
    std::string out;
    char buf[65536];
    eof = false;
    for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            out.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        eof = n == 0;
        return out;
    }
}

std::string pattern(std::size_t n) {
    std::string p(n, '\0');
    for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<char>(i * 7 + i / 251);
    return p;
}

// Sends from bytes[from..] what the socket takes now.
std::size_t send_what_fits(int fd, const std::string& bytes, std::size_t from) {
    std::size_t sent = 0;
    while (from + sent < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + from + sent, bytes.size() - from - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
    }
    return sent;
}

void put(int fd, std::string_view bytes) {
    REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
}

}  // namespace

TEST_CASE("the pump gives the server the peeked bytes first, then moves both ways", "[tls-pump]") {
    Setup s{"GET /"};
    put(s.browser.get(), " HTTP/1.1\r\n\r\n");
    s.run();
    bool eof = false;
    CHECK(drain(s.server.get(), eof) == "GET / HTTP/1.1\r\n\r\n");
    CHECK_FALSE(eof);
    put(s.server.get(), "HTTP/1.1 200 OK\r\n\r\n");
    s.run();
    CHECK(drain(s.browser.get(), eof) == "HTTP/1.1 200 OK\r\n\r\n");
    CHECK_FALSE(eof);
}

TEST_CASE("the pump moves more than it holds, in order, as the server reads", "[tls-pump]") {
    Setup s;
    const std::string big = pattern(4 * 1024 * 1024);
    std::size_t sent = 0;
    std::string got;
    for (int round = 0; got.size() < big.size() && round < 10000; ++round) {
        sent += send_what_fits(s.browser.get(), big, sent);
        s.run();
        bool eof = false;
        got += drain(s.server.get(), eof);
        REQUIRE(got.size() <= sent);
    }
    CHECK(got.size() == big.size());
    CHECK(got == big);
}

TEST_CASE("the browser's close reaches the server as EOF; the server's answer still reaches the browser",
          "[tls-pump]") {
    Setup s;
    put(s.browser.get(), "GET / HTTP/1.0\r\n\r\n");
    ::shutdown(s.browser.get(), SHUT_WR);
    CHECK(s.run() == TlsPump::State::running);
    bool eof = false;
    CHECK(drain(s.server.get(), eof) == "GET / HTTP/1.0\r\n\r\n");
    CHECK(eof);
    put(s.server.get(), "HTTP/1.0 200 OK\r\n\r\nbody");
    s.server.reset();
    CHECK(s.run() == TlsPump::State::finished);
    CHECK(drain(s.browser.get(), eof) == "HTTP/1.0 200 OK\r\n\r\nbody");
}

TEST_CASE("the server's close ends the pump once what it wrote has gone", "[tls-pump]") {
    Setup s;
    const std::string answer = pattern(1024 * 1024);  // more than the pump and the sockets hold at once
    std::size_t sent = 0;
    std::string got;
    bool eof = false;
    TlsPump::State st = TlsPump::State::running;
    for (int i = 0; i < 10000 && st == TlsPump::State::running; ++i) {
        if (s.server) {
            sent += send_what_fits(s.server.get(), answer, sent);
            if (sent == answer.size()) s.server.reset();
        }
        st = s.run();
        got += drain(s.browser.get(), eof);
    }
    CHECK(st == TlsPump::State::finished);
    got += drain(s.browser.get(), eof);
    CHECK(got == answer);
}

TEST_CASE("at an upgrade: flush_from_server sends the 101, take_unread gives what the server was not given",
          "[tls-pump]") {
    Setup s{"GET /websockify HTTP/1.1\r\n\r\n"};
    s.run();
    bool eof = false;
    CHECK(drain(s.server.get(), eof) == "GET /websockify HTTP/1.1\r\n\r\n");
    put(s.server.get(), "HTTP/1.1 101 Switching Protocols\r\n\r\n");
    std::string error;
    REQUIRE(s.pump->flush_from_server(now_usec() + 2'000'000, error));
    CHECK(drain(s.browser.get(), eof) == "HTTP/1.1 101 Switching Protocols\r\n\r\n");
    CHECK(s.pump->take_unread().empty());
    // The server stops reading: the pump fills to its bound and stops
    // reading the browser; what it holds comes back whole and in order.
    const std::string fill = pattern(4 * 1024 * 1024);
    std::size_t filled = 0;
    for (int round = 0; round < 1000; ++round) {
        const std::size_t n = send_what_fits(s.browser.get(), fill, filled);
        filled += n;
        s.run();
        if (n == 0) break;
    }
    REQUIRE(filled < fill.size());  // back-pressure reached the browser
    const std::string at_server = drain(s.server.get(), eof);
    const std::vector<std::uint8_t> held = s.pump->take_unread();
    CHECK(held.size() == pump_buffer);
    REQUIRE(at_server.size() + held.size() <= filled);
    CHECK(at_server == fill.substr(0, at_server.size()));
    CHECK(std::string(held.begin(), held.end()) == fill.substr(at_server.size(), held.size()));
}

namespace {

// A blocking GnuTLS client (anonymous, as TLSPlain) on `fd`, in a thread of
// its own: sends `request` in records of `record` bytes, then reads until
// it has `expect` bytes or the connection ends.
struct TlsClient {
    std::string got;
    bool sent = false;
    std::atomic<bool> done{false};  // got and sent may be read once it is set
    std::thread thread;
    TlsClient(int fd, const std::string& request, std::size_t record, std::size_t expect) {
        const int flags = fcntl(fd, F_GETFL);
        REQUIRE(fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0);
        thread = std::thread{[this, fd, &request, record, expect] {
            gnutls_anon_client_credentials_t cred = nullptr;
            gnutls_session_t c = nullptr;
            gnutls_anon_allocate_client_credentials(&cred);
            gnutls_init(&c, GNUTLS_CLIENT);
            gnutls_priority_set_direct(c, "NORMAL:-VERS-TLS1.3:+ANON-ECDH:+ANON-DH", nullptr);
            gnutls_credentials_set(c, GNUTLS_CRD_ANON, cred);
            gnutls_transport_set_int(c, fd);
            int r;
            do r = gnutls_handshake(c);
            while (r < 0 && !gnutls_error_is_fatal(r));
            if (r == 0) {
                std::size_t off = 0;
                while (off < request.size()) {
                    const ssize_t n = gnutls_record_send(c, request.data() + off, std::min(request.size() - off, record));
                    if (n <= 0) break;
                    off += static_cast<std::size_t>(n);
                }
                sent = off == request.size();
                char buf[16384];
                while (got.size() < expect) {
                    const ssize_t n = gnutls_record_recv(c, buf, sizeof buf);
                    if (n <= 0) break;
                    got.append(buf, static_cast<std::size_t>(n));
                }
            }
            gnutls_deinit(c);
            gnutls_anon_free_client_credentials(cred);
            done = true;
        }};
    }
};

}  // namespace

TEST_CASE("over TLS, 4 MiB reach the server in order and an answer comes back", "[tls-pump]") {
    auto [client_fd, server_fd] = socket_pair();
    const std::string request = pattern(4 * 1024 * 1024 + 5000);
    const std::string answer = pattern(1024 * 1024 + 17);
    TlsClient client{client_fd.get(), request, 16000, answer.size()};
    TlsCredentials credentials;
    REQUIRE(credentials.load("", "").empty());
    ClientLink outer{std::move(server_fd)};
    std::string error;
    REQUIRE(outer.start_tls(TlsKind::anonymous, credentials, now_usec() + 10'000'000, error));
    auto [server, inner] = socket_pair();
    TlsPump pump{outer, std::move(inner), {}};
    std::string got;
    std::size_t answered = 0;
    TlsPump::State st = pump.step();
    for (int quiet = 0; st == TlsPump::State::running && quiet < 100 && !client.done;) {
        pollfd p[2] = {{outer.fd(), pump.outer_events(), 0}, {pump.inner_fd(), pump.inner_events(), 0}};
        // As on the sd-event loop: the pump steps only when its fds say so.
        if (::poll(p, 2, 5) > 0) {
            st = pump.step();
            quiet = 0;
            continue;
        }
        ++quiet;
        // The server reads only once the pump has stalled, and then all
        // there is: the pump's buffer fills while GnuTLS holds the rest of
        // a record, then empties at once.
        bool eof = false;
        const std::string more = drain(server.get(), eof);
        got += more;
        if (got.size() == request.size() && answered < answer.size())
            answered += send_what_fits(server.get(), answer, answered);
        if (!more.empty()) quiet = 0;
    }
    ::shutdown(outer.fd(), SHUT_RDWR);  // the client thread ends, whatever happened
    client.thread.join();
    CHECK(got.size() == request.size());
    CHECK(got == request);
    CHECK(client.sent);
    CHECK(client.got == answer);
}

TEST_CASE("over TLS, decrypted bytes GnuTLS holds reach the server once it reads again", "[tls-pump]") {
    auto [client_fd, server_fd] = socket_pair();
    // Records of 16000 bytes: the pump's 64 KiB take four and 1536 bytes of
    // the fifth, whose other 10000 bytes GnuTLS holds, with nothing left on
    // the socket to wake the loop for them.
    const std::string request = pattern(4 * 16000 + 1536 + 10000);
    TlsClient client{client_fd.get(), request, 16000, 2};
    TlsCredentials credentials;
    REQUIRE(credentials.load("", "").empty());
    ClientLink outer{std::move(server_fd)};
    std::string error;
    REQUIRE(outer.start_tls(TlsKind::anonymous, credentials, now_usec() + 10'000'000, error));
    auto [server, inner] = socket_pair();
    // The server's side is full before the pump starts: it reads nothing yet.
    const std::string junk(4096, 'j');
    std::size_t junk_n = 0;
    for (ssize_t n; (n = ::send(inner.get(), junk.data(), junk.size(), MSG_DONTWAIT)) > 0;) junk_n += static_cast<std::size_t>(n);
    TlsPump pump{outer, std::move(inner), {}};
    const auto loop = [&](int rounds) {  // as the sd-event loop: step only on the fds' events
        for (int quiet = 0; quiet < rounds;) {
            pollfd p[2] = {{outer.fd(), pump.outer_events(), 0}, {pump.inner_fd(), pump.inner_events(), 0}};
            if (::poll(p, 2, 10) > 0) {
                REQUIRE(pump.step() == TlsPump::State::running);
                quiet = 0;
            } else {
                ++quiet;
            }
        }
    };
    pump.step();
    loop(20);  // the pump fills up and stalls on the full server side
    std::string got;
    for (int i = 0; i < 50 && got.size() < junk_n + request.size(); ++i) {
        bool eof = false;
        got += drain(server.get(), eof);  // the server reads all there is at once
        loop(3);
    }
    REQUIRE(got.size() >= junk_n);
    CHECK(got.size() - junk_n == request.size());
    CHECK(got.substr(junk_n) == request);
    put(server.get(), "ok");
    loop(3);
    ::shutdown(outer.fd(), SHUT_RDWR);
    client.thread.join();
    CHECK(client.got == "ok");
}
