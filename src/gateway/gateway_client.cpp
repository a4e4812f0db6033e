#include "gateway/gateway_client.hpp"

#include <cstring>
#include <fcntl.h>
#include <string_view>

#include "bus/names.hpp"
#include "util/log.hpp"

namespace rsm::gateway {

namespace {

std::string errno_text(int r) { return std::strerror(r < 0 ? -r : r); }

}  // namespace

GatewayClient::GatewayClient(sd_event* event, std::string socket_path)
    : event_{event}, socket_path_{std::move(socket_path)} {}

GatewayClient::~GatewayClient() {
    if (!request_.password.empty()) explicit_bzero(request_.password.data(), request_.password.size());
}

void GatewayClient::start(GatewayRequest request, Done done) {
    request_ = std::move(request);
    done_ = std::move(done);
    sd_bus* b = nullptr;
    int r = sd_bus_new(&b);
    if (r < 0) return finish_error("sd_bus_new", errno_text(r));
    bus_.reset(b);
    const std::string address = "unix:path=" + socket_path_;
    if ((r = sd_bus_set_address(b, address.c_str())) < 0) return finish_error("sd_bus_set_address", errno_text(r));
    // The gateway socket answers Hello like a bus (docs/gateway.md); being a
    // bus client lets sd-bus route replies by serial as usual.
    sd_bus_set_bus_client(b, 1);
    sd_bus_negotiate_fds(b, 1);
    sd_bus_set_method_call_timeout(b, call_timeout_usec);
    if ((r = sd_bus_start(b)) < 0) return finish_error("connect " + socket_path_, errno_text(r));
    if ((r = sd_bus_attach_event(b, event_, SD_EVENT_PRIORITY_NORMAL)) < 0)
        return finish_error("sd_bus_attach_event", errno_text(r));
    call_login();
}

bool GatewayClient::call_login() {
    step_ = Step::login;
    sd_bus_message* m = nullptr;
    int r = sd_bus_message_new_method_call(bus_.get(), &m, names::gateway_bus_name, names::gateway_path,
                                           names::gateway_interface, "LoginWithPassword");
    if (r < 0) {
        finish_error("LoginWithPassword", errno_text(r));
        return false;
    }
    MessagePtr msg{m};
    // Sensitive: sd-bus wipes the message's memory when it is freed.
    sd_bus_message_sensitive(m);
    r = sd_bus_message_append(m, "ss", request_.user.c_str(), request_.password.c_str());
    explicit_bzero(request_.password.data(), request_.password.size());
    request_.password.clear();
    if (r >= 0) r = sd_bus_message_open_container(m, 'a', "{sv}");
    if (r >= 0 && !request_.client_address.empty())
        r = sd_bus_message_append(m, "{sv}", "address", "s", request_.client_address.c_str());
    if (r >= 0) r = sd_bus_message_append(m, "{sv}", "gateway", "s", request_.gateway.c_str());
    if (r >= 0) r = sd_bus_message_close_container(m);
    sd_bus_slot* slot = nullptr;
    if (r >= 0) r = sd_bus_call_async(bus_.get(), &slot, m, &GatewayClient::on_reply, this, 0);
    if (r < 0) {
        finish_error("LoginWithPassword", errno_text(r));
        return false;
    }
    pending_.reset(slot);
    return true;
}

bool GatewayClient::call_create() {
    step_ = Step::create;
    sd_bus_slot* slot = nullptr;
    sd_bus_message* m = nullptr;
    int r = sd_bus_message_new_method_call(bus_.get(), &m, names::gateway_bus_name, names::gateway_path,
                                           names::gateway_interface, "CreateSession");
    MessagePtr msg{m};
    if (r >= 0) r = sd_bus_message_open_container(m, 'a', "{sv}");
    if (r >= 0)
        r = sd_bus_message_append(m, "{sv}{sv}{sv}{sv}", "type", "s", request_.type.c_str(), "width", "u",
                                  request_.width, "height", "u", request_.height, "depth", "u", request_.depth);
    if (r >= 0 && !request_.companions.empty()) {
        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0) r = sd_bus_message_append(m, "s", "companions");
        if (r >= 0) r = sd_bus_message_open_container(m, 'v', "as");
        if (r >= 0) r = sd_bus_message_open_container(m, 'a', "s");
        for (std::size_t i = 0; r >= 0 && i < request_.companions.size(); ++i)
            r = sd_bus_message_append(m, "s", request_.companions[i].c_str());
        for (int level = 0; r >= 0 && level < 3; ++level) r = sd_bus_message_close_container(m);
    }
    if (r >= 0) r = sd_bus_message_close_container(m);
    if (r >= 0) r = sd_bus_call_async(bus_.get(), &slot, m, &GatewayClient::on_reply, this, 0);
    if (r < 0) {
        finish_error("CreateSession", errno_text(r));
        return false;
    }
    pending_.reset(slot);
    return true;
}

bool GatewayClient::call_connect() {
    step_ = Step::connect;
    sd_bus_slot* slot = nullptr;
    const int r = sd_bus_call_method_async(bus_.get(), &slot, names::gateway_bus_name, names::gateway_path,
                                           names::gateway_interface, "ConnectSession", &GatewayClient::on_reply,
                                           this, "sa{sv}", outcome_.session_id.c_str(), 0);
    if (r < 0) {
        finish_error("ConnectSession", errno_text(r));
        return false;
    }
    pending_.reset(slot);
    return true;
}

int GatewayClient::on_reply(sd_bus_message* m, void* self, sd_bus_error*) {
    static_cast<GatewayClient*>(self)->handle_reply(m);
    return 0;
}

int read_connect_fds(sd_bus_message* m, UniqueFd& display, UniqueFd& control) {
    int r = sd_bus_message_enter_container(m, 'a', "{sh}");
    if (r < 0) return r;
    const char* key = nullptr;
    int fd = -1;
    while ((r = sd_bus_message_read(m, "{sh}", &key, &fd)) > 0) {
        UniqueFd* target = std::string_view(key) == "display" ? &display
                           : std::string_view(key) == "control" ? &control
                                                                 : nullptr;
        if (!target) continue;
        const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0) return -errno;
        target->reset(copy);
    }
    if (r < 0) return r;
    return sd_bus_message_exit_container(m);
}

namespace {

int read_details(sd_bus_message* m, int& display_number, std::string& protocol) {
    int r = sd_bus_message_enter_container(m, 'a', "{sv}");
    if (r < 0) return r;
    while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
        const char* key = nullptr;
        if ((r = sd_bus_message_read(m, "s", &key)) < 0) return r;
        const std::string_view k = key;
        if (k == "display" || k == "protocol") {
            const char* value = nullptr;
            if ((r = sd_bus_message_read(m, "v", "s", &value)) < 0) return r;
            if (k == "protocol") {
                protocol = value;
            } else if (value[0] == ':') {
                char* end = nullptr;
                const long n = std::strtol(value + 1, &end, 10);
                if (end != value + 1 && (*end == '\0' || *end == '.') && n >= 0 && n < 60000)
                    display_number = static_cast<int>(n);
            }
        } else if ((r = sd_bus_message_skip(m, "v")) < 0) {
            return r;
        }
        if ((r = sd_bus_message_exit_container(m)) < 0) return r;
    }
    if (r < 0) return r;
    return sd_bus_message_exit_container(m);
}

}  // namespace

void GatewayClient::handle_reply(sd_bus_message* m) {
    pending_.reset();
    if (sd_bus_message_is_method_error(m, nullptr)) {
        const sd_bus_error* e = sd_bus_message_get_error(m);
        return finish_error(e && e->name ? e->name : "error", e && e->message ? e->message : "");
    }
    int r = 0;
    switch (step_) {
    case Step::login: {
        std::uint32_t uid = 0;
        const char* user = nullptr;
        if ((r = sd_bus_message_read(m, "us", &uid, &user)) < 0) return finish_error("LoginWithPassword reply", errno_text(r));
        log::info("Login accepted by rsm", {{"RSM_USER", user}, {"RSM_UID", std::to_string(uid)}});
        if (!request_.want_session) return finish();
        call_create();
        return;
    }
    case Step::create: {
        const char* id = nullptr;
        int reused = 0;
        if ((r = sd_bus_message_read(m, "sb", &id, &reused)) < 0) return finish_error("CreateSession reply", errno_text(r));
        outcome_.session_id = id;
        outcome_.reused = reused != 0;
        call_connect();
        return;
    }
    case Step::connect:
        if ((r = read_connect_fds(m, outcome_.display, outcome_.control)) < 0)
            return finish_error("ConnectSession reply (fds)", errno_text(r));
        if ((r = read_details(m, outcome_.display_number, outcome_.protocol)) < 0)
            return finish_error("ConnectSession reply (details)", errno_text(r));
        if (!outcome_.display || !outcome_.control || outcome_.display_number < 0)
            return finish_error("ConnectSession reply", "no display fd, control fd or display number");
        return finish();
    }
}

void GatewayClient::finish_error(std::string name, std::string message) {
    outcome_ = GatewayOutcome{};
    outcome_.ok = false;
    outcome_.error_name = std::move(name);
    outcome_.error_message = std::move(message);
    if (auto d = std::exchange(done_, nullptr)) d(std::move(outcome_));
}

void GatewayClient::finish() {
    outcome_.ok = true;
    if (auto d = std::exchange(done_, nullptr)) d(std::move(outcome_));
}

}  // namespace rsm::gateway
