// GatewayConnection, the sessions of the logged-in user: the
// org.rsm.Gateway1 methods CreateSockdir, ListSessions, CreateSession,
// ConnectSession and TerminateSession. Each validates its arguments and
// hands over to the session registry, which answers the call.
#include "gateway_connection.hpp"

#include <cstring>
#include <string>
#include <string_view>

#include "bus/connection.hpp"
#include "bus/dict_reader.hpp"
#include "bus/error.hpp"
#include "bus/names.hpp"
#include "gateway_server.hpp"
#include "session/desktop_entry.hpp"
#include "session/session_id.hpp"
#include "session_registry.hpp"
#include "user_sockdir.hpp"
#include "util/log.hpp"

namespace rsm::manager {

using bus::BusError;
namespace err = names::error;

namespace {

// Reads an a{sv} of options, calling on_entry(key, type) positioned on the
// variant; the callee reads it (or throws). Unknown keys are the callee's
// business too.
template <class F>
void read_options(sd_bus_message* m, F&& on_entry) {
    bus::DictFailure failure;
    const int r = bus::read_dict(
        m,
        [&](std::string_view key, std::string_view contents) {
            on_entry(std::string(key), std::string(contents));
            return 0;
        },
        &failure);
    if (r >= 0) return;
    switch (failure.step) {
    case bus::DictStep::dictionary: throw BusError(err::invalid_argument, "options: expected a{sv}");
    case bus::DictStep::dictionary_end: throw BusError(err::invalid_argument, "options: malformed");
    default: throw BusError(err::invalid_argument, "options: malformed entry");
    }
}

std::string option_string(sd_bus_message* m, const std::string& key, const std::string& type) {
    const char* v = nullptr;
    if (type != "s" || sd_bus_message_read(m, "v", "s", &v) < 0)
        throw BusError(err::invalid_argument, key + ": expected a string (s), got '" + type + "'");
    if (std::strlen(v) > 4096) throw BusError(err::invalid_argument, key + ": too long");
    return v;
}

uint32_t option_u32(sd_bus_message* m, const std::string& key, const std::string& type) {
    uint32_t v = 0;
    if (type != "u" || sd_bus_message_read(m, "v", "u", &v) < 0)
        throw BusError(err::invalid_argument, key + ": expected an unsigned integer (u), got '" + type + "'");
    return v;
}

// Names (of [companion.*] tables): at most 8, each checked by the registry.
std::vector<std::string> option_names(sd_bus_message* m, const std::string& key, const std::string& type) {
    if (type != "as" || sd_bus_message_enter_container(m, 'v', "as") < 0)
        throw BusError(err::invalid_argument, key + ": expected an array of strings (as), got '" + type + "'");
    std::vector<std::string> v;
    const char* s = nullptr;
    int r;
    if (sd_bus_message_enter_container(m, 'a', "s") < 0) throw BusError(err::invalid_argument, key + ": malformed");
    while ((r = sd_bus_message_read(m, "s", &s)) > 0) {
        if (v.size() >= 8 || std::strlen(s) > 64) throw BusError(err::invalid_argument, key + ": too many or too long");
        v.emplace_back(s);
    }
    if (r < 0 || sd_bus_message_exit_container(m) < 0 || sd_bus_message_exit_container(m) < 0)
        throw BusError(err::invalid_argument, key + ": malformed");
    return v;
}

bool option_bool(sd_bus_message* m, const std::string& key, const std::string& type) {
    int v = 0;
    if (type != "b" || sd_bus_message_read(m, "v", "b", &v) < 0)
        throw BusError(err::invalid_argument, key + ": expected a boolean (b), got '" + type + "'");
    return v != 0;
}

void check_client_fields(std::string& address, const std::string& name) {
    if (!address.empty()) {
        std::string canonical;
        if (auto e = protocol::canonicalize_address(address, canonical))
            throw BusError(err::invalid_argument, "client_address: " + *e);
        address = canonical;
    }
    if (!name.empty())
        if (auto e = protocol::validate_host_name(name)) throw BusError(err::invalid_argument, "client_name: " + *e);
}

void check_session_id(const std::string& id) {
    if (!session::valid_session_id(id))
        throw BusError(err::invalid_argument, "session_id: expected 32 lower-case hex digits, got " +
                                                  protocol::quote_untrusted(id));
}

}  // namespace

int GatewayConnection::method_create_sockdir(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        self->require_login("CreateSockdir");
        std::string path;
        try {
            path = ensure_user_sockdir(self->server_.settings().runtime_dir, self->uid_);
        } catch (const std::exception& e) {
            throw BusError(err::failed, e.what());
        }
        log::info("Socket directory ready", {{"RSM_USER", self->user_}, {"RSM_SOCKDIR", path}});
        return sd_bus_reply_method_return(m, "s", path.c_str());
    });
}

void GatewayConnection::require_login(const char* method) const {
    if (state_ != LoginState::authenticated) throw BusError(err::not_authenticated, std::string(method) + ": log in first");
}

int GatewayConnection::method_list_sessions(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        self->require_login("ListSessions");
        sd_bus_message* raw = nullptr;
        bus::check(sd_bus_message_new_method_return(m, &raw), "reply");
        MessagePtr reply{raw};
        bus::check(sd_bus_message_open_container(reply.get(), 'a', "(susssssuuuttss)"), "reply");
        for (const session::Record* r : self->server_.sessions().sessions_of(self->uid_))
            bus::check(sd_bus_message_append(reply.get(), "(susssssuuuttss)", r->id.c_str(), r->uid, r->user.c_str(),
                                             session::to_string(r->state), r->type.c_str(), r->display.c_str(),
                                             r->desktop.c_str(), r->width, r->height, r->depth, r->created_usec,
                                             r->disconnected_usec, r->client_address.c_str(), r->client_name.c_str()),
                       "reply");
        bus::check(sd_bus_message_close_container(reply.get()), "reply");
        return sd_bus_send(nullptr, reply.get(), nullptr);
    });
}

int GatewayConnection::method_create_session(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        self->require_login("CreateSession");
        CreateRequest req;
        req.uid = self->uid_;
        req.user = self->user_;
        req.client_address = self->client_.address;
        req.client_name = self->client_.host_name;
        req.rhost = self->rhost();
        req.gateway = self->client_.gateway;
        read_options(m, [&](const std::string& key, const std::string& type) {
            if (key == "type") req.type = option_string(m, key, type);
            else if (key == "desktop") req.desktop = option_string(m, key, type);
            else if (key == "width") req.width = option_u32(m, key, type);
            else if (key == "height") req.height = option_u32(m, key, type);
            else if (key == "depth") req.depth = option_u32(m, key, type);
            else if (key == "client_address") req.client_address = option_string(m, key, type);
            else if (key == "client_name") req.client_name = option_string(m, key, type);
            else if (key == "new") req.force_new = option_bool(m, key, type);
            else if (key == "session_id") req.session_id = option_string(m, key, type);
            else if (key == "companions") req.companions = option_names(m, key, type);
            else throw BusError(err::invalid_argument, "options: unknown key " + protocol::quote_untrusted(key));
        });
        if (req.width < 64 || req.width > 16384 || req.height < 64 || req.height > 16384)
            throw BusError(err::invalid_argument, "width, height: expected 64..16384, got " +
                                                      std::to_string(req.width) + "x" + std::to_string(req.height));
        if (req.depth != 8 && req.depth != 15 && req.depth != 16 && req.depth != 24 && req.depth != 32)
            throw BusError(err::invalid_argument, "depth: expected 8, 15, 16, 24 or 32, got " + std::to_string(req.depth));
        if (!req.desktop.empty() && !session::valid_desktop_name(req.desktop))
            throw BusError(err::invalid_argument, "desktop: expected a desktop entry name, got " +
                                                      protocol::quote_untrusted(req.desktop));
        if (!req.session_id.empty()) check_session_id(req.session_id);
        if (req.force_new && !req.session_id.empty())
            throw BusError(err::invalid_argument, "options: \"new\" and \"session_id\" exclude each other");
        check_client_fields(req.client_address, req.client_name);
        if (!self->trusted_) {
            // Validated, then not believed: the record says nothing an
            // untrusted peer claimed.
            req.client_address.clear();
            req.client_name.clear();
        }
        self->server_.sessions().create(m, std::move(req), self->executor_);
        return 1;  // answered by the registry
    });
}

int GatewayConnection::method_connect_session(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        self->require_login("ConnectSession");
        std::string id = bus::read_string(m);
        check_session_id(id);
        std::string address = self->client_.address, name = self->client_.host_name;
        read_options(m, [&](const std::string& key, const std::string& type) {
            if (key == "client_address") address = option_string(m, key, type);
            else if (key == "client_name") name = option_string(m, key, type);
            else throw BusError(err::invalid_argument, "options: unknown key " + protocol::quote_untrusted(key));
        });
        check_client_fields(address, name);
        if (!self->trusted_) {
            address.clear();
            name.clear();
        }
        self->server_.sessions().connect(m, self->uid_, id, address, name);
        return 1;
    });
}

int GatewayConnection::method_shadow_session(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        self->require_login("ShadowSession");
        ShadowRequest req;
        req.uid = self->uid_;
        req.user = self->user_;
        req.session_id = bus::read_string(m);
        check_session_id(req.session_id);
        read_options(m, [&](const std::string& key, const std::string&) {
            throw BusError(err::invalid_argument, "options: unknown key " + protocol::quote_untrusted(key));
        });
        // The owner's dialog names where the request comes from only when
        // a trusted gateway said so.
        if (self->trusted_) req.client_address = self->client_.address;
        self->server_.sessions().shadow(m, std::move(req));
        return 1;
    });
}

int GatewayConnection::method_terminate_session(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<GatewayConnection*>(userdata);
    return bus::reply_errors(error, [&] {
        self->require_login("TerminateSession");
        std::string id = bus::read_string(m);
        check_session_id(id);
        self->server_.sessions().terminate_owned(self->uid_, id);
        return sd_bus_reply_method_return(m, "");
    });
}

}  // namespace rsm::manager
