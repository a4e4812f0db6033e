#include "http/http_server.hpp"

#include <arpa/inet.h>
#include <cstring>
#include <fcntl.h>
#include <glib.h>
#include <microhttpd.h>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <stdexcept>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <utility>

#include "http/form_fields.hpp"
#include "util/log.hpp"

namespace rsm::http {

struct ReplySlot {
    MHD_Connection* connection = nullptr;
    std::weak_ptr<bool> server_alive;
    sd_event_source* kick = nullptr;  // the server's "run MHD soon" defer source
    std::optional<Response> response;
    bool suspended = false;
    bool gone = false;
};

namespace {

using PostProcessorPtr = std::unique_ptr<MHD_PostProcessor, Deleter<MHD_destroy_post_processor>>;
using DaemonPtr = std::unique_ptr<MHD_Daemon, Deleter<MHD_stop_daemon>>;

// What one connection accumulates until its request is complete.
struct ConnectionState {
    explicit ConnectionState(std::size_t max_fields) : form{max_fields} {}
    Request request;
    PostProcessorPtr post;
    FormCollector form;
    std::optional<Response> early;  // an error found while reading (405, 413, 400)
    std::shared_ptr<ReplySlot> slot;
    std::function<void(Upgraded)> upgrade;  // the queued 101's handler, until MHD calls it
};

std::string client_address(MHD_Connection* c) {
    const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr) return {};
    char text[INET6_ADDRSTRLEN] = {};
    const sockaddr* sa = info->client_addr;
    if (sa->sa_family == AF_INET) {
        sockaddr_in in{};
        std::memcpy(&in, sa, sizeof in);
        inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
    } else if (sa->sa_family == AF_INET6) {
        sockaddr_in6 in6{};
        std::memcpy(&in6, sa, sizeof in6);
        if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr))
            inet_ntop(AF_INET, &in6.sin6_addr.s6_addr[12], text, sizeof text);
        else
            inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text);
    }
    return text;
}

void upgrade_trampoline(void* cls, MHD_Connection*, void*, const char* extra_in, std::size_t extra_in_size,
                        MHD_socket sock, MHD_UpgradeResponseHandle* urh) {
    auto* state = static_cast<ConnectionState*>(cls);
    Upgraded upgraded{sock, std::string(extra_in ? extra_in : "", extra_in ? extra_in_size : 0), urh};
    auto handler = std::exchange(state->upgrade, nullptr);
    // Without a handler the connection is closed by Upgraded's destructor.
    if (handler) handler(std::move(upgraded));
}

MHD_Response* create_response(const Response& r, ConnectionState& state) {
    if (r.upgrade) {
        state.upgrade = r.upgrade;
        return MHD_create_response_for_upgrade(&upgrade_trampoline, &state);
    }
    if (r.file) {
        // MHD closes the fd it is given when the response is destroyed; the
        // Response keeps its own.
        const int fd = fcntl(r.file->fd.get(), F_DUPFD_CLOEXEC, 3);
        if (fd < 0) return nullptr;
        MHD_Response* resp = MHD_create_response_from_fd64(r.file->size, fd);
        if (!resp) ::close(fd);
        return resp;
    }
    return MHD_create_response_from_buffer(r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
}

MHD_Result queue(MHD_Connection* c, const Response& r, ConnectionState& state) {
    MHD_Response* resp = create_response(r, state);
    if (!resp) return MHD_NO;
    if (!r.content_type.empty()) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
    for (const auto& [name, value] : r.headers) MHD_add_response_header(resp, name.c_str(), value.c_str());
    const MHD_Result result = MHD_queue_response(c, r.status, resp);
    MHD_destroy_response(resp);
    return result;
}

MHD_Result post_iterator(void* cls, MHD_ValueKind, const char* key, const char*, const char*, const char*,
                         const char* data, std::uint64_t off, std::size_t size) {
    auto* state = static_cast<ConnectionState*>(cls);
    return state->form.add(key ? key : "", std::string_view(data ? data : "", data ? size : 0), off) ? MHD_YES
                                                                                                     : MHD_NO;
}

bool is_form_type(std::string_view type) {
    constexpr std::string_view form = "application/x-www-form-urlencoded";
    return type.size() >= form.size() && g_ascii_strncasecmp(type.data(), form.data(), form.size()) == 0;
}

MHD_Result collect_header(void* cls, MHD_ValueKind, const char* key, const char* value) {
    auto* headers = static_cast<std::vector<std::pair<std::string, std::string>>*>(cls);
    headers->emplace_back(key ? key : "", value ? value : "");
    return MHD_YES;
}

}  // namespace

const std::string* Request::header(std::string_view name) const noexcept {
    for (const auto& [k, v] : headers)
        if (k.size() == name.size() && g_ascii_strncasecmp(k.data(), name.data(), name.size()) == 0) return &v;
    return nullptr;
}

void Upgraded::close() noexcept {
    if (!handle_) return;
    MHD_upgrade_action(std::exchange(handle_, nullptr), MHD_UPGRADE_ACTION_CLOSE);
    fd_ = -1;
}

Responder& Responder::operator=(Responder&& o) noexcept {
    if (this != &o) {
        if (pending()) send(Response::text(500, "no answer\n"));
        slot_ = std::move(o.slot_);
    }
    return *this;
}

Responder::~Responder() {
    if (pending()) send(Response::text(500, "no answer\n"));
}

bool Responder::pending() const noexcept { return slot_ && !slot_->gone && !slot_->response; }

void Responder::send(Response response) {
    if (!pending()) return;
    const auto slot = std::exchange(slot_, nullptr);
    slot->response = std::move(response);
    if (slot->suspended && !slot->server_alive.expired()) {
        slot->suspended = false;
        // MHD's inter-thread channel is in its epoll set: the loop wakes up
        // and MHD_run() calls on_access again, which queues the response.
        MHD_resume_connection(slot->connection);
        // In external-epoll mode MHD 0.9.75 does not wake its epoll fd for a
        // resume (no ITC event reaches it): run it on the next iteration.
        sd_event_source_set_enabled(slot->kick, SD_EVENT_ONESHOT);
    }
}

struct Server::Listener {
    Server* server = nullptr;
    bool accepted = false;  // the daemon of add_connection()
    std::shared_ptr<const TlsCredentials> tls;  // MHD reads the PEM from here
    DaemonPtr daemon;
    EventSourcePtr io;
    EventSourcePtr timer;
};

namespace {

MHD_Result access_trampoline(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                             const char* upload, std::size_t* upload_size, void** state) {
    try {
        return static_cast<Server*>(cls)->on_access(c, url, method, upload, upload_size, state) ? MHD_YES : MHD_NO;
    } catch (const std::exception& e) {
        log::error("HTTP request handler failed", {{"RSM_ERROR", e.what()}});
        return MHD_NO;
    }
}

// Limits::keep_alive_idle_ms: one per connection of add_connection() (MHD's
// socket context), its timer armed when an answer has gone out and
// disarmed when the next request starts. It closes by shutting the socket
// down: MHD sees the end of the stream and closes the connection itself.
struct KeepAliveIdle {
    MHD_Connection* connection = nullptr;
    EventSourcePtr timer;

    static KeepAliveIdle* of(MHD_Connection* c) {
        const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        return info ? static_cast<KeepAliveIdle*>(info->socket_context) : nullptr;
    }
    static int expired(sd_event_source*, std::uint64_t, void* self) {
        auto* idle = static_cast<KeepAliveIdle*>(self);
        if (const MHD_ConnectionInfo* info = MHD_get_connection_info(idle->connection, MHD_CONNECTION_INFO_CONNECTION_FD))
            ::shutdown(info->connect_fd, SHUT_RDWR);
        return 0;
    }
    void arm(unsigned ms) {
        std::uint64_t now = 0;
        sd_event* e = sd_event_source_get_event(timer.get());
        sd_event_now(e, CLOCK_MONOTONIC, &now);
        sd_event_source_set_time(timer.get(), now + std::uint64_t{ms} * 1000);
        sd_event_source_set_enabled(timer.get(), SD_EVENT_ONESHOT);
    }
    void disarm() { sd_event_source_set_enabled(timer.get(), SD_EVENT_OFF); }
};

void completed_trampoline(void* cls, MHD_Connection* c, void** state, MHD_RequestTerminationCode code) {
    auto* server = static_cast<Server*>(cls);
    const auto* s = static_cast<const ConnectionState*>(*state);
    const bool upgrade = s && s->slot && s->slot->response && s->slot->response->upgrade;
    if (code == MHD_REQUEST_TERMINATED_COMPLETED_OK && !upgrade)
        if (KeepAliveIdle* idle = KeepAliveIdle::of(c)) idle->arm(server->limits().keep_alive_idle_ms);
    server->on_completed(state);
}

void connection_trampoline(void* l, MHD_Connection* c, void** context, MHD_ConnectionNotificationCode code) {
    auto* listener = static_cast<Server::Listener*>(l);
    if (!listener->accepted) return;
    if (code == MHD_CONNECTION_NOTIFY_STARTED && listener->server->limits().keep_alive_idle_ms > 0) {
        auto idle = std::make_unique<KeepAliveIdle>();
        idle->connection = c;
        sd_event_source* s = nullptr;
        if (sd_event_add_time(listener->server->event(), &s, CLOCK_MONOTONIC, 0, 1000, &KeepAliveIdle::expired,
                              idle.get()) < 0)
            return;  // MHD's own idle timeout still applies
        idle->timer.reset(s);
        idle->disarm();
        *context = idle.release();
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        // MHD's socket context owned it since NOTIFY_STARTED: take it back.
        std::unique_ptr<KeepAliveIdle> idle{static_cast<KeepAliveIdle*>(std::exchange(*context, nullptr))};
        listener->server->connection_closed();
    }
}

int io_trampoline(sd_event_source*, int, std::uint32_t, void* l) {
    auto* listener = static_cast<Server::Listener*>(l);
    listener->server->run(*listener);
    return 0;
}

int kick_trampoline(sd_event_source*, void* server) {
    static_cast<Server*>(server)->run_all();
    return 0;
}

int timer_trampoline(sd_event_source*, std::uint64_t, void* l) {
    auto* listener = static_cast<Server::Listener*>(l);
    listener->server->run(*listener);
    return 0;
}

}  // namespace

Server::Server(sd_event* event, Handler handler, Limits limits, Methods methods)
    : event_{event}, handler_{std::move(handler)}, limits_{limits}, methods_{methods} {
    sd_event_source* s = nullptr;
    if (const int r = sd_event_add_defer(event_, &s, &kick_trampoline, this); r < 0)
        throw std::runtime_error(std::string("sd_event_add_defer: ") + std::strerror(-r));
    kick_.reset(s);
    sd_event_source_set_enabled(s, SD_EVENT_OFF);
}

void Server::run_all() {
    for (auto& l : listeners_) run(*l);
}

Server::~Server() {
    *alive_ = false;
    alive_.reset();
    // Sources first (they point at the listeners), then the MHD daemons.
    for (auto& l : listeners_) {
        l->io.reset();
        l->timer.reset();
    }
    listeners_.clear();
    kick_.reset();
}

void Server::add_listener(UniqueFd fd, std::shared_ptr<const TlsCredentials> tls) {
    start(&fd, MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, std::move(tls));
}

void Server::add_connection(UniqueFd fd, const sockaddr* address, socklen_t length) {
    // One daemon without a listening socket for all added connections;
    // only there may a handler upgrade a connection.
    if (!connections_)
        connections_ = &start(nullptr, MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_UPGRADE);
    // MHD reads the request from its first byte: the caller only peeked.
    if (MHD_add_connection(connections_->daemon.get(), fd.release(), address, length) != MHD_YES)
        throw std::runtime_error(std::string("libmicrohttpd refused the connection: ") + std::strerror(errno));
    run(*connections_);
}

Server::Listener& Server::start(UniqueFd* listen, unsigned flags, std::shared_ptr<const TlsCredentials> tls) {
    auto l = std::make_unique<Listener>();
    l->server = this;
    l->accepted = listen == nullptr;
    l->tls = std::move(tls);
    const int listen_fd = listen ? listen->get() : -1;
    // MHD refuses MHD_OPTION_LISTEN_SOCKET (even -1) with MHD_USE_NO_LISTEN_SOCKET.
    MHD_OptionItem listen_option[] = {{MHD_OPTION_LISTEN_SOCKET, listen_fd, nullptr},
                                      {MHD_OPTION_END, 0, nullptr},
                                      {MHD_OPTION_END, 0, nullptr},
                                      {MHD_OPTION_END, 0, nullptr},
                                      {MHD_OPTION_END, 0, nullptr}};
    std::size_t next = 1;
    if (!listen) {
        listen_option[0].option = MHD_OPTION_END;
        next = 0;
    }
    static constexpr const char* tls_priorities = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
    if (l->tls) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
            throw std::runtime_error("libmicrohttpd was built without TLS");
        flags |= MHD_USE_TLS;
        // MHD's option array takes pointers as the third field.
        listen_option[next++] = {MHD_OPTION_HTTPS_MEM_CERT, 0, const_cast<char*>(l->tls->certificate_pem.c_str())};
        listen_option[next++] = {MHD_OPTION_HTTPS_MEM_KEY, 0, const_cast<char*>(l->tls->key_pem.c_str())};
        listen_option[next++] = {MHD_OPTION_HTTPS_PRIORITIES, 0, const_cast<char*>(tls_priorities)};
    }
    MHD_Daemon* d = MHD_start_daemon(
        flags, 0, nullptr, nullptr, &access_trampoline, this,
        MHD_OPTION_ARRAY, listen_option,
        MHD_OPTION_NOTIFY_COMPLETED, &completed_trampoline, this,
        MHD_OPTION_NOTIFY_CONNECTION, &connection_trampoline, l.get(),
        MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(limits_.max_connections),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, static_cast<unsigned>(limits_.max_per_address),
        MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(limits_.idle_timeout_sec),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<std::size_t>(64 * 1024),
        MHD_OPTION_END);
    if (!d)
        throw std::runtime_error(l->tls ? "libmicrohttpd refused to start (is the TLS certificate and key a matching PEM pair?)"
                                        : "libmicrohttpd refused to start");
    if (listen) listen->release();  // MHD closes it in MHD_stop_daemon
    l->daemon.reset(d);
    const MHD_DaemonInfo* info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info) throw std::runtime_error("libmicrohttpd has no epoll fd");
    sd_event_source* s = nullptr;
    int r = sd_event_add_io(event_, &s, info->epoll_fd, EPOLLIN, &io_trampoline, l.get());
    if (r < 0) throw std::runtime_error(std::string("sd_event_add_io: ") + std::strerror(-r));
    l->io.reset(s);
    // Accuracy 1 us: sd-event's default (0) is 250 ms, and MHD asks for a
    // timeout of 0 whenever it has more to send (a file body sent in parts).
    r = sd_event_add_time(event_, &s, CLOCK_MONOTONIC, 0, 1, &timer_trampoline, l.get());
    if (r < 0) throw std::runtime_error(std::string("sd_event_add_time: ") + std::strerror(-r));
    l->timer.reset(s);
    sd_event_source_set_enabled(s, SD_EVENT_OFF);
    run(*l);
    listeners_.push_back(std::move(l));
    return *listeners_.back();
}

void Server::run(Listener& l) {
    MHD_run(l.daemon.get());
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (MHD_get_timeout(l.daemon.get(), &ms) == MHD_YES) {
        std::uint64_t now = 0;
        sd_event_now(event_, CLOCK_MONOTONIC, &now);
        sd_event_source_set_time(l.timer.get(), now + ms * 1000);
        sd_event_source_set_enabled(l.timer.get(), SD_EVENT_ONESHOT);
    } else {
        sd_event_source_set_enabled(l.timer.get(), SD_EVENT_OFF);
    }
}

int Server::on_access(MHD_Connection* c, const char* url, const char* method, const char* upload,
                      std::size_t* upload_size, void** state_ptr) {
    auto* state = static_cast<ConnectionState*>(*state_ptr);
    if (!state) {
        if (KeepAliveIdle* idle = KeepAliveIdle::of(c)) idle->disarm();  // a request after all
        auto fresh = std::make_unique<ConnectionState>(limits_.max_fields);
        Request& req = fresh->request;
        req.method = method ? method : "";
        req.path = url ? url : "";
        req.client_address = client_address(c);
        if (const char* ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE))
            req.content_type = ct;
        MHD_get_connection_values(c, MHD_HEADER_KIND, &collect_header, &req.headers);
        const char* length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        const bool get_head = methods_ == Methods::get_head;
        if (get_head ? req.method != "GET" && req.method != "HEAD" : req.method != "POST") {
            fresh->early = Response::text(405, get_head ? "only GET and HEAD are served here\n" : "only POST is served here\n");
            fresh->early->headers.emplace_back("Allow", get_head ? "GET, HEAD" : "POST");
        } else if (length && std::strtoull(length, nullptr, 10) > limits_.max_body) {
            fresh->early = Response::text(413, "request body larger than " + std::to_string(limits_.max_body) + " bytes\n");
        } else if (!get_head && is_form_type(req.content_type)) {
            fresh->post.reset(MHD_create_post_processor(c, 1024, &post_iterator, fresh.get()));
            if (!fresh->post) fresh->early = Response::text(400, "unreadable form encoding\n");
        }
        *state_ptr = fresh.release();  // owned by MHD until on_completed
        return 1;
    }
    if (*upload_size > 0) {
        const std::size_t n = *upload_size;
        *upload_size = 0;
        if (state->early) return 1;  // drain, answer at the end
        if (state->request.body.size() + n > limits_.max_body) {
            state->early = Response::text(413, "request body larger than " + std::to_string(limits_.max_body) + " bytes\n");
            return 1;
        }
        state->request.body.append(upload, n);
        if (state->post && MHD_post_process(state->post.get(), upload, n) != MHD_YES) {
            const std::string why = state->form.error().empty() ? "malformed form body" : state->form.error();
            state->early = Response::text(400, why + "\n");
        }
        return 1;
    }
    // The request is complete (or was resumed with its answer).
    if (state->slot) {
        if (!state->slot->response) return 1;  // cannot happen: resumed without an answer
        return queue(c, *state->slot->response, *state) == MHD_YES;
    }
    if (!state->early && methods_ == Methods::post) {
        if (state->post) {
            state->post.reset();  // flushes the last field into the collector
            if (!state->form.error().empty()) state->early = Response::text(400, state->form.error() + "\n");
            else state->request.form = state->form.take();
        } else if (state->request.content_type.empty()) {
            FormResult parsed = parse_urlencoded(state->request.body, limits_.max_fields);
            if (!parsed.fields) state->early = Response::text(400, parsed.error + "\n");
            else state->request.form = std::move(*parsed.fields);
        }
    }
    if (state->early) return queue(c, *state->early, *state) == MHD_YES;
    state->slot = std::make_shared<ReplySlot>();
    state->slot->connection = c;
    state->slot->server_alive = alive_;
    state->slot->kick = kick_.get();
    handler_(std::move(state->request), Responder{state->slot});
    if (state->slot->response) return queue(c, *state->slot->response, *state) == MHD_YES;
    MHD_suspend_connection(c);
    state->slot->suspended = true;
    return 1;
}

void Server::on_completed(void** state_ptr) {
    std::unique_ptr<ConnectionState> state{static_cast<ConnectionState*>(*state_ptr)};
    *state_ptr = nullptr;
    if (state && state->slot) state->slot->gone = true;
}

}  // namespace rsm::http
