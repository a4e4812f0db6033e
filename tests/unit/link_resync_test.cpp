// Tests for src/bus/link_resync: draining, the marker, and skipping to it on
// a real socketpair (as the executor link is).
#include <catch2/catch.hpp>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "bus/link_resync.hpp"
#include "util/fd.hpp"

using namespace std::chrono_literals;
using rsm::UniqueFd;
using rsm::bus::link_resync_marker;

namespace {

struct Pair {
    UniqueFd a, b;
};

Pair socket_pair() {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    return {UniqueFd{sv[0]}, UniqueFd{sv[1]}};
}

void write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        REQUIRE(n > 0);
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

// Everything readable right now (non-blocking).
std::string read_available(int fd) {
    std::string out;
    std::array<char, 4096> buf{};
    for (;;) {
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n <= 0) break;
        out.append(buf.data(), static_cast<std::size_t>(n));
    }
    return out;
}

// Sends `data` with one fd (a pipe end) attached, as a D-Bus message with a
// Unix fd would be.
void send_with_fd(int sock, std::string_view data, int passed) {
    iovec iov{const_cast<char*>(data.data()), data.size()};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &passed, sizeof(int));
    REQUIRE(::sendmsg(sock, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(data.size()));
}

const std::string marker{link_resync_marker};

}  // namespace

TEST_CASE("link_resync: the marker cannot start a D-Bus message", "[link_resync]") {
    REQUIRE(marker.size() >= 16);
    CHECK(marker[0] != 'l');
    CHECK(marker[0] != 'B');
}

TEST_CASE("link_resync: skip consumes exactly up to the marker", "[link_resync]") {
    auto [a, b] = socket_pair();
    write_all(a.get(), "l\x01\x00\x01stale bytes of a message nobody read");
    write_all(a.get(), marker);
    write_all(a.get(), "BEGIN-after");
    CHECK(rsm::bus::skip_to_resync_marker(b.get(), 1s) == 0);
    CHECK(read_available(b.get()) == "BEGIN-after");
}

TEST_CASE("link_resync: skip with nothing before the marker", "[link_resync]") {
    auto [a, b] = socket_pair();
    write_all(a.get(), marker + "x");
    CHECK(rsm::bus::skip_to_resync_marker(b.get(), 1s) == 0);
    CHECK(read_available(b.get()) == "x");
}

TEST_CASE("link_resync: false starts of the marker are skipped", "[link_resync]") {
    auto [a, b] = socket_pair();
    // Prefixes of the marker, including one that runs into the real marker.
    const std::string almost = marker.substr(0, marker.size() - 1);
    write_all(a.get(), almost + "junk" + marker.substr(0, 5) + marker.substr(0, 2) + marker + "tail");
    CHECK(rsm::bus::skip_to_resync_marker(b.get(), 1s) == 0);
    CHECK(read_available(b.get()) == "tail");
}

TEST_CASE("link_resync: a marker split across writes is found", "[link_resync]") {
    auto [a, b] = socket_pair();
    write_all(a.get(), "stale" + marker.substr(0, 7));
    std::thread writer([fd = a.get()] {
        std::this_thread::sleep_for(50ms);
        for (std::size_t i = 7; i < marker.size(); ++i) {
            write_all(fd, std::string_view(&marker[i], 1));
            std::this_thread::sleep_for(1ms);
        }
        write_all(fd, "after");
    });
    const int r = rsm::bus::skip_to_resync_marker(b.get(), 5s);
    writer.join();
    CHECK(r == 0);
    CHECK(read_available(b.get()) == "after");
}

TEST_CASE("link_resync: stale data larger than one read", "[link_resync]") {
    auto [a, b] = socket_pair();
    const std::string stale(300 * 1024, 'l');
    std::thread writer([fd = a.get(), &stale] {
        write_all(fd, stale);
        write_all(fd, marker + "after");
    });
    const int r = rsm::bus::skip_to_resync_marker(b.get(), 10s);
    writer.join();
    CHECK(r == 0);
    CHECK(read_available(b.get()) == "after");
}

TEST_CASE("link_resync: skip times out without a marker", "[link_resync]") {
    auto [a, b] = socket_pair();
    write_all(a.get(), "stale" + marker.substr(0, 10));
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(rsm::bus::skip_to_resync_marker(b.get(), 100ms) == -ETIMEDOUT);
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(took >= 90ms);
    CHECK(took < 2s);
    // What the timed-out call consumed is gone; a new call needs a whole marker.
    write_all(a.get(), marker.substr(10) + "more");
    write_all(a.get(), marker + "after");
    CHECK(rsm::bus::skip_to_resync_marker(b.get(), 1s) == 0);
    CHECK(read_available(b.get()) == "after");
}

TEST_CASE("link_resync: skip reports EOF as ECONNRESET", "[link_resync]") {
    auto [a, b] = socket_pair();
    write_all(a.get(), "stale bytes");
    a.reset();
    CHECK(rsm::bus::skip_to_resync_marker(b.get(), 1s) == -ECONNRESET);
}

TEST_CASE("link_resync: drain drops what is buffered and keeps the fd's flags", "[link_resync]") {
    auto [a, b] = socket_pair();
    const int flags = ::fcntl(b.get(), F_GETFL);
    REQUIRE((flags & O_NONBLOCK) == 0);
    CHECK(rsm::bus::drain_socket(b.get()) == 0);
    write_all(a.get(), "0123456789");
    write_all(a.get(), std::string(100'000, 'x'));
    CHECK(rsm::bus::drain_socket(b.get()) == 100'010);
    CHECK(::fcntl(b.get(), F_GETFL) == flags);
    CHECK(read_available(b.get()).empty());
    a.reset();
    CHECK(rsm::bus::drain_socket(b.get()) == -ECONNRESET);
}

TEST_CASE("link_resync: fds passed with skipped bytes are closed", "[link_resync]") {
    auto [a, b] = socket_pair();
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    UniqueFd r{p[0]}, w{p[1]};
    const int before = rsm::count_open_fds();
    send_with_fd(a.get(), "message with an fd", r.get());
    send_with_fd(a.get(), "another", r.get());
    write_all(a.get(), marker + "after");
    r.reset();
    CHECK(rsm::bus::skip_to_resync_marker(b.get(), 1s) == 0);
    CHECK(read_available(b.get()) == "after");
    CHECK(rsm::count_open_fds() == before - 1);  // only the closed read end is gone
    // No copy of the read end is left anywhere: the pipe has no reader.
    pollfd pw{w.get(), POLLOUT, 0};
    REQUIRE(::poll(&pw, 1, 0) == 1);
    CHECK((pw.revents & POLLERR) != 0);

    send_with_fd(a.get(), "drained with an fd", w.get());
    w.reset();
    const int before_drain = rsm::count_open_fds();
    CHECK(rsm::bus::drain_socket(b.get()) == 18);
    CHECK(rsm::count_open_fds() == before_drain);
}

TEST_CASE("link_resync: write_resync_marker", "[link_resync]") {
    SECTION("writes the whole marker") {
        auto [a, b] = socket_pair();
        CHECK(rsm::bus::write_resync_marker(a.get(), 1s) == 0);
        CHECK(read_available(b.get()) == marker);
    }
    SECTION("a closed peer gives EPIPE") {
        auto [a, b] = socket_pair();
        b.reset();
        CHECK(rsm::bus::write_resync_marker(a.get(), 1s) == -EPIPE);
    }
    SECTION("a full socket times out") {
        auto [a, b] = socket_pair();
        const int sndbuf = 4096;
        REQUIRE(::setsockopt(a.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) == 0);
        std::string filler(4096, 'f');
        while (::send(a.get(), filler.data(), filler.size(), MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
        }
        REQUIRE(errno == EAGAIN);
        CHECK(rsm::bus::write_resync_marker(a.get(), 100ms) == -ETIMEDOUT);
    }
}

// --- the incremental reader the manager uses from its event loop

TEST_CASE("link_resync: ResyncReader never blocks and keeps its place", "[link_resync]") {
    auto [a, b] = socket_pair();
    rsm::bus::ResyncReader reader;
    // Nothing there yet: 0 at once, even on a blocking socket.
    REQUIRE((::fcntl(b.get(), F_GETFL) & O_NONBLOCK) == 0);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(reader.feed(b.get()) == 0);
    CHECK(std::chrono::steady_clock::now() - t0 < 500ms);
    // The marker in pieces, one feed each: the state survives between calls.
    write_all(a.get(), "stale" + marker.substr(0, 3));
    CHECK(reader.feed(b.get()) == 0);
    write_all(a.get(), marker.substr(3, 10));
    CHECK(reader.feed(b.get()) == 0);
    CHECK_FALSE(reader.done());
    write_all(a.get(), marker.substr(13) + "BEGIN");
    CHECK(reader.feed(b.get()) == 1);
    CHECK(reader.done());
    CHECK(reader.consumed() == 5 + marker.size());
    // Done: nothing more is read, the new connection's bytes stay.
    CHECK(reader.feed(b.get()) == 1);
    CHECK(read_available(b.get()) == "BEGIN");
}

TEST_CASE("link_resync: ResyncReader reads at most its budget per call", "[link_resync]") {
    auto [a, b] = socket_pair();
    const std::string stale(100'000, 'l');
    std::thread writer([fd = a.get(), &stale] { write_all(fd, stale + marker + "after"); });
    rsm::bus::ResyncReader reader;
    int r = 0, calls = 0;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while ((r = reader.feed(b.get(), 4096)) == 0 && std::chrono::steady_clock::now() < deadline) {
        ++calls;
        CHECK(reader.consumed() <= static_cast<std::size_t>(calls) * 4096);
        pollfd p{b.get(), POLLIN, 0};
        ::poll(&p, 1, 100);
    }
    writer.join();
    CHECK(r == 1);
    CHECK(calls >= 100'000 / 4096);
    CHECK(read_available(b.get()) == "after");
}

TEST_CASE("link_resync: ResyncReader reports EOF before the marker", "[link_resync]") {
    auto [a, b] = socket_pair();
    write_all(a.get(), "stale" + marker.substr(0, 4));
    rsm::bus::ResyncReader reader;
    CHECK(reader.feed(b.get()) == 0);
    a.reset();
    CHECK(reader.feed(b.get()) == -ECONNRESET);
    CHECK_FALSE(reader.done());
}

TEST_CASE("link_resync: a fresh handshake at the start counts as resynchronised", "[link_resync]") {
    const std::string auth = std::string("\0AUTH EXTERNAL 30\r\n", 19) + "NEGOTIATE_UNIX_FD\r\nBEGIN\r\n";
    SECTION("whole: nothing is consumed") {
        auto [a, b] = socket_pair();
        write_all(a.get(), auth);
        rsm::bus::ResyncReader reader;
        CHECK(reader.feed(b.get()) == 1);
        CHECK(reader.consumed() == 0);
        CHECK(read_available(b.get()) == auth);
    }
    SECTION("only a whole line counts (sd-bus writes it in one piece)") {
        auto [a, b] = socket_pair();
        write_all(a.get(), auth.substr(0, 9));
        rsm::bus::ResyncReader reader;
        CHECK(reader.feed(b.get()) == 0);  // stale: consumed
        write_all(a.get(), auth.substr(9) + marker + "after");
        CHECK(reader.feed(b.get()) == 1);
        CHECK(read_available(b.get()) == "after");
    }
    SECTION("after stale bytes only the marker counts") {
        auto [a, b] = socket_pair();
        write_all(a.get(), "stale" + auth);
        rsm::bus::ResyncReader reader;
        CHECK(reader.feed(b.get()) == 0);
        write_all(a.get(), marker + "after");
        CHECK(reader.feed(b.get()) == 1);
        CHECK(read_available(b.get()) == "after");
    }
    SECTION("something else that starts with NUL is stale") {
        auto [a, b] = socket_pair();
        write_all(a.get(), std::string("\0AUTH EXTERNAL \r\n", 17) + marker + "x");
        rsm::bus::ResyncReader reader;
        CHECK(reader.feed(b.get()) == 1);
        CHECK(read_available(b.get()) == "x");
    }
}
