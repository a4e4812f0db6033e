// src/http/http_server: one accepted connection served alone
// (Server::add_connection, as rsm-gateway does): a file body by fd, HEAD
// without the body, GET/HEAD-only methods, the close notification, and a
// 101 upgrade that hands the socket and the bytes read past the request
// over, and Limits::keep_alive_idle_ms closing a connection idle after an
// answer.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "http/http_server.hpp"

using namespace rsm;

namespace {

struct Connected {
    UniqueFd client, server;
    sockaddr_in address{};
};

Connected connect_loopback() {
    UniqueFd l{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(l.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(l.get(), 1) == 0);
    socklen_t len = sizeof a;
    getsockname(l.get(), reinterpret_cast<sockaddr*>(&a), &len);
    Connected c;
    c.client.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(::connect(c.client.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    len = sizeof c.address;
    c.server.reset(::accept4(l.get(), reinterpret_cast<sockaddr*>(&c.address), &len, SOCK_CLOEXEC));
    REQUIRE(c.server);
    timeval tv{10, 0};
    setsockopt(c.client.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return c;
}

// Reads from `fd` until `until` appears (or the peer closes).
std::string read_until(int fd, std::string_view until) {
    std::string got;
    char buf[4096];
    while (got.find(until) == std::string::npos) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
}

struct Loop {
    EventPtr event;
    Loop() {
        sd_event* e = nullptr;
        REQUIRE(sd_event_new(&e) >= 0);
        event.reset(e);
    }
    template <class Done>
    void run_until(Done done) {
        for (int i = 0; i < 1000 && !done(); ++i) sd_event_run(event.get(), 10'000);
    }
};

}  // namespace

TEST_CASE("an added connection: files, HEAD, methods, the close", "[http][connection]") {
    Loop loop;
    char path[] = "/tmp/rsm-http-file-XXXXXX";
    const int tmp = mkstemp(path);
    REQUIRE(tmp >= 0);
    REQUIRE(::write(tmp, "<html>file</html>", 17) == 17);
    ::close(tmp);
    bool closed = false;
    http::Server server{loop.event.get(),
                        [&](http::Request r, http::Responder out) {
                            http::Response resp;
                            resp.content_type = "text/html";
                            auto body = std::make_shared<http::FileBody>();
                            body->fd.reset(::open(path, O_RDONLY | O_CLOEXEC));
                            body->size = 17;
                            resp.file = body;
                            resp.headers.emplace_back("X-Seen-Host", r.header("host") ? *r.header("host") : "-");
                            out.send(std::move(resp));
                        },
                        http::Limits{}, http::Methods::get_head};
    server.on_connection_closed([&] { closed = true; });
    Connected c = connect_loopback();
    server.add_connection(std::move(c.server), reinterpret_cast<sockaddr*>(&c.address), sizeof c.address);
    std::string got;
    std::thread client([&] {
        const std::string req = "GET /x HTTP/1.1\r\nHost: h:1\r\n\r\n"
                                "HEAD /x HTTP/1.1\r\nHost: h:1\r\n\r\n"
                                "POST /x HTTP/1.1\r\nHost: h:1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        (void)::send(c.client.get(), req.data(), req.size(), MSG_NOSIGNAL);
        got = read_until(c.client.get(), "\r\n\r\nonly GET and HEAD are served here\n");
        c.client.reset();
    });
    loop.run_until([&] { return closed; });
    client.join();
    ::unlink(path);
    CHECK(closed);
    // GET: the file; HEAD: its length, no body; POST: 405.
    const auto first = got.find("HTTP/1.1 200");
    REQUIRE(first != std::string::npos);
    CHECK(got.find("<html>file</html>HTTP/1.1 200") != std::string::npos);
    CHECK(got.find("X-Seen-Host: h:1") != std::string::npos);
    const auto head = got.find("HTTP/1.1 200", first + 1);
    REQUIRE(head != std::string::npos);
    const auto after_head = got.find("\r\n\r\n", head) + 4;
    CHECK(got.substr(head, after_head - head).find("Content-Length: 17") != std::string::npos);
    CHECK(got.compare(after_head, 12, "HTTP/1.1 405") == 0);
    CHECK(got.find("Allow: GET, HEAD") != std::string::npos);
}

TEST_CASE("an added connection upgraded: the socket and the early bytes", "[http][connection]") {
    Loop loop;
    std::optional<http::Upgraded> upgraded;
    http::Server server{loop.event.get(),
                        [&](http::Request, http::Responder out) {
                            http::Response r = http::Response::empty(101);
                            r.headers.emplace_back("Upgrade", "test");
                            r.upgrade = [&](http::Upgraded u) { upgraded.emplace(std::move(u)); };
                            out.send(std::move(r));
                        },
                        http::Limits{}, http::Methods::get_head};
    Connected c = connect_loopback();
    const std::string req = "GET /up HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\nearly";
    REQUIRE(::send(c.client.get(), req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
    server.add_connection(std::move(c.server), reinterpret_cast<sockaddr*>(&c.address), sizeof c.address);
    loop.run_until([&] { return upgraded.has_value(); });
    REQUIRE(upgraded);
    const std::string head = read_until(c.client.get(), "\r\n\r\n");
    CHECK(head.rfind("HTTP/1.1 101", 0) == 0);
    CHECK(head.find("Upgrade: test") != std::string::npos);
    // The early bytes: handed over, or still in the socket.
    std::string early = upgraded->extra_in();
    char buf[16];
    while (early.size() < 5) {
        const ssize_t n = ::recv(upgraded->fd(), buf, sizeof buf, 0);
        if (n <= 0) break;
        early.append(buf, static_cast<std::size_t>(n));
    }
    CHECK(early == "early");
    REQUIRE(::send(upgraded->fd(), "late", 4, MSG_NOSIGNAL) == 4);
    CHECK(read_until(c.client.get(), "late") == "late");
    upgraded->close();
    server.run_all();
    CHECK(read_until(c.client.get(), "never").empty());  // closed
}

TEST_CASE("an added connection idle after an answer is closed", "[http][connection]") {
    Loop loop;
    bool closed = false;
    http::Limits limits;
    limits.keep_alive_idle_ms = 200;  // MHD's own idle timeout stays 30 s
    http::Server server{loop.event.get(),
                        [&](http::Request r, http::Responder out) { out.send(http::Response::text(200, r.path + "\n")); },
                        limits, http::Methods::get_head};
    server.on_connection_closed([&] { closed = true; });
    Connected c = connect_loopback();
    server.add_connection(std::move(c.server), reinterpret_cast<sockaddr*>(&c.address), sizeof c.address);
    std::string first, second, rest;
    std::thread client([&] {
        // Kept alive: a second request right after the first answer is served.
        const std::string a = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n", b = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
        (void)::send(c.client.get(), a.data(), a.size(), MSG_NOSIGNAL);
        first = read_until(c.client.get(), "/a\n");
        (void)::send(c.client.get(), b.data(), b.size(), MSG_NOSIGNAL);
        second = read_until(c.client.get(), "/b\n");
        // Then nothing: the server closes (recv's timeout is 10 s).
        rest = read_until(c.client.get(), "never");
    });
    const auto started = std::chrono::steady_clock::now();
    loop.run_until([&] { return closed; });
    const auto took = std::chrono::steady_clock::now() - started;
    client.join();
    CHECK(first.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(second.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(rest.empty());
    CHECK(closed);
    CHECK(took < std::chrono::seconds(5));
}
