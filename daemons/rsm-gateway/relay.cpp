#include "relay.hpp"

#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <vector>

#include "activity_report.hpp"
#include "util/log.hpp"

namespace rsm::gateway {

namespace {

// A byte queue that consumes from the front without moving bytes each time.
struct Queue {
    std::vector<std::uint8_t> bytes;
    std::size_t head = 0;
    std::size_t size() const { return bytes.size() - head; }
    bool empty() const { return size() == 0; }
    const std::uint8_t* data() const { return bytes.data() + head; }
    void drop(std::size_t n) {
        head += n;
        if (head == bytes.size()) {
            bytes.clear();
            head = 0;
        } else if (head >= relay_buffer) {  // keep the memory bounded too
            bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(head));
            head = 0;
        }
    }
    // Appends by reading into spare room; never beyond the bound.
    std::size_t room() const { return size() >= relay_buffer ? 0 : relay_buffer - size(); }
};

}  // namespace

std::string relay(ClientLink& viewer, int display, int control, InputFilter is_input) {
    // A desktop's updates go out as they come: no Nagle, no cork. HTTP's
    // server may leave an upgraded socket corked, or without NODELAY (the
    // socket unit's NoDelay= is on the accepted socket from the start):
    // bench/run-web relayed a third of websockify's bytes per second at a
    // tenth of its CPU until this was set here. Fails harmlessly on a
    // socket that is not TCP.
    const int on = 1, off = 0;
    (void)::setsockopt(viewer.fd(), IPPROTO_TCP, TCP_CORK, &off, sizeof off);
    (void)::setsockopt(viewer.fd(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    Queue to_display, to_viewer;
    std::uint8_t buf[16384];
    ActivityReporter activity{control};
    if (!activity.error().empty())
        log::notice("the viewer's activity is not reported to rsm", {{"RSM_ERROR", activity.error()}});
    const bool reporting = activity.fd() >= 0;
    const auto control_closed = [&activity] {
        const std::string& why = activity.reason();
        return "rsm closed the session's control channel" +
               (why.empty() ? std::string(" (taken over, idle, or the session ends)") : " (" + why + ")");
    };
    for (;;) {
        // The viewer's side, then the display's, then the control channel.
        pollfd p[3]{};
        p[0].fd = viewer.fd();
        if (to_display.room() > 0) p[0].events |= POLLIN;
        if (!to_viewer.empty() || viewer.wants_write()) p[0].events |= POLLOUT;
        p[1].fd = display;
        if (to_viewer.room() > 0) p[1].events |= POLLIN;
        if (!to_display.empty()) p[1].events |= POLLOUT;
        p[2].fd = reporting ? activity.fd() : control;
        p[2].events = reporting ? activity.events() : POLLIN;
        // TLS may hold decrypted bytes that poll() does not see.
        const bool pending = viewer.pending() && to_display.room() > 0;
        const int r = ::poll(p, 3, pending ? 0 : -1);
        if (r < 0) {
            if (errno == EINTR) continue;
            return std::string("poll: ") + std::strerror(errno);
        }
        // rsm writes on the control channel only to say the session is
        // being taken away (DisconnectRequested, SessionEnding) and then
        // closes it; nothing on it needs an answer from here.
        if (reporting && p[2].revents && !activity.process()) return control_closed();
        if (!reporting && p[2].revents) {
            const ssize_t n = ::recv(control, buf, sizeof buf, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return control_closed();
        }
        if (pending || (p[0].revents & (POLLIN | POLLHUP | POLLERR)) || (p[0].revents & POLLOUT && viewer.tls())) {
            while (to_display.room() > 0) {
                std::size_t n = 0;
                const auto io = viewer.recv(buf, std::min(sizeof buf, to_display.room()), n);
                if (io == ClientLink::Io::again) break;
                if (io == ClientLink::Io::eof) return "the viewer closed the connection";
                if (io == ClientLink::Io::error) {
                    const std::string why = viewer.protocol_error();
                    return why.empty() ? "the viewer's connection failed" : "the viewer's WebSocket framing: " + why;
                }
                to_display.bytes.insert(to_display.bytes.end(), buf, buf + n);
                if (reporting && n > 0 && (!is_input || is_input(std::span(buf, n)))) activity.input(now_usec());
                if (!viewer.pending()) break;
            }
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            const ssize_t n = ::recv(display, buf, std::min(sizeof buf, to_viewer.room()), MSG_DONTWAIT);
            // rsm cuts the display connection as it closes the channel: its
            // signal, when it came first, says why.
            if (n == 0 && reporting) (void)activity.process();
            if (n == 0) return activity.reason().empty() ? "the session's display server closed the connection"
                                                         : control_closed();
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                return std::string("the display connection failed: ") + std::strerror(errno);
            if (n > 0) to_viewer.bytes.insert(to_viewer.bytes.end(), buf, buf + n);
        }
        // Send what is queued, as far as each side takes it now.
        while (!to_display.empty()) {
            const ssize_t n = ::send(display, to_display.data(), to_display.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) break;
                return std::string("the display connection failed: ") + std::strerror(errno);
            }
            to_display.drop(static_cast<std::size_t>(n));
        }
        // What the link holds first (WebSocket frames, a pong): send() takes
        // nothing more until it has gone.
        if (viewer.flush() == ClientLink::Io::error) return "the viewer's connection failed";
        while (!to_viewer.empty()) {
            std::size_t n = 0;
            const auto io = viewer.send(to_viewer.data(), to_viewer.size(), n);
            if (io == ClientLink::Io::again) break;
            if (io != ClientLink::Io::ok) return "the viewer's connection failed";
            to_viewer.drop(n);
        }
    }
}

}  // namespace rsm::gateway
