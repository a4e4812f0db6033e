#include "session_attach.hpp"

#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <string_view>
#include <vector>

#include "gateway/gateway_client.hpp"
#include "bus/names.hpp"
#include "client_link.hpp"
#include "util/handles.hpp"
#include "util/log.hpp"

namespace rsm::gateway {

namespace {

constexpr std::string_view auth_failed = "Authentication failed";

std::string errno_text(int r) { return std::strerror(r < 0 ? -r : r); }

// A Gateway1 call that failed (sd_bus_call_method's r < 0): `error` says
// which and why; `e` is freed. Returns r.
int call_failed(const char* method, sd_bus_error& e, int r, std::string& error) {
    error = std::string(method) + ": " + (e.message ? e.message : errno_text(r));
    sd_bus_error_free(&e);
    return r;
}

// The user's session ids starting with `prefix`, or when `display` is
// given those on that X display (ListSessions).
int matching_sessions(sd_bus* bus, const std::string& prefix, const std::string& display,
                      std::vector<std::string>& ids, std::vector<std::string>& types, std::string& error) {
    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    int r = sd_bus_call_method(bus, names::gateway_bus_name, names::gateway_path, names::gateway_interface,
                               "ListSessions", &e, &reply, "");
    MessagePtr owned{reply};
    if (r < 0) return call_failed("ListSessions", e, r, error);
    if ((r = sd_bus_message_enter_container(reply, 'a', "(susssssuuuttss)")) < 0) return r;
    while ((r = sd_bus_message_enter_container(reply, 'r', "susssssuuuttss")) > 0) {
        const char* id = nullptr;
        const char* type = nullptr;
        const char* on = nullptr;
        if ((r = sd_bus_message_read(reply, "s", &id)) < 0) return r;
        if ((r = sd_bus_message_skip(reply, "uss")) < 0) return r;
        if ((r = sd_bus_message_read(reply, "ss", &type, &on)) < 0) return r;
        if (display.empty() ? std::string_view(id).starts_with(prefix) : display == on) {
            ids.emplace_back(id);
            types.emplace_back(type);
        }
        if ((r = sd_bus_message_skip(reply, "suuuttss")) < 0) return r;
        if ((r = sd_bus_message_exit_container(reply)) < 0) return r;
    }
    return r < 0 ? r : 0;
}

// The uid this connection is logged in as (GetLoginState).
int logged_in_uid(sd_bus* bus, uid_t& uid, std::string& error) {
    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    int r = sd_bus_call_method(bus, names::gateway_bus_name, names::gateway_path, names::gateway_interface,
                               "GetLoginState", &e, &reply, "");
    MessagePtr owned{reply};
    if (r < 0) return call_failed("GetLoginState", e, r, error);
    const char* state = nullptr;
    std::uint32_t u = 0;
    if ((r = sd_bus_message_read(reply, "su", &state, &u)) < 0) return r;
    uid = u;
    return 0;
}

int create_session(sd_bus* bus, const GatewayConfig& config, const UserSelector& selector,
                   const std::string& session_id, const std::string& type, std::string& id, bool& reused,
                   std::string& error) {
    sd_bus_message* m = nullptr;
    int r = sd_bus_message_new_method_call(bus, &m, names::gateway_bus_name, names::gateway_path,
                                           names::gateway_interface, "CreateSession");
    MessagePtr msg{m};
    if (r >= 0) r = sd_bus_message_open_container(m, 'a', "{sv}");
    if (r >= 0)
        r = sd_bus_message_append(m, "{sv}{sv}{sv}{sv}", "type", "s", type.c_str(), "width", "u", config.width, "height",
                                  "u", config.height, "depth", "u", config.depth);
    if (r >= 0 && selector.kind == UserSelector::Kind::new_session) r = sd_bus_message_append(m, "{sv}", "new", "b", 1);
    if (r >= 0 && !session_id.empty()) r = sd_bus_message_append(m, "{sv}", "session_id", "s", session_id.c_str());
    if (r >= 0) r = sd_bus_message_close_container(m);
    if (r < 0) {
        error = "CreateSession: " + errno_text(r);
        return r;
    }
    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    r = sd_bus_call(bus, m, 0, &e, &reply);
    MessagePtr owned{reply};
    if (r < 0) {
        error = std::string("CreateSession: ") + (e.name ? e.name : "") + ": " + (e.message ? e.message : errno_text(r));
        sd_bus_error_free(&e);
        return r;
    }
    const char* sid = nullptr;
    int was_reused = 0;
    if ((r = sd_bus_message_read(reply, "sb", &sid, &was_reused)) < 0) return r;
    id = sid;
    reused = was_reused != 0;
    return 0;
}

int connect_session(sd_bus* bus, const std::string& id, UniqueFd& display, UniqueFd& control, std::string& error) {
    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    int r = sd_bus_call_method(bus, names::gateway_bus_name, names::gateway_path, names::gateway_interface,
                               "ConnectSession", &e, &reply, "sa{sv}", id.c_str(), 0);
    MessagePtr owned{reply};
    if (r < 0) return call_failed("ConnectSession", e, r, error);
    if ((r = gateway::read_connect_fds(reply, display, control)) < 0) return r;
    if (!display || !control) {
        error = "ConnectSession: no display or control fd";
        return -EPROTO;
    }
    return 0;
}

}  // namespace

AttachResult login_and_attach(const GatewayConfig& config, const std::string& gateway_socket,
                              const UserSelector& selector, std::string password, const std::string& client_address,
                              std::uint64_t deadline_usec, const std::string& type, const std::string& display,
                              const std::vector<std::string>& named_types) {
    AttachResult result;
    result.viewer_reason = std::string(auth_failed);
    // A gateway run by a user serves that user only (user_mode.hpp): any
    // other name is refused here, and its password never reaches rsm.
    if (!user_mode_admits(config.served_user, selector.user)) {
        result.log_error = "this gateway runs as " + config.served_user->name + " and serves no other user";
        return result;
    }
    sd_event* e = nullptr;
    if (const int r = sd_event_new(&e); r < 0) {
        result.log_error = "sd_event_new: " + errno_text(r);
        return result;
    }
    EventPtr event{e};
    gateway::GatewayClient client{e, gateway_socket};
    gateway::GatewayRequest request;
    request.user = selector.user;
    request.password = std::move(password);
    request.client_address = client_address;
    request.gateway = "rsm-gateway";
    request.want_session = false;  // the selector decides CreateSession's options below
    bool done = false;
    gateway::GatewayOutcome outcome;
    client.start(std::move(request), [&](gateway::GatewayOutcome o) {
        outcome = std::move(o);
        done = true;
    });
    while (!done) {
        const std::uint64_t now = now_usec();
        if (now >= deadline_usec) {
            result.log_error = "the login did not finish before the authentication deadline";
            return result;
        }
        if (const int r = sd_event_run(e, deadline_usec - now); r < 0) {
            result.log_error = "sd_event_run: " + errno_text(r);
            return result;
        }
    }
    if (!outcome.ok) {
        result.log_error = outcome.error_name + ": " + outcome.error_message;
        return result;
    }
    sd_bus* bus = client.bus();
    std::string session_id, error;
    if (config.served_user) {
        // The name matched; the account rsm logged in must be ours too.
        uid_t uid = 0;
        if (const int r = logged_in_uid(bus, uid, error); r < 0 || !user_mode_admits_uid(config.served_user, uid)) {
            result.log_error = r < 0 ? (error.empty() ? "GetLoginState reply: " + errno_text(r) : error)
                                     : "rsm logged in uid " + std::to_string(uid) + ", not this gateway's " +
                                           std::to_string(config.served_user->uid);
            return result;
        }
    }
    // Logged in: from here a failure is not about the password.
    std::string session_type = type;
    const bool by_display = selector.kind == UserSelector::Kind::policy && !display.empty();
    if (selector.kind == UserSelector::Kind::session || by_display) {
        std::vector<std::string> ids, types;
        if (const int r =
                matching_sessions(bus, selector.session_prefix, by_display ? display : "", ids, types, error);
            r < 0) {
            result.viewer_reason = "Could not list your sessions";
            result.log_error = error.empty() ? "ListSessions reply: " + errno_text(r) : error;
            return result;
        }
        if (by_display && ids.size() != 1) {
            result.viewer_reason = "No session of yours is on display " + display;
            result.log_error = result.viewer_reason;
            return result;
        }
        if (ids.size() != 1) {
            result.viewer_reason = ids.empty() ? "No session of yours has an id starting with " + selector.session_prefix
                                               : "More than one of your sessions has an id starting with " +
                                                     selector.session_prefix;
            result.log_error = result.viewer_reason;
            return result;
        }
        session_id = ids.front();
        // CreateSession with a session id wants that session's type.
        if (std::find(named_types.begin(), named_types.end(), types.front()) != named_types.end())
            session_type = types.front();
        else if (types.front() != type) {
            result.viewer_reason = "Your session " + session_id.substr(0, 8) + " is of type " + types.front() +
                                   ", which this client cannot show";
            result.log_error = result.viewer_reason;
            return result;
        }
    }
    result.type = session_type;
    if (const int r = create_session(bus, config, selector, session_id, session_type, result.session_id, result.reused,
                                        error);
        r < 0) {
        result.viewer_reason = "Could not start or find your session";
        result.log_error = error.empty() ? "CreateSession reply: " + errno_text(r) : error;
        return result;
    }
    if (const int r = connect_session(bus, result.session_id, result.display, result.control, error); r < 0) {
        result.viewer_reason = "Could not connect to your session";
        result.log_error = error.empty() ? "ConnectSession reply: " + errno_text(r) : error;
        return result;
    }
    result.ok = true;
    result.viewer_reason.clear();
    return result;
}

}  // namespace rsm::gateway
