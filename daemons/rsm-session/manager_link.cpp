#include "manager_link.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "bus/connection.hpp"
#include "bus/error.hpp"
#include "bus/link_resync.hpp"
#include "rsm-build-config.h"

namespace rsm::session {
namespace {

// How long writing the 40-byte marker may block the loop: it only waits when
// the dead manager left the socket's buffer full.
constexpr std::chrono::milliseconds marker_timeout{2000};
// How often we look whether a new manager has read up to the marker.
constexpr uint64_t reader_poll_usec = 200 * 1000;
// Where executors re-announce their sessions (rsm-manager-executor.socket).
constexpr const char* announce_path = RSM_RUNTIME_DIR "/executor.sock";
// How long one re-announce connection may wait for the Attach: the socket
// starts the manager, which attaches within its start-up. Past this the
// connection is dropped and a new one is tried (the session stays).
constexpr uint64_t announce_timeout_usec = 60ULL * 1000 * 1000;
// Before trying again: a connection that closed before Attach, a full backlog.
constexpr uint64_t announce_retry_usec = 500 * 1000;
// Nobody listens (the sockets are stopped or failed, an upgrade is under
// way): try again after this, doubling up to the maximum, for as long as it
// takes. A session ends only when its user, an admin or its own limits end
// it, never because the manager was away.
constexpr uint64_t announce_backoff_first_usec = 250 * 1000;
constexpr uint64_t announce_backoff_max_usec = 5ULL * 1000 * 1000;

std::string errno_text(int negative_errno) { return std::strerror(-negative_errno); }

}  // namespace

ManagerLink::ManagerLink(sd_event* event, UniqueFd socket, Callbacks callbacks)
    : event_{event}, socket_{std::move(socket)}, callbacks_{std::move(callbacks)} {
    start_bus();
}

ManagerLink::~ManagerLink() { drop_bus(); }

void ManagerLink::start_bus() {
    // The connection owns a duplicate; socket_ keeps the socket open when it goes.
    const int fd = fcntl(socket_.get(), F_DUPFD_CLOEXEC, 3);
    if (fd < 0) bus::check(-errno, "dup(link)");
    bus_ = bus::make_client(UniqueFd{fd}, event_);
    sd_bus_set_description(bus_.get(), "manager");
    sd_bus_slot* slot = nullptr;
    bus::check(sd_bus_match_signal(bus_.get(), &slot, nullptr, nullptr, "org.freedesktop.DBus.Local", "Disconnected",
                                   &ManagerLink::on_disconnected, this),
               "sd_bus_match_signal(Disconnected)");
    disconnected_slot_.reset(slot);
    // sd-bus 252 also stalls on the client side: the manager's first call
    // can arrive in the same read as its "OK" and would wait for an
    // unrelated event (seen with Attach after a resync, and Login).
    start_processing_ = bus::process_until_running(bus_.get(), event_);
    callbacks_.on_bus(bus_.get());
}

void ManagerLink::drop_bus() {
    start_processing_.reset();
    disconnected_slot_.reset();
    if (bus_) {
        // Closing first makes the deleter's flush a no-op: a dead manager
        // would never let it finish.
        sd_bus_close(bus_.get());
        bus_.reset();
    }
}

uint64_t ManagerLink::queued_writes() const {
    uint64_t n = 0;
    if (!bus_ || sd_bus_get_n_queued_write(bus_.get(), &n) < 0) return 0;
    return n;
}

bool ManagerLink::at_eof() const {
    char c;
    const ssize_t n = recv(socket_.get(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE));
}

void ManagerLink::lose(const std::string& why) {
    if (lost_) return;
    lost_ = true;
    manager_watch_.reset();
    reader_check_.reset();
    socket_watch_.reset();
    resync_source_.reset();
    announce_timer_.reset();
    announce_deadline_.reset();
    callbacks_.on_lost(why);
}

void ManagerLink::mark_attached() {
    attached_ = true;
    if (!announcing_) return;
    announcing_ = false;
    announce_timer_.reset();
    announce_deadline_.reset();
    announce_backoff_usec_ = 0;
    log::notice("The session is re-announced: a new manager attached", fields_);
}

void ManagerLink::watch_manager(pid_t pid) {
    manager_watch_.reset();
    manager_pidfd_.reset();
    manager_pid_ = pid;
    if (pid <= 0) return;
    // The syscall: glibc 2.36's <sys/pidfd.h> lacks extern "C" for C++.
    const int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0U));
    if (fd < 0) {
        const int e = errno;
        if (e == ESRCH) {
            schedule_resync("the manager (pid " + std::to_string(pid) + ") is already gone");
            return;
        }
        auto fields = fields_;
        fields.push_back({"RSM_ERROR", std::strerror(e)});
        log::warning("Cannot watch the manager (pid " + std::to_string(pid) +
                         ") with a pidfd; a manager crash is noticed only when the link breaks",
                     fields);
        return;
    }
    manager_pidfd_.reset(fd);
    sd_event_source* s = nullptr;
    bus::check(sd_event_add_io(event_, &s, fd, EPOLLIN, &ManagerLink::on_manager_exit, this), "sd_event_add_io(pidfd)");
    manager_watch_.reset(s);
}

int ManagerLink::on_manager_exit(sd_event_source* s, int, uint32_t, void* userdata) noexcept {
    auto* self = static_cast<ManagerLink*>(userdata);
    sd_event_source_set_enabled(s, SD_EVENT_OFF);  // level-triggered: once is enough
    if (self->resumable_) self->schedule_resync("the manager (pid " + std::to_string(self->manager_pid_) + ") exited");
    return 0;
}

int ManagerLink::on_disconnected(sd_bus_message*, void* userdata, sd_bus_error*) noexcept {
    auto* self = static_cast<ManagerLink*>(userdata);
    if (!self->resumable_)
        self->lose("the link to the manager closed");
    else if (self->announcing_)
        self->retry_announce("the new manager closed the connection before it attached", announce_retry_usec);
    else if (self->at_eof())
        self->closed_for_good("the manager's end of the link is closed");
    else
        self->schedule_resync("the D-Bus connection to the manager broke");
    return 0;
}

void ManagerLink::schedule_resync(std::string why) {
    if (lost_ || resync_source_) return;
    resync_reason_ = std::move(why);
    sd_event_source* s = nullptr;
    // Deferred: never drop a connection from inside its own callbacks.
    int r = sd_event_add_defer(event_, &s, &ManagerLink::on_resync, this);
    if (r < 0) {
        lose("cannot schedule the link's resynchronisation: " + errno_text(r));
        return;
    }
    resync_source_.reset(s);
}

int ManagerLink::on_resync(sd_event_source*, void* userdata) noexcept {
    auto* self = static_cast<ManagerLink*>(userdata);
    // sd-event keeps a source that frees itself alive until it returns.
    self->resync_source_.reset();
    try {
        self->resync();
    } catch (const std::exception& e) {
        self->lose(std::string("resynchronising the link failed: ") + e.what());
    }
    return 0;
}

void ManagerLink::resync() {
    if (!resumable_) return;
    const std::string why = resync_reason_;
    auto fields = fields_;
    fields.push_back({"RSM_REASON", why});
    log::warning("Lost the manager (" + why + "); keeping the session and waiting for a new manager", fields);

    manager_watch_.reset();
    manager_pidfd_.reset();
    reader_check_.reset();
    socket_watch_.reset();
    drop_bus();
    attached_ = false;

    // Whatever the dead manager sent and we did not read yet is meaningless now.
    const long dropped = bus::drain_socket(socket_.get());
    if (dropped == -ECONNRESET) return closed_for_good("the manager's end of the link is closed");
    if (dropped < 0) return lose("cannot drain the link: " + errno_text(static_cast<int>(dropped)));
    if (dropped > 0) log::debug("Dropped " + std::to_string(dropped) + " unread bytes from the dead manager", fields_);

    const int r = bus::write_resync_marker(socket_.get(), marker_timeout);
    if (r == -EPIPE || r == -ECONNRESET) return closed_for_good("the manager's end of the link is closed");
    if (r < 0) {
        // No manager can find our new connection now; the session goes on
        // (its timers and systemctl stop still end it) and EOF is still noticed.
        auto f = fields_;
        f.push_back({"RSM_ERROR", errno_text(r)});
        log::error("Cannot write the link's resync marker; no manager can take this session over", f);
        watch_socket();
        return;
    }
    wait_for_reader();
}

void ManagerLink::watch_socket() {
    if (socket_watch_) return;
    sd_event_source* s = nullptr;
    bus::check(sd_event_add_io(event_, &s, socket_.get(), EPOLLIN | EPOLLRDHUP, &ManagerLink::on_socket_event, this),
               "sd_event_add_io(link)");
    socket_watch_.reset(s);
}

// A client connection started before anyone reads would time out in its
// SASL exchange and leave a half conversation in front of the next marker.
// So we start it once the new manager has consumed everything we wrote,
// marker included: the socket's send queue is empty then.
void ManagerLink::wait_for_reader() {
    watch_socket();
    if (reader_check_) return;
    sd_event_source* s = nullptr;
    bus::check(sd_event_add_time_relative(event_, &s, CLOCK_MONOTONIC, 0, 0, &ManagerLink::on_reader_check, this),
               "sd_event_add_time_relative");
    reader_check_.reset(s);
}

int ManagerLink::on_reader_check(sd_event_source* s, uint64_t, void* userdata) noexcept {
    auto* self = static_cast<ManagerLink*>(userdata);
    int queued = 0;
    if (ioctl(self->socket_.get(), SIOCOUTQ, &queued) == 0 && queued > 0) {
        sd_event_source_set_time_relative(s, reader_poll_usec);
        sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
    }
    // Read up to the marker (or SIOCOUTQ unsupported: start right away).
    sd_event_source_set_enabled(s, SD_EVENT_OFF);
    self->socket_watch_.reset();
    try {
        log::info("A new manager reads the link; starting a new connection", self->fields_);
        self->start_bus();
    } catch (const std::exception& e) {
        self->lose(std::string("cannot start a new connection on the link: ") + e.what());
    }
    return 0;
}

int ManagerLink::on_socket_event(sd_event_source* s, int, uint32_t, void* userdata) noexcept {
    auto* self = static_cast<ManagerLink*>(userdata);
    if (self->at_eof()) {
        sd_event_source_set_enabled(s, SD_EVENT_OFF);
        self->closed_for_good("the manager's end of the link is closed");
        return 0;
    }
    // Nobody should write before our connection starts: drop it.
    const long dropped = bus::drain_socket(self->socket_.get());
    if (dropped == -ECONNRESET) {
        sd_event_source_set_enabled(s, SD_EVENT_OFF);
        self->closed_for_good("the manager's end of the link is closed");
    } else if (dropped > 0) {
        log::warning("Dropped " + std::to_string(dropped) + " unexpected bytes on the link while waiting for a manager",
                     self->fields_);
    }
    return 0;
}

// ---------------------------------------------------------------------------
// Re-announcing after the manager's end of the link closed for good

void ManagerLink::closed_for_good(const std::string& why) {
    if (resumable_)
        begin_announce(why);
    else
        lose(why);
}

void ManagerLink::begin_announce(const std::string& why) {
    if (lost_ || announcing_) return;
    auto f = fields_;
    f.push_back({"RSM_REASON", why});
    f.push_back({"RSM_SOCKET", announce_path});
    log::notice("The link to the manager is gone for good (" + why + "); re-announcing the session on " +
                    announce_path,
                f);
    announcing_ = true;
    attached_ = false;
    // Nothing more to hear from the old link or the old manager.
    manager_watch_.reset();
    manager_pidfd_.reset();
    manager_pid_ = 0;
    reader_check_.reset();
    socket_watch_.reset();
    resync_source_.reset();
    announce_backoff_usec_ = 0;
    retry_announce(why, 0);
}

// A connection is up and waits for its Attach, for a bounded time.
void ManagerLink::arm_announce_deadline() {
    sd_event_source* s = nullptr;
    int r = sd_event_add_time_relative(event_, &s, CLOCK_MONOTONIC, announce_timeout_usec, 0,
                                       &ManagerLink::on_announce_deadline, this);
    if (r < 0) return lose("cannot arm the re-announce deadline: " + errno_text(r));
    announce_deadline_.reset(s);
}

// The next delay while nobody listens on the executor socket.
uint64_t ManagerLink::next_backoff() {
    announce_backoff_usec_ = announce_backoff_usec_ ? std::min(announce_backoff_usec_ * 2, announce_backoff_max_usec)
                                                    : announce_backoff_first_usec;
    return announce_backoff_usec_;
}

// The connection attempt runs from a timer: the old connection must not be
// dropped from inside its own callbacks.
void ManagerLink::retry_announce(const std::string& why, uint64_t delay_usec) {
    if (lost_ || announce_timer_) return;
    if (delay_usec && !why.empty()) {
        auto f = fields_;
        f.push_back({"RSM_REASON", why});
        log::info("Re-announcing the session again (" + why + ")", f);
    }
    sd_event_source* s = nullptr;
    int r = sd_event_add_time_relative(event_, &s, CLOCK_MONOTONIC, delay_usec, 0, &ManagerLink::on_announce, this);
    if (r < 0) return lose("cannot schedule the re-announce: " + errno_text(r));
    announce_timer_.reset(s);
}

int ManagerLink::on_announce(sd_event_source*, uint64_t, void* userdata) noexcept {
    auto* self = static_cast<ManagerLink*>(userdata);
    self->announce_timer_.reset();
    try {
        self->announce();
    } catch (const std::exception& e) {
        self->lose(std::string("re-announcing the session failed: ") + e.what());
    }
    return 0;
}

int ManagerLink::on_announce_deadline(sd_event_source*, uint64_t, void* userdata) noexcept {
    auto* self = static_cast<ManagerLink*>(userdata);
    self->announce_deadline_.reset();
    // The socket took us but no manager came (it cannot start right now):
    // drop this connection and try a new one; the session stays.
    self->drop_bus();
    self->retry_announce("no manager attached within " + std::to_string(announce_timeout_usec / 1000000) +
                             " seconds after the re-announce",
                         self->next_backoff());
    return 0;
}

void ManagerLink::announce() {
    announce_deadline_.reset();
    drop_bus();
    socket_.reset();
    // Non-blocking: a UNIX stream connect never waits then, it fails with
    // EAGAIN when the backlog is full, and we try again.
    UniqueFd fd{socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (!fd) bus::check(-errno, "socket(AF_UNIX)");
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    const std::string path = announce_path;
    if (path.size() >= sizeof sa.sun_path) return lose("the executor socket path " + path + " is too long");
    path.copy(sa.sun_path, sizeof sa.sun_path - 1);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) < 0) {
        const int e = errno;
        if (e == EAGAIN || e == EINTR) return retry_announce("the executor socket's backlog is full", announce_retry_usec);
        // ENOENT, ECONNREFUSED: the sockets are stopped or failed. Log the
        // first miss loudly, then quietly keep trying.
        const bool first = announce_backoff_usec_ == 0;
        const uint64_t delay = next_backoff();
        auto f = fields_;
        f.push_back({"RSM_SOCKET", path});
        f.push_back({"RSM_ERROR", std::strerror(e)});
        if (first)
            log::warning("No manager listens on " + path + " (" + std::strerror(e) +
                             "); keeping the session and trying again until one does",
                         f);
        return retry_announce({}, delay);
    }
    socket_ = std::move(fd);
    auto f = fields_;
    f.push_back({"RSM_SOCKET", path});
    log::info("Connected to " + path + "; waiting for a manager to attach", f);
    arm_announce_deadline();
    start_bus();
}

}  // namespace rsm::session
