// Executor1.Shadow: seeing and controlling this session's desktop from
// another connection (shadow_session.hpp; docs/nx.md "Shadowing"). The
// reply, once the owner agreed and the shadowing nxagent listens, is shaped
// like Connect's: the connection to it, its display and its NX cookie.
// Every Shadow taken ends with a ShadowEnded signal once its nxagent is
// gone, so that the manager frees its display number.
#include "executor.hpp"

#include <algorithm>
#include <memory>

#include "bus/connection.hpp"
#include "bus/error.hpp"
#include "bus/names.hpp"

namespace rsm::session {
namespace {

using bus::BusError;
namespace err = names::error;

// Shadowings alive at once per session.
constexpr std::size_t max_shadows = 4;

}  // namespace

int Executor::method_shadow(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept {
    return bus::reply_errors(error, [&] { return static_cast<Executor*>(userdata)->shadow(m); });
}

int Executor::shadow(sd_bus_message* m) {
    ShadowParams p = read_shadow_params(m);
    try {
        require_running("Shadow");
        if (!params_.has_display() || ready_.xauth_cookie.empty())
            throw BusError(err::invalid_argument, "Session " + record_.id + " has no X display to shadow");
        const auto alive = std::count_if(shadows_.begin(), shadows_.end(), [](const auto& s) { return !s->gone(); });
        if (static_cast<std::size_t>(alive) >= max_shadows)
            throw BusError(err::too_many_attempts, "Session " + record_.id + " is shadowed " +
                                                       std::to_string(max_shadows) + " times already");
    } catch (...) {
        // Nothing started: the number is free again.
        on_shadow_gone(p.display_number);
        throw;
    }

    ShadowTarget target{UserIdentity{ready_.uid, ready_.gid, user_, home_}, record_.id, params_.display_number,
                        ready_.xauth_cookie, params_.xauthority};
    const uint32_t display = p.display_number;
    // std::function needs a copyable capture.
    std::shared_ptr<sd_bus_message> call(sd_bus_message_ref(m), sd_bus_message_unref);
    ShadowSession::Callbacks cb;
    cb.on_ready = [this, call, display](UniqueFd fd, const std::string& cookie_hex) {
        try {
            sd_bus_message* raw = nullptr;
            bus::check(sd_bus_message_new_method_return(call.get(), &raw), "sd_bus_message_new_method_return");
            MessagePtr reply{raw};
            const std::string name = ":" + std::to_string(display);
            bus::check(sd_bus_message_append(reply.get(), "a{sh}", 1, "display", fd.get()), "append fds");
            bus::check(sd_bus_message_append(reply.get(), "a{sv}", 3, "protocol", "s", "nx", "display", "s",
                                             name.c_str(), "nx_cookie", "s", cookie_hex.c_str()),
                       "append details");
            bus::check(sd_bus_send(nullptr, reply.get(), nullptr), "send the Shadow reply");
        } catch (const std::exception& e) {
            (void)sd_bus_reply_method_errorf(call.get(), err::failed, "%s", e.what());
        }
    };
    cb.on_failed = [call](const char* name, const std::string& message) {
        (void)sd_bus_reply_method_errorf(call.get(), name, "%s", message.c_str());
    };
    cb.on_gone = [this, display] { on_shadow_gone(display); };
    auto f = fields();
    if (!p.client_address.empty()) f.push_back({"RSM_CLIENT_ADDRESS", p.client_address});
    shadows_.push_back(std::make_unique<ShadowSession>(event_, std::move(p), std::move(target), f, std::move(cb)));
    shadows_.back()->start();
    return 1;  // answered by the shadow's callbacks
}

void Executor::stop_shadows(const std::string& why) {
    for (auto& s : shadows_) s->stop(why);
}

void Executor::on_shadow_gone(uint32_t display_number) {
    if (link_->attached())
        (void)sd_bus_emit_signal(link_->bus(), names::executor_path, names::executor_interface, "ShadowEnded", "u",
                                 display_number);
    // Freed outside its own callback.
    if (!shadow_gc_) {
        sd_event_source* s = nullptr;
        if (sd_event_add_defer(event_, &s, &Executor::on_shadow_gc, this) < 0) return;
        shadow_gc_.reset(s);
    }
    sd_event_source_set_enabled(shadow_gc_.get(), SD_EVENT_ONESHOT);
}

int Executor::on_shadow_gc(sd_event_source*, void* userdata) noexcept {
    auto* self = static_cast<Executor*>(userdata);
    std::erase_if(self->shadows_, [](const auto& s) { return s->gone(); });
    return 0;
}

}  // namespace rsm::session
