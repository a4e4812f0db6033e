// A small HTTP/1.1 server on the caller's sd-event loop: libmicrohttpd in
// external-epoll mode (as systemd-journal-remote drives it), one MHD daemon
// per listening socket (socket activation passes them in). The loop watches
// MHD's epoll fd and arms a timer from MHD_get_timeout(); MHD never runs a
// thread of its own, so handlers run on the loop like everything else.
//
// Or, for a process that serves one accepted connection (rsm-gateway),
// add_connection() serves that socket alone (a daemon without a listening
// socket), where a handler may also answer 101 and take the connection
// over (Response::upgrade: WebSockets).
//
// A handler gets the whole request (body bounded by Limits, form fields
// decoded) and a Responder it may answer through now or later: until it
// does, the connection is suspended and costs the loop nothing.
#pragma once

#include <functional>
#include <memory>
#include <sys/socket.h>
#include <vector>

#include "http/http_types.hpp"
#include "util/fd.hpp"
#include "util/handles.hpp"

struct MHD_Daemon;
struct MHD_Connection;

namespace rsm::http {

struct ReplySlot;

// The one answer to one request. Move-only; sending twice, or after the
// client went away, does nothing. Dropped unanswered, it answers 500.
class Responder {
public:
    Responder() = default;
    explicit Responder(std::shared_ptr<ReplySlot> slot) : slot_{std::move(slot)} {}
    Responder(Responder&&) noexcept = default;
    Responder& operator=(Responder&&) noexcept;
    Responder(const Responder&) = delete;
    Responder& operator=(const Responder&) = delete;
    ~Responder();

    void send(Response response);
    // False once the client has gone (or the answer was sent).
    bool pending() const noexcept;

private:
    std::shared_ptr<ReplySlot> slot_;
};

class Server {
public:
    using Handler = std::function<void(Request, Responder)>;
    Server(sd_event* event, Handler handler, Limits limits = {}, Methods methods = Methods::post);
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    ~Server();

    // Serves HTTP on a listening stream socket (taken over; MHD closes it),
    // HTTPS with `tls` (GnuTLS in MHD; TLS 1.2 and 1.3). Throws
    // std::runtime_error if MHD refuses it (an unusable certificate or key).
    void add_listener(UniqueFd fd, std::shared_ptr<const TlsCredentials> tls = nullptr);
    // Serves HTTP on one accepted stream socket, its first byte unread
    // (taken over; MHD closes it). Throws std::runtime_error if MHD refuses it.
    void add_connection(UniqueFd fd, const sockaddr* address, socklen_t length);
    // Called (on the loop) whenever a connection from add_connection() has
    // been closed: by the client, an error, the idle timeout, or the close
    // of an upgraded connection.
    void on_connection_closed(std::function<void()> f) { connection_closed_ = std::move(f); }

    const Limits& limits() const noexcept { return limits_; }
    sd_event* event() const noexcept { return event_; }

    // libmicrohttpd's callbacks (public for the trampolines in http_server.cpp).
    struct Listener;
    void run(Listener& l);
    void run_all();
    int on_access(MHD_Connection* c, const char* url, const char* method, const char* upload,
                  std::size_t* upload_size, void** state);
    void on_completed(void** state);
    void connection_closed() {
        if (connection_closed_) connection_closed_();
    }

private:
    // A daemon on `listen` (taken once MHD has it), or without a listening
    // socket (nullptr) for add_connection().
    Listener& start(UniqueFd* listen, unsigned flags, std::shared_ptr<const TlsCredentials> tls = nullptr);

    sd_event* event_;
    Handler handler_;
    Limits limits_;
    Methods methods_;
    std::function<void()> connection_closed_;
    std::vector<std::unique_ptr<Listener>> listeners_;
    Listener* connections_ = nullptr;  // the daemon of add_connection(), in listeners_
    EventSourcePtr kick_;
    // Tells Responders that outlive the server that their connection is gone.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace rsm::http
