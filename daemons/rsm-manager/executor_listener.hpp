// The listening side of /run/rsm/executor.sock (rsm-manager-executor.socket):
// where executors re-announce their sessions after systemd dropped the
// manager's fd store (systemctl stop, a failure past the restart limit), so
// that their old links reached EOF. Only root may announce (executors run as
// root): any other peer is closed at once. Each accepted connection goes to
// the handler with the peer's pid; the registry takes it from there
// (SessionRegistry::adopt_announced).
#pragma once

#include <functional>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "util/fd.hpp"
#include "util/handles.hpp"

namespace rsm::manager {

class ExecutorListener {
public:
    using Handler = std::function<void(UniqueFd connection, pid_t peer_pid)>;

    // `listen_fd`: a listening, non-blocking UNIX stream socket. Throws
    // std::system_error.
    ExecutorListener(sd_event* event, UniqueFd listen_fd, Handler handler);
    ~ExecutorListener();
    ExecutorListener(const ExecutorListener&) = delete;
    ExecutorListener& operator=(const ExecutorListener&) = delete;

private:
    static int on_listen_ready(sd_event_source* s, int fd, uint32_t revents, void* userdata);
    void accept_one(UniqueFd fd);

    UniqueFd listen_fd_;
    Handler handler_;
    EventSourcePtr listen_source_;
};

}  // namespace rsm::manager
