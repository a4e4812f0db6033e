// Tests for daemons/rsm-nxserver/stream_relay: the client's stream relayed
// to and from the session's socket on an sd-event loop: bytes both ways (the
// bytes sent after "bye" first), the end at an EOF, and the bound: a
// session that does not read stops the relay reading the client.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <string>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "stream_relay.hpp"
#include "util/fd.hpp"
#include "util/handles.hpp"

using rsm::UniqueFd;
using rsm::nx::StreamRelay;

namespace {

struct Pair {
    UniqueFd a, b;
    Pair() {
        int fds[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
        a.reset(fds[0]);
        b.reset(fds[1]);
    }
};

rsm::EventPtr new_event() {
    sd_event* e = nullptr;
    REQUIRE(sd_event_new(&e) >= 0);
    return rsm::EventPtr{e};
}

void spin(sd_event* e, int rounds = 50) {
    for (int i = 0; i < rounds; ++i) sd_event_run(e, 10'000);
}

std::string read_all(int fd) {
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
}

}  // namespace

TEST_CASE("nx stream relay: both ways, the early bytes first, the end at EOF", "[nxserver]") {
    auto event = new_event();
    Pair client, session;  // client.a: the relay's stdin/stdout side; session.a: the relay's peer
    std::string why;
    bool done = false;
    // stdin and stdout: two fds of one socket, as sshd may hand them over.
    UniqueFd out{fcntl(client.a.get(), F_DUPFD_CLOEXEC, 3)};
    StreamRelay relay{event.get(), client.a.get(), out.get(), session.a.get(), "early",
                      [&](std::string w) { why = std::move(w), done = true; }};
    REQUIRE(::write(client.b.get(), "-from-client", 12) == 12);
    REQUIRE(::write(session.b.get(), "from-session", 12) == 12);
    spin(event.get());
    CHECK(read_all(session.b.get()) == "early-from-client");
    CHECK(read_all(client.b.get()) == "from-session");
    CHECK_FALSE(done);
    CHECK(relay.to_session() == 12);
    CHECK(relay.to_client() == 12);
    session.b.reset();  // nxagent went
    spin(event.get());
    CHECK(done);
    CHECK(why == "the session closed its stream");
}

TEST_CASE("nx stream relay: a session that does not read stops the reading of the client", "[nxserver]") {
    auto event = new_event();
    Pair client, session;
    bool done = false;
    UniqueFd out{fcntl(client.a.get(), F_DUPFD_CLOEXEC, 3)};
    StreamRelay relay{event.get(), client.a.get(), out.get(), session.a.get(), {},
                      [&](std::string) { done = true; }};
    const std::string chunk(65536, 'x');
    std::size_t written = 0;
    for (int i = 0; i < 200; ++i) {  // up to 12.5 MiB, as long as the client side takes it
        const ssize_t n = ::write(client.b.get(), chunk.data(), chunk.size());
        if (n > 0) written += static_cast<std::size_t>(n);
        spin(event.get(), 3);
    }
    // What the relay took is its buffer plus what the session's socket holds.
    int sndbuf = 0;
    socklen_t len = sizeof sndbuf;
    getsockopt(session.a.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, &len);
    CHECK(relay.to_session() <= StreamRelay::buffer_size + 4 * static_cast<std::size_t>(sndbuf));
    CHECK(written < 200 * chunk.size());  // the client was held back
    CHECK_FALSE(done);
    // Once the session reads, everything flows.
    std::size_t got = 0;
    for (int i = 0; i < 2000 && got < written; ++i) {
        got += read_all(session.b.get()).size();
        spin(event.get(), 1);
    }
    CHECK(got == written);
}
