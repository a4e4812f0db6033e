#include "executor_listener.hpp"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>

#include "bus/error.hpp"
#include "util/log.hpp"

namespace rsm::manager {

ExecutorListener::ExecutorListener(sd_event* event, UniqueFd listen_fd, Handler handler)
    : listen_fd_(std::move(listen_fd)), handler_(std::move(handler)) {
    sd_event_source* s = nullptr;
    bus::check(sd_event_add_io(event, &s, listen_fd_.get(), EPOLLIN, &ExecutorListener::on_listen_ready, this),
               "watching the executor socket");
    listen_source_.reset(s);
}

ExecutorListener::~ExecutorListener() { listen_source_.reset(); }

void ExecutorListener::accept_one(UniqueFd fd) {
    ucred peer{};
    socklen_t len = sizeof peer;
    if (getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0) {
        log::warning("Could not read an executor's peer credentials; closing", {{"RSM_ERROR", std::strerror(errno)}});
        return;
    }
    const log::Fields peer_fields{{"RSM_PEER_UID", std::to_string(peer.uid)},
                                  {"RSM_PEER_PID", std::to_string(peer.pid)}};
    // SocketMode=0600 keeps others out already; this holds whatever the
    // socket's mode is.
    if (peer.uid != 0) {
        log::warning("Refused a connection to the executor socket from a process not running as root", peer_fields);
        return;
    }
    log::info("An executor connected to re-announce its session", peer_fields);
    handler_(std::move(fd), peer.pid);
}

int ExecutorListener::on_listen_ready(sd_event_source*, int fd, uint32_t, void* userdata) {
    auto* self = static_cast<ExecutorListener*>(userdata);
    // A bounded batch per wakeup, like the gateway socket.
    for (int i = 0; i < 64; ++i) {
        UniqueFd conn{accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)};
        if (!conn) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return 0;
            log::error("accept() on the executor socket failed", {{"RSM_ERROR", std::strerror(errno)}});
            return 0;
        }
        try {
            self->accept_one(std::move(conn));
        } catch (const std::exception& e) {
            log::error("Could not take an executor's connection", {{"RSM_ERROR", e.what()}});
        }
    }
    return 0;
}

}  // namespace rsm::manager
