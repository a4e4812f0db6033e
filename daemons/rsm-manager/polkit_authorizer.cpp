#include "polkit_authorizer.hpp"

#include <cerrno>
#include <exception>
#include <iterator>
#include <stdexcept>
#include <string_view>
#include <system_error>

#include "bus/error.hpp"
#include "util/log.hpp"

namespace rsm::manager {

namespace {

// polkit's D-Bus API (polkit(8), org.freedesktop.PolicyKit1.Authority).
constexpr const char* polkit_bus_name = "org.freedesktop.PolicyKit1";
constexpr const char* polkit_path = "/org/freedesktop/PolicyKit1/Authority";
constexpr const char* polkit_interface = "org.freedesktop.PolicyKit1.Authority";
constexpr uint32_t flag_allow_user_interaction = 1;

// An interactive check waits for a human typing a password into an agent;
// polkit itself gives up on an unanswered dialog after a few minutes.
constexpr uint64_t interactive_timeout_usec = 25ULL * 60 * 1000 * 1000;
constexpr uint64_t plain_timeout_usec = 25ULL * 1000 * 1000;

}  // namespace

struct PolkitAuthorizer::Check {
    PolkitAuthorizer* owner = nullptr;
    std::list<Check>::iterator self;
    uint32_t uid = 0;
    std::string action;
    Done done;
    bool interactive = false;
    SlotPtr slot;              // the CheckAuthorization call in flight
    EventSourcePtr deferred;   // or: a failure to report from the loop
    std::string failure;
};

PolkitAuthorizer::PolkitAuthorizer(sd_bus* system_bus) : bus_{system_bus} {}

// Dropping the slots cancels the calls: no callback runs after this.
PolkitAuthorizer::~PolkitAuthorizer() {
    pending_.clear();
    pending_per_uid_.clear();
}

std::size_t PolkitAuthorizer::pending() const noexcept { return pending_.size(); }

bool PolkitAuthorizer::has_room(uint32_t uid) const noexcept {
    if (pending_.size() >= max_pending) return false;
    auto it = pending_per_uid_.find(uid);
    return it == pending_per_uid_.end() || it->second < max_pending_per_uid;
}

void PolkitAuthorizer::check(sd_bus_message* call, uint32_t uid, const std::string& action_id, const Details& details,
                             Done done, Interaction interaction) {
    Check& c = pending_.emplace_back();
    ++pending_per_uid_[uid];
    c.uid = uid;
    c.owner = this;
    c.self = std::prev(pending_.end());
    c.action = action_id;
    c.done = std::move(done);
    c.interactive =
        interaction == Interaction::from_call && sd_bus_message_get_allow_interactive_authorization(call) > 0;

    try {
        const char* sender = sd_bus_message_get_sender(call);
        if (!sender) throw std::runtime_error("the call has no sender bus name");

        sd_bus_message* raw = nullptr;
        bus::check(sd_bus_message_new_method_call(bus_, &raw, polkit_bus_name, polkit_path, polkit_interface,
                                                  "CheckAuthorization"),
                   "creating CheckAuthorization");
        MessagePtr m{raw};
        // subject (sa{sv}): the caller's unique name; polkit resolves it to
        // the process and user itself, without the pid-reuse race.
        bus::check(sd_bus_message_append(m.get(), "(sa{sv})", "system-bus-name", 1, "name", "s", sender),
                   "appending the subject");
        bus::check(sd_bus_message_append(m.get(), "s", action_id.c_str()), "appending the action");
        bus::check(sd_bus_message_open_container(m.get(), 'a', "{ss}"), "appending details");
        for (const auto& [key, value] : details)
            bus::check(sd_bus_message_append(m.get(), "{ss}", key.c_str(), value.c_str()), "appending details");
        bus::check(sd_bus_message_close_container(m.get()), "appending details");
        bus::check(sd_bus_message_append(m.get(), "us", c.interactive ? flag_allow_user_interaction : 0u, ""),
                   "appending flags");

        sd_bus_slot* slot = nullptr;
        bus::check(sd_bus_call_async(bus_, &slot, m.get(), &PolkitAuthorizer::on_reply, &c,
                                     c.interactive ? interactive_timeout_usec : plain_timeout_usec),
                   "calling polkit");
        c.slot.reset(slot);
        return;
    } catch (const std::exception& e) {
        c.failure = e.what();
    }

    // Report the failure from the loop, never from inside check().
    sd_event_source* source = nullptr;
    sd_event* event = sd_bus_get_event(bus_);
    const int r = event ? sd_event_add_defer(event, &source, &PolkitAuthorizer::on_deferred, &c) : -ENXIO;
    if (r < 0) {
        std::string what = c.failure;
        forget(c);
        throw std::system_error(-r, std::generic_category(), "polkit check failed (" + what + ") and cannot be reported");
    }
    c.deferred.reset(source);
}

int PolkitAuthorizer::on_reply(sd_bus_message* reply, void* userdata, sd_bus_error*) {
    auto& c = *static_cast<Check*>(userdata);
    Authorization result = Authorization::error;
    std::string message;

    if (const sd_bus_error* e = sd_bus_message_get_error(reply)) {
        message = std::string("polkit: ") + (e->message ? e->message : e->name);
        log::warning("polkit check failed", {{"RSM_POLKIT_ACTION", c.action}, {"RSM_ERROR", message}});
    } else {
        int authorized = 0, challenge = 0;
        bool dismissed = false;
        int r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
        if (r >= 0) r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
        if (r >= 0) r = sd_bus_message_enter_container(reply, 'a', "{ss}");
        while (r >= 0) {
            const char *key = nullptr, *value = nullptr;
            r = sd_bus_message_read(reply, "{ss}", &key, &value);
            if (r <= 0) break;
            if (std::string_view{key} == "polkit.dismissed" && std::string_view{value} == "true") dismissed = true;
        }
        if (r < 0) {
            message = "could not read polkit's answer";
            log::warning("polkit check failed", {{"RSM_POLKIT_ACTION", c.action}, {"RSM_ERROR", message}});
        } else if (authorized) {
            result = Authorization::allowed;
        } else if (challenge && !c.interactive) {
            result = Authorization::challenge;
        } else {
            result = Authorization::denied;
            if (dismissed)
                message = "authentication dismissed";
            else if (challenge)
                message = "authentication required, but no authentication agent answered";
        }
    }
    c.owner->finish(c, result, message);
    return 0;
}

int PolkitAuthorizer::on_deferred(sd_event_source*, void* userdata) {
    auto& c = *static_cast<Check*>(userdata);
    log::warning("polkit check failed", {{"RSM_POLKIT_ACTION", c.action}, {"RSM_ERROR", c.failure}});
    c.owner->finish(c, Authorization::error, c.failure);
    return 0;
}

void PolkitAuthorizer::forget(Check& c) {
    if (auto it = pending_per_uid_.find(c.uid); it != pending_per_uid_.end() && --it->second == 0)
        pending_per_uid_.erase(it);
    pending_.erase(c.self);
}

void PolkitAuthorizer::finish(Check& c, Authorization result, const std::string& message) {
    // Forget the check first (sd-bus and sd-event keep the slot or source
    // alive until their callback returns), so `done` may start new checks.
    Done done = std::move(c.done);
    forget(c);
    try {
        done(result, message);
    } catch (const std::exception& e) {
        log::error("Internal error after a polkit check", {{"RSM_ERROR", e.what()}});
    } catch (...) {
        log::error("Internal error after a polkit check");
    }
}

int PolkitAuthorizer::reply_denied(sd_bus_message* call, Authorization result, const std::string& action_id,
                                   const std::string& message) {
    const char* name = SD_BUS_ERROR_ACCESS_DENIED;
    std::string text;
    switch (result) {
    case Authorization::challenge:
        name = SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED;
        text = "Interactive authentication required for " + action_id;
        break;
    case Authorization::denied: text = "Not authorized for " + action_id; break;
    case Authorization::error: text = "Access denied: could not check authorization for " + action_id; break;
    case Authorization::allowed:
        name = names::error::failed;
        text = "internal error: refusing an allowed call for " + action_id;
        break;
    }
    if (!message.empty()) text += " (" + message + ")";
    return sd_bus_reply_method_errorf(call, name, "%s", text.c_str());
}

}  // namespace rsm::manager
