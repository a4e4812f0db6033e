// The executor's side of a gateway's connection to the session:
// Executor1.Connect (display fd, control channel, the newest connection
// wins), Disconnect, Terminate and Attach, the control channel's events and
// the session's timers. The session's start and end are in executor.cpp,
// Login in executor_login.cpp, SetLimits in executor_limits.cpp.
#include "executor.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/socket.h>
#include <system_error>

#include "bus/connection.hpp"
#include "bus/error.hpp"
#include "bus/names.hpp"
#include "display_connect.hpp"
#include "nx_connect.hpp"
#include "xauthority.hpp"
#include "util/log.hpp"

namespace rsm::session {
namespace {

using bus::BusError;
namespace err = names::error;

std::string seconds_text(uint64_t usec) {
    const uint64_t s = usec / 1000000ULL;
    return std::to_string(s) + (s == 1 ? " second" : " seconds");
}

// A new connection to the display server's socket, made with the user's
// identity and checked to reach the session's own display server
// (display_connect.hpp): the path is in a directory the user controls, so it
// may have been swapped for a symlink to any socket or a listener of the
// user's. A local connect never blocks for long; a full backlog fails at once
// (O_NONBLOCK) instead of stalling the loop. The gateway gets a blocking socket.
UniqueFd connect_display(const std::string& path, const LeaderReady& server, const log::Fields& fields) {
    UniqueFd fd;
    try {
        fd = connect_as_user(path, server.uid, server.gid);
    } catch (const std::system_error& e) {
        throw BusError(err::failed, "Cannot connect to the display server at " + path + ": " + e.what());
    }
    if (std::string why = check_display_peer(fd.get(), server.display_server_pid, server.uid); !why.empty()) {
        fd.reset();
        auto f = fields;
        f.push_back({"RSM_DISPLAY_SOCKET", path});
        f.push_back({"RSM_ERROR", why});
        log::warning("Refusing a display connection: " + path + " is not the session's display server (" + why + ")",
                     f);
        throw BusError(err::session_failed, "the display socket is not the session's display server");
    }
    const int flags = fcntl(fd.get(), F_GETFL);
    if (flags < 0 || fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) < 0)
        throw BusError(err::failed, std::string("fcntl(): ") + std::strerror(errno));
    return fd;
}

// nxagent's port on 127.0.0.1 (nx_connect.hpp): checked to belong to the
// session's user, since any local user may bind a free port. The connect is
// to loopback and bounded (1 s). Refused or timed out (nxagent not listening
// again yet after a client's loss) is DisplayNotListening: a gateway may try
// again.
UniqueFd connect_nx_display(uint32_t port, const LeaderReady& server, const log::Fields& fields) {
    UniqueFd fd;
    try {
        fd = connect_loopback_tcp(static_cast<uint16_t>(port));
    } catch (const std::system_error& e) {
        throw BusError(not_listening(e) ? err::display_not_listening : err::failed,
                       "Cannot connect to nxagent on 127.0.0.1:" + std::to_string(port) + ": " + e.what());
    }
    if (std::string why = check_tcp_peer_owner(fd.get(), static_cast<uint16_t>(port), server.uid); !why.empty()) {
        fd.reset();
        auto f = fields;
        f.push_back({"RSM_DISPLAY_PORT", std::to_string(port)});
        f.push_back({"RSM_ERROR", why});
        log::warning("Refusing a display connection: 127.0.0.1:" + std::to_string(port) +
                         " is not the session's nxagent (" + why + ")",
                     f);
        throw BusError(err::session_failed, "the NX port is not the session's display server");
    }
    return fd;
}

}  // namespace

// ---------------------------------------------------------------------------
// Connect, Disconnect, Terminate, Attach

int Executor::method_connect(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept {
    return bus::reply_errors(error, [&] { return static_cast<Executor*>(userdata)->connect(m); });
}

int Executor::connect(sd_bus_message* m) {
    // Read.
    const ClientInfo client = read_client_info(m);

    // Validate.
    require_running("Connect");

    // Act: everything that can fail first, so that a failure leaves the
    // current gateway alone.
    UniqueFd display;
    if (params_.display_protocol == DisplayProtocol::nx) {
        try {
            display = connect_nx_display(params_.display_port, ready_, fields());
        } catch (const BusError& e) {
            if (e.name() != std::string_view{err::display_not_listening}) throw;
            // nxagent serves one client and listens only while it has none:
            // the newest connection wins here too. The current client is cut
            // off (nxagent suspends, the leader's SIGHUP makes it listen
            // again), and the answer waits until nxagent listens (nx_wait_).
            wait_for_nx(m, client);
            return 1;
        }
    } else if (params_.has_display()) {
        display = connect_display(params_.display_socket, ready_, fields());
    }
    return finish_connect(m, client, std::move(display));
}

void Executor::wait_for_nx(sd_bus_message* m, const ClientInfo& client) {
    if (nx_wait_.call)
        (void)sd_bus_reply_method_errorf(nx_wait_.call.get(), err::session_not_ready,
                                         "Session %s: a newer connection was asked for", record_.id.c_str());
    if (control_) {
        log::info("Session " + record_.id + " taken over by another connection: cutting the NX client off", fields());
        retire_control("taken over by another connection");
        mark_disconnected();
    }
    nx_wait_.call = ref_message(m);
    nx_wait_.client = client;
    nx_wait_.tries = 0;
    sd_event_source* s = nullptr;
    if (!nx_wait_.timer) {
        bus::check(sd_event_add_time_relative(event_, &s, CLOCK_MONOTONIC, nx_wait_interval_usec, 0,
                                              &Executor::on_nx_wait, this),
                   "sd_event_add_time_relative");
        nx_wait_.timer.reset(s);
    } else {
        bus::check(sd_event_source_set_time_relative(nx_wait_.timer.get(), nx_wait_interval_usec), "set_time");
        bus::check(sd_event_source_set_enabled(nx_wait_.timer.get(), SD_EVENT_ONESHOT), "enable");
    }
}

int Executor::on_nx_wait(sd_event_source* s, uint64_t, void* userdata) noexcept {
    auto* self = static_cast<Executor*>(userdata);
    auto& w = self->nx_wait_;
    if (!w.call) return 0;
    MessagePtr call = std::move(w.call);
    try {
        if (self->phase_ != Phase::running)
            throw BusError(err::session_not_ready, "Session " + self->record_.id + " is ending");
        UniqueFd display;
        try {
            display = connect_nx_display(self->params_.display_port, self->ready_, self->fields());
        } catch (const BusError& e) {
            if (e.name() != std::string_view{err::display_not_listening} || ++w.tries >= nx_wait_tries) throw;
            w.call = std::move(call);
            (void)sd_event_source_set_time_relative(s, nx_wait_interval_usec);
            (void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
            return 0;
        }
        (void)self->finish_connect(call.get(), w.client, std::move(display));
    } catch (const BusError& e) {
        (void)sd_bus_reply_method_errorf(call.get(), e.name().c_str(), "%s", e.what());
    } catch (const std::exception& e) {
        (void)sd_bus_reply_method_errorf(call.get(), err::failed, "%s", e.what());
    }
    return 0;
}

void Executor::fail_nx_wait(const std::string& why) {
    if (!nx_wait_.call) return;
    MessagePtr call = std::move(nx_wait_.call);
    (void)sd_bus_reply_method_errorf(call.get(), err::session_not_ready, "Session %s %s", record_.id.c_str(),
                                     why.c_str());
}

int Executor::finish_connect(sd_bus_message* m, const ClientInfo& client, UniqueFd display) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
        throw BusError(err::failed, std::string("socketpair(): ") + std::strerror(errno));
    UniqueFd ours{pair[0]}, theirs{pair[1]};
    const uint64_t serial = control_serial_ + 1;
    auto channel = std::make_unique<ControlChannel>(
        event_, std::move(ours), record_.id,
        ControlChannel::Callbacks{
            [this, serial](const std::string& why) { on_gateway_disconnect(serial, why); },
            [this, serial] { on_activity(serial); },
            [this](sd_bus_message* reply) { append_record(reply, record_, params_.protocol); },
            [this] { schedule_gc(); }});
    // Where the gateway connects to the display server by itself (xrdp to
    // xorgxrdp), its going away is a disconnect too.
    std::unique_ptr<DisplayClientWatch> watch;
    if (!params_.display_client_socket.empty() && ready_.display_server_pid > 0)
        watch = std::make_unique<DisplayClientWatch>(
            event_, ready_.display_server_pid, params_.display_client_socket,
            [this, serial](const std::string& why) { on_gateway_disconnect(serial, why); });
    // A copy of the display connection stays with the channel: retiring the
    // channel (takeover, Disconnect, idle, the end) cuts the gateway off.
    if (display) {
        UniqueFd copy{fcntl(display.get(), F_DUPFD_CLOEXEC, 3)};
        if (!copy) throw BusError(err::failed, std::string("fcntl(F_DUPFD_CLOEXEC): ") + std::strerror(errno));
        channel->hold_display(std::move(copy));
    }
    // nxagent drops the connection when it suspends (its client is gone):
    // that is a disconnect, whatever the gateway does with its control
    // channel (display_peer_watch.hpp).
    std::unique_ptr<DisplayPeerWatch> peer_watch;
    if (display && params_.display_protocol == DisplayProtocol::nx) {
        UniqueFd copy{fcntl(display.get(), F_DUPFD_CLOEXEC, 3)};
        if (!copy) throw BusError(err::failed, std::string("fcntl(F_DUPFD_CLOEXEC): ") + std::strerror(errno));
        peer_watch = std::make_unique<DisplayPeerWatch>(
            event_, std::move(copy), [this, serial](const std::string& why) { on_gateway_disconnect(serial, why); });
    }

    sd_bus_message* raw = nullptr;
    bus::check(sd_bus_message_new_method_return(m, &raw), "sd_bus_message_new_method_return");
    MessagePtr reply{raw};
    bus::check(sd_bus_message_open_container(reply.get(), 'a', "{sh}"), "open fds");
    if (display) bus::check(sd_bus_message_append(reply.get(), "{sh}", "display", display.get()), "append display fd");
    bus::check(sd_bus_message_append(reply.get(), "{sh}", "control", theirs.get()), "append control fd");
    bus::check(sd_bus_message_close_container(reply.get()), "close fds");
    bus::check(sd_bus_message_open_container(reply.get(), 'a', "{sv}"), "open details");
    bus::check(sd_bus_message_append(reply.get(), "{sv}", "protocol", "s", params_.protocol.c_str()), "append");
    bus::check(sd_bus_message_append(reply.get(), "{sv}", "display", "s", record_.display.c_str()), "append");
    if (params_.display_protocol == DisplayProtocol::x11 && !ready_.xauth_cookie.empty()) {
        bus::check(sd_bus_message_append(reply.get(), "{sv}", "xauth_name", "s", "MIT-MAGIC-COOKIE-1"), "append");
        bus::check(sd_bus_message_open_container(reply.get(), 'e', "sv"), "open entry");
        bus::check(sd_bus_message_append(reply.get(), "s", "xauth_data"), "append");
        bus::check(sd_bus_message_open_container(reply.get(), 'v', "ay"), "open variant");
        const auto& cookie = ready_.xauth_cookie;
        bus::check(sd_bus_message_append_array(reply.get(), 'y', cookie.data(), cookie.size()), "append cookie");
        bus::check(sd_bus_message_close_container(reply.get()), "close variant");
        bus::check(sd_bus_message_close_container(reply.get()), "close entry");
    }
    // The NX client authenticates to nxagent with the session's cookie
    // (nxproxy's cookie= option, the nxserver's "NX> 706 Agent cookie").
    if (params_.display_protocol == DisplayProtocol::nx && !ready_.xauth_cookie.empty())
        bus::check(sd_bus_message_append(reply.get(), "{sv}", "nx_cookie", "s", xauth::to_hex(ready_.xauth_cookie).c_str()),
                   "append");
    bus::check(sd_bus_message_close_container(reply.get()), "close details");

    // The newest connection wins.
    auto f = fields();
    if (!client.address.empty()) f.push_back({"RSM_CLIENT_ADDRESS", client.address});
    if (!client.name.empty()) f.push_back({"RSM_CLIENT_HOST", client.name});
    if (control_) {
        log::info("Session " + record_.id + " taken over by another connection", f);
        retire_control("taken over by another connection");
    }
    control_ = std::move(channel);
    control_serial_ = serial;
    client_watch_ = std::move(watch);
    peer_watch_ = std::move(peer_watch);
    const bool reconnect = connects_ > 0;
    ++connects_;
    record_.state = State::active;
    record_.connected_usec = now_realtime_usec();
    record_.client_address = client.address;
    record_.client_name = client.name;
    timers_->disarm(Timer::disconnected);
    timers_->arm(Timer::idle);
    log::info(std::string(reconnect ? "Gateway reconnected to" : "Gateway connected to") + " session " + record_.id, f);

    const int r = sd_bus_send(nullptr, reply.get(), nullptr);
    emit_state_changed();
    // On every reconnect, never on the first connect (the seed's rule).
    if (reconnect) leader_->run_reconnect_command();
    return r;
}

int Executor::method_disconnect(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept {
    return bus::reply_errors(error, [&] { return static_cast<Executor*>(userdata)->disconnect(m); });
}

int Executor::disconnect(sd_bus_message* m) {
    require_running("Disconnect");
    if (control_) {
        log::info("Disconnecting the gateway from session " + record_.id + " (asked by the manager)", fields());
        retire_control("disconnected by the session manager");
        mark_disconnected();
    }
    return sd_bus_reply_method_return(m, "");
}

int Executor::method_terminate(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept {
    return bus::reply_errors(error, [&] { return static_cast<Executor*>(userdata)->terminate(m); });
}

int Executor::terminate(sd_bus_message* m) {
    const int r = sd_bus_reply_method_return(m, "");
    if (phase_ == Phase::login) {
        log::info("Terminate without a session, exiting", fields());
        exit_when_flushed();
    } else {
        end_session("terminated by the session manager", false);
    }
    return r;
}

int Executor::method_attach(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept {
    return bus::reply_errors(error, [&] { return static_cast<Executor*>(userdata)->attach(m); });
}

int Executor::attach(sd_bus_message* m) {
    uint32_t manager_pid = 0;
    if (sd_bus_message_read_basic(m, 'u', &manager_pid) <= 0)
        throw BusError(err::invalid_argument, "expected manager_pid (u)");
    if (phase_ == Phase::login) throw BusError(err::no_such_session, "This executor has no session");

    link_->watch_manager(static_cast<pid_t>(manager_pid));
    link_->mark_attached();
    auto f = fields();
    f.push_back({"RSM_MANAGER_PID", std::to_string(manager_pid)});
    log::info("Manager (pid " + std::to_string(manager_pid) + ") attached to session " + record_.id, f);

    sd_bus_message* raw = nullptr;
    bus::check(sd_bus_message_new_method_return(m, &raw), "sd_bus_message_new_method_return");
    MessagePtr reply{raw};
    append_record(reply.get(), record_, params_.protocol);
    return sd_bus_send(nullptr, reply.get(), nullptr);
}

// ---------------------------------------------------------------------------
// Control channel and timers

void Executor::retire_control(const std::optional<std::string>& request_reason) {
    if (!control_) return;
    if (request_reason) control_->request_disconnect(*request_reason);
    control_->close();
    retired_.push_back(std::move(control_));
}

void Executor::mark_disconnected() {
    if (phase_ != Phase::running) return;
    record_.state = State::disconnected;
    record_.disconnected_usec = now_realtime_usec();
    timers_->disarm(Timer::idle);
    timers_->arm(Timer::disconnected);
    emit_state_changed();
}

void Executor::on_gateway_disconnect(uint64_t serial, const std::string& why) {
    if (!control_ || serial != control_serial_) return;
    log::info("Session " + record_.id + " disconnected: " + why, fields());
    retire_control(std::nullopt);
    mark_disconnected();
}

void Executor::on_activity(uint64_t serial) {
    if (control_ && serial == control_serial_ && phase_ == Phase::running) timers_->arm(Timer::idle);
}

void Executor::on_timer(Timer t) {
    auto f = fields();
    f.push_back({"RSM_TIMER", to_string(t)});
    f.push_back({"RSM_TIMEOUT_USEC", std::to_string(timers_->limit(t))});
    switch (t) {
    case Timer::startup: {
        const std::string why = "the display was not ready within " + seconds_text(timers_->limit(t));
        log::notice("Session " + record_.id + " failed to start: " + why, f);
        end_session(why, true);
        break;
    }
    case Timer::lifetime:
        log::notice("Session " + record_.id + " reached its maximum lifetime, ending it", f);
        end_session("maximum lifetime reached", false);
        break;
    case Timer::disconnected:
        log::notice("Session " + record_.id + " was disconnected too long, ending it", f);
        end_session("disconnected too long", false);
        break;
    case Timer::idle:
        if (!control_) break;
        log::notice("Session " + record_.id + " was idle too long, disconnecting the gateway", f);
        retire_control("idle");
        mark_disconnected();
        break;
    }
}

void Executor::schedule_gc() {
    if (gc_) {
        sd_event_source_set_enabled(gc_.get(), SD_EVENT_ONESHOT);
        return;
    }
    sd_event_source* s = nullptr;
    if (sd_event_add_defer(event_, &s, &Executor::on_gc, this) >= 0) gc_.reset(s);
}

int Executor::on_gc(sd_event_source*, void* userdata) noexcept {
    auto* self = static_cast<Executor*>(userdata);
    std::erase_if(self->retired_, [](const auto& c) { return c->closed(); });
    return 0;
}

}  // namespace rsm::session
