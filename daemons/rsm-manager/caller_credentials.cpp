#include "caller_credentials.hpp"

#include <cerrno>
#include <cstring>
#include <exception>
#include <string_view>

#include "bus/dict_reader.hpp"
#include "bus/error.hpp"
#include "util/log.hpp"

namespace rsm::manager {

namespace {

constexpr const char* dbus_name = "org.freedesktop.DBus";
constexpr const char* dbus_path = "/org/freedesktop/DBus";
constexpr const char* dbus_interface = "org.freedesktop.DBus";
// The bus daemon answers these from its own tables at once; the bound only
// matters for a bus daemon that is itself stuck.
constexpr uint64_t lookup_timeout_usec = 10ULL * 1000 * 1000;

// Reads GetConnectionCredentials' a{sv}: UnixUserID (required), ProcessID.
int read_credentials(sd_bus_message* reply, CallerCredentials::Caller& out) {
    bool have_uid = false;
    int r = bus::read_dict(reply, [&](std::string_view key, std::string_view) {
        if (key != "UnixUserID" && key != "ProcessID") return sd_bus_message_skip(reply, "v");
        uint32_t value = 0;
        const int read = sd_bus_message_read(reply, "v", "u", &value);
        if (read < 0) return read;
        if (key == "UnixUserID") {
            out.uid = value;
            have_uid = true;
        } else {
            out.pid = value;
        }
        return 0;
    });
    if (r < 0) return r;
    return have_uid ? 0 : -ENODATA;
}

}  // namespace

CallerCredentials::CallerCredentials(sd_bus* bus, Gone gone) : bus_{bus}, gone_{std::move(gone)} {
    sd_bus_slot* slot = nullptr;
    bus::check(sd_bus_add_filter(bus_, &slot, &CallerCredentials::on_message, this), "adding the caller filter");
    filter_.reset(slot);
    // Every name that leaves the bus (one match, not one per name: the bus
    // daemon limits match rules per connection).
    bus::check(sd_bus_match_signal_async(bus_, &slot, dbus_name, dbus_path, dbus_interface, "NameOwnerChanged",
                                         &CallerCredentials::on_name_owner_changed, nullptr, this),
               "watching NameOwnerChanged");
    match_.reset(slot);
}

CallerCredentials::~CallerCredentials() {
    match_.reset();
    filter_.reset();
    waiting_.clear();  // cancels the lookups: no callback runs after this
}

const CallerCredentials::Caller* CallerCredentials::find(sd_bus_message* m) const {
    const char* sender = m ? sd_bus_message_get_sender(m) : nullptr;
    if (!sender) return nullptr;
    auto it = known_.find(sender);
    return it == known_.end() ? nullptr : &it->second;
}

// Runs before sd-bus dispatches a message to our objects (and before its
// built-in Peer and Properties handling): returning 1 takes the message.
int CallerCredentials::on_message(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* self = static_cast<CallerCredentials*>(userdata);
    uint8_t type = 0;
    if (sd_bus_message_get_type(m, &type) < 0 || type != SD_BUS_MESSAGE_METHOD_CALL) return 0;
    const char* sender = sd_bus_message_get_sender(m);
    // Only unique names can be asked about; without one the handlers refuse.
    if (!sender || sender[0] != ':') return 0;
    if (self->known_.count(sender)) return 0;
    return self->hold(m, sender);
}

int CallerCredentials::hold(sd_bus_message* m, const char* sender) {
    auto [it, fresh] = waiting_.try_emplace(sender);
    if (fresh) {
        it->second = std::make_unique<Waiting>();
        it->second->owner = this;
        it->second->name = sender;
    }
    Waiting& w = *it->second;
    if (w.calls.size() >= max_held_per_sender) {
        (void)sd_bus_reply_method_errorf(m, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                         "too many calls before the caller's credentials are known");
        return 1;
    }
    w.calls.push_back(ref_message(m));
    if (w.lookup) return 1;
    sd_bus_slot* slot = nullptr;
    const int r = sd_bus_call_method_async(bus_, &slot, dbus_name, dbus_path, dbus_interface,
                                           "GetConnectionCredentials", &CallerCredentials::on_credentials, &w, "s",
                                           sender);
    if (r < 0) {
        log::warning("Cannot ask the bus daemon who is calling", {{"RSM_BUS_SENDER", sender},
                                                                 {"RSM_ERROR", std::strerror(-r)}});
        for (auto& call : w.calls)
            (void)sd_bus_reply_method_errorf(call.get(), SD_BUS_ERROR_ACCESS_DENIED,
                                             "cannot determine the caller's user: %s", std::strerror(-r));
        waiting_.erase(it);
        return 1;
    }
    (void)sd_bus_slot_set_description(slot, "caller-credentials");
    w.lookup.reset(slot);
    return 1;
}

int CallerCredentials::on_credentials(sd_bus_message* reply, void* userdata, sd_bus_error*) {
    auto& w = *static_cast<Waiting*>(userdata);
    CallerCredentials* self = w.owner;
    // Take the entry out first: sd-bus keeps the slot alive until we return.
    auto node = self->waiting_.extract(w.name);
    if (node.empty()) return 0;
    std::vector<MessagePtr> calls = std::move(w.calls);
    const std::string name = w.name;

    Caller caller;
    std::string failure;
    if (const sd_bus_error* e = sd_bus_message_get_error(reply))
        failure = e->message ? e->message : e->name;
    else if (const int r = read_credentials(reply, caller); r < 0)
        failure = r == -ENODATA ? "the bus daemon gave no user" : std::strerror(-r);

    if (!failure.empty()) {
        // Usually a sender that is already gone: nobody will read the errors.
        for (auto& call : calls)
            (void)sd_bus_reply_method_errorf(call.get(), SD_BUS_ERROR_ACCESS_DENIED,
                                             "cannot determine the caller's user: %s", failure.c_str());
        return 0;
    }
    if (self->known_.size() >= max_known) self->known_.clear();
    self->known_[name] = caller;
    // Back into the read queue, in their order: they pass the filter now.
    for (auto& call : calls) {
        const int r = sd_bus_enqueue_for_read(self->bus_, call.get());
        if (r < 0)
            (void)sd_bus_reply_method_errorf(call.get(), SD_BUS_ERROR_LIMITS_EXCEEDED, "cannot queue the call: %s",
                                             std::strerror(-r));
    }
    return 0;
}

int CallerCredentials::on_name_owner_changed(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* self = static_cast<CallerCredentials*>(userdata);
    const char *name = nullptr, *old_owner = nullptr, *new_owner = nullptr;
    if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 || !name || name[0] != ':') return 0;
    if (new_owner && *new_owner) return 0;
    self->known_.erase(name);
    // A lookup in flight for it answers with an error and drops its calls.
    try {
        if (self->gone_) self->gone_(name);
    } catch (const std::exception& e) {
        log::error("Internal error after a bus client left", {{"RSM_ERROR", e.what()}});
    }
    return 0;
}

}  // namespace rsm::manager
