#include "rsm_link.hpp"

#include <cstring>
#include <string_view>

#include "bus/names.hpp"
#include "util/log.hpp"

namespace rsm::nx {
namespace {

constexpr std::size_t max_rows = 256;

std::string error_of(sd_bus_message* m) {
    const sd_bus_error* e = sd_bus_message_get_error(m);
    std::string out = e && e->name ? e->name : "error";
    if (e && e->message && *e->message) out += std::string{": "} + e->message;
    return out;
}

// ConnectSession's details: "display" (":N") and "nx_cookie".
int read_nx_details(sd_bus_message* m, int& display, std::string& cookie, std::string& protocol) {
    int r = sd_bus_message_enter_container(m, 'a', "{sv}");
    if (r < 0) return r;
    while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
        const char* key = nullptr;
        if ((r = sd_bus_message_read(m, "s", &key)) < 0) return r;
        const std::string_view k = key;
        if (k == "display" || k == "nx_cookie" || k == "protocol") {
            const char* value = nullptr;
            if ((r = sd_bus_message_read(m, "v", "s", &value)) < 0) return r;
            if (k == "nx_cookie") cookie = value;
            else if (k == "protocol") protocol = value;
            else if (value[0] == ':') {
                char* end = nullptr;
                const long n = std::strtol(value + 1, &end, 10);
                if (end != value + 1 && *end == '\0' && n >= 0 && n < 60000) display = static_cast<int>(n);
            }
        } else if ((r = sd_bus_message_skip(m, "v")) < 0) {
            return r;
        }
        if ((r = sd_bus_message_exit_container(m)) < 0) return r;
    }
    if (r < 0) return r;
    return sd_bus_message_exit_container(m);
}

bool hex_cookie(std::string_view c) {
    if (c.size() != 32) return false;
    for (char x : c)
        if (!((x >= '0' && x <= '9') || (x >= 'a' && x <= 'f'))) return false;
    return true;
}

// ConnectSession's or ShadowSession's reply into `c`: the NX stream, the
// display and the cookie, and for ConnectSession (`with_control`) the
// control channel; false if any is missing or malformed.
bool read_nx_reply(sd_bus_message* m, Connected& c, bool with_control) {
    std::string protocol;
    UniqueFd control;
    if (gateway::read_connect_fds(m, c.display, control) < 0 ||
        read_nx_details(m, c.info.display, c.info.cookie, protocol) < 0)
        return false;
    if (!c.display || (with_control && !control) || c.info.display < 0 || protocol != "nx" ||
        !hex_cookie(c.info.cookie))
        return false;
    c.control = std::move(control);
    return true;
}

}  // namespace

bool read_session_rows(sd_bus_message* m, std::vector<SessionRow>& rows) {
    int r = sd_bus_message_enter_container(m, 'a', "(susssssuuuttss)");
    while (r >= 0) {
        const char *id = nullptr, *user = nullptr, *state = nullptr, *type = nullptr, *display = nullptr,
                   *desktop = nullptr, *address = nullptr, *name = nullptr;
        std::uint32_t uid = 0, w = 0, h = 0, depth = 0;
        std::uint64_t created = 0, disconnected = 0;
        r = sd_bus_message_read(m, "(susssssuuuttss)", &id, &uid, &user, &state, &type, &display, &desktop, &w, &h,
                                &depth, &created, &disconnected, &address, &name);
        if (r <= 0) break;
        if (rows.size() >= max_rows) continue;
        SessionRow s;
        s.id = id;
        s.state = state;
        s.type = type;
        s.width = w;
        s.height = h;
        s.depth = depth;
        if (display[0] == ':') {
            char* end = nullptr;
            const long n = std::strtol(display + 1, &end, 10);
            if (end != display + 1 && n >= 0 && n < 60000) s.display = static_cast<int>(n);
        }
        rows.push_back(std::move(s));
    }
    return r >= 0;
}

RsmLink::RsmLink(sd_event* event, std::string socket_path) : event_{event}, socket_path_{std::move(socket_path)} {}

void RsmLink::login(std::string user, std::string password, std::string client_address, LoginDone done) {
    gateway_ = std::make_unique<gateway::GatewayClient>(event_, socket_path_);
    gateway::GatewayRequest g;
    g.user = std::move(user);
    g.password = std::move(password);
    g.client_address = std::move(client_address);
    g.gateway = "nxserver";
    g.want_session = false;
    gateway_->start(std::move(g), [done = std::move(done)](gateway::GatewayOutcome o) {
        if (o.ok) return done(Dialogue::LoginResult::ok, {});
        const bool refused = o.error_name == names::error::authentication_failed ||
                             o.error_name == names::error::login_denied;
        done(refused ? Dialogue::LoginResult::refused : Dialogue::LoginResult::error,
             o.error_name + ": " + o.error_message);
    });
}

bool RsmLink::call(const char* method, const std::function<int(sd_bus_message*)>& append, Reply reply) {
    if (!gateway_ || !gateway_->bus()) return false;
    sd_bus_message* raw = nullptr;
    int r = sd_bus_message_new_method_call(gateway_->bus(), &raw, names::gateway_bus_name, names::gateway_path,
                                           names::gateway_interface, method);
    MessagePtr m{raw};
    if (r >= 0) r = append(raw);
    sd_bus_slot* slot = nullptr;
    if (r >= 0) r = sd_bus_call_async(gateway_->bus(), &slot, raw, &RsmLink::on_reply, this,
                                      gateway::GatewayClient::call_timeout_usec);
    if (r < 0) return false;
    pending_.reset(slot);
    reply_ = std::move(reply);
    return true;
}

int RsmLink::on_reply(sd_bus_message* m, void* self, sd_bus_error*) {
    auto* link = static_cast<RsmLink*>(self);
    link->pending_.reset();
    auto reply = std::exchange(link->reply_, nullptr);
    if (reply) reply(m);
    return 0;
}

void RsmLink::list(ListDone done) {
    const bool ok = call("ListSessions", [](sd_bus_message*) { return 0; }, [done](sd_bus_message* m) {
        std::vector<SessionRow> rows;
        if (sd_bus_message_is_method_error(m, nullptr)) return done(false, {}, "ListSessions: " + error_of(m));
        if (!read_session_rows(m, rows)) return done(false, {}, "ListSessions: malformed reply");
        done(true, std::move(rows), {});
    });
    if (!ok) done(false, {}, "ListSessions: not sent");
}

void RsmLink::start(unsigned width, unsigned height, ConnectDone done) {
    const bool ok = call(
        "CreateSession",
        [width, height](sd_bus_message* m) {
            int r = sd_bus_message_open_container(m, 'a', "{sv}");
            if (r >= 0)
                r = sd_bus_message_append(m, "{sv}{sv}{sv}{sv}", "type", "s", "nxagent", "width", "u", width, "height",
                                          "u", height, "depth", "u", 24u);
            if (r >= 0) r = sd_bus_message_close_container(m);
            return r;
        },
        [this, done](sd_bus_message* m) {
            if (sd_bus_message_is_method_error(m, nullptr)) {
                Connected c;
                c.error = "CreateSession: " + error_of(m);
                return done(std::move(c));
            }
            const char* id = nullptr;
            int reused = 0;
            if (sd_bus_message_read(m, "sb", &id, &reused) < 0) {
                Connected c;
                c.error = "CreateSession: malformed reply";
                return done(std::move(c));
            }
            connect(id, done);
        });
    if (!ok) {
        Connected c;
        c.error = "CreateSession: not sent";
        done(std::move(c));
    }
}

void RsmLink::restore(std::string id, ConnectDone done) {
    list([this, id, done](bool ok, std::vector<SessionRow> rows, std::string error) {
        Connected c;
        if (!ok) {
            c.error = std::move(error);
            return done(std::move(c));
        }
        for (const auto& s : rows) {
            if (s.id != id || s.type != "nxagent") continue;
            if (s.state != "disconnected") {
                c.error = "Error: session " + id + " is " + s.state + ", not suspended";
                return done(std::move(c));
            }
            return connect(id, done);
        }
        c.error = "Failed to load session";
        done(std::move(c));
    });
}

void RsmLink::connect(std::string id, ConnectDone done) {
    const bool ok = call(
        "ConnectSession",
        [&id](sd_bus_message* m) {
            int r = sd_bus_message_append(m, "s", id.c_str());
            if (r >= 0) r = sd_bus_message_open_container(m, 'a', "{sv}");
            if (r >= 0) r = sd_bus_message_append(m, "{sv}", "client_name", "s", "nxserver");
            if (r >= 0) r = sd_bus_message_close_container(m);
            return r;
        },
        [id, done](sd_bus_message* m) {
            Connected c;
            if (sd_bus_message_is_method_error(m, nullptr)) {
                // (While nxagent does not listen again yet after a loss,
                // rsm's executor waits for it before it answers.)
                c.error = "ConnectSession: " + error_of(m);
                return done(std::move(c));
            }
            if (!read_nx_reply(m, c, true)) {
                Connected bad;
                bad.error = "ConnectSession: the reply has no NX stream, display or cookie";
                return done(std::move(bad));
            }
            c.info.id = id;
            c.ok = true;
            done(std::move(c));
        });
    if (!ok) {
        Connected c;
        c.error = "ConnectSession: not sent";
        done(std::move(c));
    }
}

void RsmLink::shadow(std::string id, ConnectDone done) {
    const bool ok = call(
        "ShadowSession",
        [&id](sd_bus_message* m) {
            int r = sd_bus_message_append(m, "s", id.c_str());
            if (r >= 0) r = sd_bus_message_append(m, "a{sv}", 0);
            return r;
        },
        [id, done](sd_bus_message* m) {
            Connected c;
            if (sd_bus_message_is_method_error(m, nullptr)) {
                c.error = sd_bus_message_is_method_error(m, names::error::consent_refused)
                              ? "Error: " + std::string{sd_bus_message_get_error(m)->message}
                              : "ShadowSession: " + error_of(m);
                return done(std::move(c));
            }
            if (!read_nx_reply(m, c, false)) {
                Connected bad;
                bad.error = "ShadowSession: the reply has no NX stream, display or cookie";
                return done(std::move(bad));
            }
            c.info.id = id;
            c.info.shadow = true;
            c.ok = true;
            done(std::move(c));
        });
    if (!ok) {
        Connected c;
        c.error = "ShadowSession: not sent";
        done(std::move(c));
    }
}

void RsmLink::terminate(std::string id, TerminateDone done) {
    // Only the user's own nxagent sessions: rsm refuses others' anyway, and
    // an NX client should not end the user's other desktops.
    list([this, id, done](bool ok, std::vector<SessionRow> rows, std::string error) {
        if (!ok) return done(false, std::move(error));
        bool found = false;
        for (const auto& s : rows) found = found || (s.id == id && s.type == "nxagent");
        if (!found) return done(false, "Error: no such session: '" + id + "'");
        const bool sent = call("TerminateSession", [&id](sd_bus_message* m) { return sd_bus_message_append(m, "s", id.c_str()); },
                               [done](sd_bus_message* m) {
                                   if (sd_bus_message_is_method_error(m, nullptr))
                                       return done(false, "TerminateSession: " + error_of(m));
                                   done(true, {});
                               });
        if (!sent) done(false, "TerminateSession: not sent");
    });
}

}  // namespace rsm::nx
