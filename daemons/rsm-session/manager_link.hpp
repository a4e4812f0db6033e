// The executor's end of the link to rsm-manager (fd 3), and how it survives
// the manager dying (see bus/link_resync.hpp).
//
// The socket itself (fd 3) stays ours for the executor's whole life; the
// D-Bus connection runs on a dup() of it, so it can be dropped and started
// again without closing the socket. While a session exists the link is
// "resumable": when the manager dies (its pidfd turns readable) or the D-Bus
// connection breaks with the socket still open, the connection is dropped,
// what the dead manager sent is drained, the resync marker is written, and a
// new client connection starts once a new manager has read up to the marker
// (the socket's send queue is empty). It is "attached" again when that
// manager calls Attach. systemd keeps the manager's end in its fd store, so
// the socket reaches EOF only when nobody can ever speak on it again.
//
// That happens when the manager stops for good (systemctl stop, a failure
// past the restart limit): systemd drops the fd store. A resumable link then
// re-announces the session: it connects to the executors' socket
// (/run/rsm/executor.sock, rsm-manager-executor.socket, which starts the
// manager), starts a client connection on the new socket, and waits for the
// new manager's Attach. That socket is the link from then on (the manager
// keeps it in its fd store like any other). No socket to connect to (the
// sockets are stopped or failed), a connection that closes before Attach, or
// no Attach within 60 s: the executor tries again, with a backoff up to 5 s,
// for as long as it takes. A manager outage never ends a session.
//
// on_lost says the link is gone for good: (while not resumable) EOF or any
// loss of the D-Bus connection, which is how a manager drops a login.
#pragma once

#include <functional>
#include <string>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "util/fd.hpp"
#include "util/handles.hpp"
#include "util/log.hpp"

namespace rsm::session {

class ManagerLink {
public:
    struct Callbacks {
        // A new D-Bus connection exists (at the start and after each resync):
        // register the objects on it. Called from the constructor too.
        std::function<void(sd_bus*)> on_bus;
        // The link is gone for good; `why` is for the log.
        std::function<void(const std::string& why)> on_lost;
    };

    // Takes the socket (fd 3). Throws std::system_error.
    ManagerLink(sd_event* event, UniqueFd socket, Callbacks callbacks);
    ~ManagerLink();  // closes the connection without flushing it
    ManagerLink(const ManagerLink&) = delete;
    ManagerLink& operator=(const ManagerLink&) = delete;

    // The current connection, or nullptr while waiting for a new manager.
    sd_bus* bus() const noexcept { return bus_.get(); }
    // A manager listens: the first one, or one that called Attach since the
    // last resync. Signals are only worth sending then.
    bool attached() const noexcept { return attached_ && bus_ && !lost_; }
    // A manager called Attach (ends a re-announce).
    void mark_attached();

    // From now on a lost manager is waited for instead of ending the link.
    void set_resumable(bool resumable) noexcept { resumable_ = resumable; }
    // Watches `pid` (0: nobody) as the manager; replaces an earlier watch.
    void watch_manager(pid_t pid);

    // Messages not yet written to the socket (0 without a connection).
    uint64_t queued_writes() const;
    // Added to every log entry (the session id, once there is one).
    void set_log_fields(log::Fields fields) { fields_ = std::move(fields); }

private:
    void start_bus();
    void drop_bus();
    void schedule_resync(std::string why);
    void resync();
    void wait_for_reader();
    void watch_socket();
    void lose(const std::string& why);
    bool at_eof() const;
    void closed_for_good(const std::string& why);
    void begin_announce(const std::string& why);
    void retry_announce(const std::string& why, uint64_t delay_usec);
    void arm_announce_deadline();
    uint64_t next_backoff();
    void announce();

    static int on_disconnected(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept;
    static int on_manager_exit(sd_event_source* s, int fd, uint32_t revents, void* userdata) noexcept;
    static int on_resync(sd_event_source* s, void* userdata) noexcept;
    static int on_reader_check(sd_event_source* s, uint64_t usec, void* userdata) noexcept;
    static int on_socket_event(sd_event_source* s, int fd, uint32_t revents, void* userdata) noexcept;
    static int on_announce(sd_event_source* s, uint64_t usec, void* userdata) noexcept;
    static int on_announce_deadline(sd_event_source* s, uint64_t usec, void* userdata) noexcept;

    sd_event* event_;
    UniqueFd socket_;
    Callbacks callbacks_;
    bool resumable_ = false;
    bool attached_ = true;
    bool lost_ = false;
    bool announcing_ = false;  // between EOF and the new manager's Attach
    pid_t manager_pid_ = 0;
    std::string resync_reason_;
    log::Fields fields_;
    BusPtr bus_;
    SlotPtr disconnected_slot_;
    EventSourcePtr start_processing_;  // bus::process_until_running, dropped with bus_
    UniqueFd manager_pidfd_;
    EventSourcePtr manager_watch_;
    EventSourcePtr resync_source_;
    EventSourcePtr reader_check_;
    EventSourcePtr socket_watch_;
    EventSourcePtr announce_timer_;     // the next connection attempt
    EventSourcePtr announce_deadline_;  // no Attach by then: a new connection
    uint64_t announce_backoff_usec_ = 0;  // the last delay while nobody listened; 0 = none yet
};

}  // namespace rsm::session
