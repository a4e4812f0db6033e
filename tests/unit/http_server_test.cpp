// src/http/http_server: libmicrohttpd on an sd-event loop, driven for real
// on a loopback socket (a client thread speaks HTTP/1.1, the test thread
// runs the loop): answers given at once and later (a suspended connection
// resumed from a timer: MHD 0.9.75 does not wake its epoll fd for that, the
// server must), form fields, and the limits.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <atomic>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "http/http_server.hpp"

using namespace rsm;

namespace {

UniqueFd listen_loopback(std::uint16_t& port) {
    UniqueFd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd.get(), 16) == 0);
    socklen_t len = sizeof a;
    getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    return fd;
}

// One request on a fresh connection; the whole reply (the server closes).
std::string exchange(std::uint16_t port, const std::string& request) {
    UniqueFd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return "connect failed";
    timeval tv{10, 0};
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL);
    std::string reply;
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::recv(fd.get(), buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<std::size_t>(n));
    return reply;
}

std::string post(const std::string& path, const std::string& body, const std::string& type) {
    std::string r = "POST " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
    if (!type.empty()) r += "Content-Type: " + type + "\r\n";
    return r + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct Fixture {
    EventPtr event;
    std::uint16_t port = 0;
    std::unique_ptr<http::Server> server;
    EventSourcePtr later;

    explicit Fixture(http::Server::Handler h, http::Limits limits = {}) {
        sd_event* e = nullptr;
        REQUIRE(sd_event_new(&e) >= 0);
        event.reset(e);
        server = std::make_unique<http::Server>(e, std::move(h), limits);
        server->add_listener(listen_loopback(port));
    }

    // Runs the loop until the client thread has its reply.
    std::string run(const std::string& request) {
        std::atomic<bool> done{false};
        std::string reply;
        std::thread client([&] {
            reply = exchange(port, request);
            done = true;
        });
        for (int i = 0; i < 1000 && !done; ++i) sd_event_run(event.get(), 10'000);
        client.join();
        return reply;
    }
};

}  // namespace

TEST_CASE("an answer given at once, with the form decoded", "[http][server]") {
    http::Request seen;
    Fixture f{[&](http::Request r, http::Responder s) {
        seen = r;
        s.send(http::Response::text(200, "hello " + r.form["user"]));
    }};
    const auto reply = f.run(post("/plain/x/", "task=listsessions&user=al+ice&authid=", "application/x-www-form-urlencoded"));
    CHECK(reply.starts_with("HTTP/1.1 200"));
    CHECK(reply.ends_with("\r\n\r\nhello al ice"));
    CHECK(seen.path == "/plain/x/");
    CHECK(seen.client_address == "127.0.0.1");
    CHECK(seen.form.at("task") == "listsessions");
    CHECK(seen.form.at("authid").empty());
}

TEST_CASE("an answer given later resumes the connection", "[http][server]") {
    http::Responder parked;
    Fixture* fx = nullptr;
    Fixture f{[&](http::Request, http::Responder s) {
        parked = std::move(s);
        sd_event_source* t = nullptr;
        std::uint64_t now = 0;
        sd_event_now(fx->event.get(), CLOCK_MONOTONIC, &now);
        sd_event_add_time(fx->event.get(), &t, CLOCK_MONOTONIC, now + 50'000, 0,
                          [](sd_event_source*, std::uint64_t, void* p) {
                              static_cast<http::Responder*>(p)->send(http::Response::text(200, "later"));
                              return 0;
                          },
                          &parked);
        fx->later.reset(t);
    }};
    fx = &f;
    const auto reply = f.run(post("/", "a=1", "application/x-www-form-urlencoded"));
    CHECK(reply.starts_with("HTTP/1.1 200"));
    CHECK(reply.ends_with("later"));
}

TEST_CASE("limits and methods", "[http][server]") {
    http::Limits limits;
    limits.max_body = 100;
    int calls = 0;
    Fixture f{[&](http::Request r, http::Responder s) {
        ++calls;
        s.send(http::Response::text(200, std::to_string(r.form.size())));
    }, limits};
    CHECK(f.run(post("/", std::string(200, 'a'), "application/x-www-form-urlencoded")).starts_with("HTTP/1.1 413"));
    CHECK(f.run("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").starts_with("HTTP/1.1 405"));
    CHECK(f.run(post("/", "a=1&a=2", "application/x-www-form-urlencoded")).starts_with("HTTP/1.1 400"));
    // No Content-Type (x2goclient bug 138): still a form.
    CHECK(f.run(post("/", "a=1&b=2", "")).ends_with("\r\n\r\n2"));
    // Another type: the body is the handler's, no fields.
    CHECK(f.run(post("/", "{}", "application/json")).ends_with("\r\n\r\n0"));
    CHECK(calls == 2);
    // Dropped unanswered: 500, never a hanging client.
    Fixture g{[](http::Request, http::Responder) {}};
    CHECK(g.run(post("/", "", "")).starts_with("HTTP/1.1 500"));
}
