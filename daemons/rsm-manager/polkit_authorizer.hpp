// Asynchronous polkit checks for org.rsm.Manager1 calls: CheckAuthorization on
// org.freedesktop.PolicyKit1.Authority with the caller's unique bus name as
// the subject ("system-bus-name"), honouring the call's
// allow-interactive-authorization flag. The manager's loop never waits on
// polkit: the decision arrives in a callback.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <systemd/sd-bus.h>
#include <unordered_map>
#include <utility>
#include <vector>

#include "util/handles.hpp"

namespace rsm::manager {

enum class Authorization {
    allowed,
    denied,                // -> org.freedesktop.DBus.Error.AccessDenied
    challenge,             // auth needed but the caller did not allow interaction
                           // -> org.freedesktop.DBus.Error.InteractiveAuthorizationRequired
    error,                 // polkit unreachable or failed (message says why) -> AccessDenied
};

class PolkitAuthorizer {
public:
    // `system_bus` is the manager's system-bus connection (attached to its loop).
    explicit PolkitAuthorizer(sd_bus* system_bus);
    ~PolkitAuthorizer();  // cancels pending checks (their callbacks never run)
    PolkitAuthorizer(const PolkitAuthorizer&) = delete;
    PolkitAuthorizer& operator=(const PolkitAuthorizer&) = delete;

    using Done = std::function<void(Authorization result, const std::string& message)>;
    using Details = std::vector<std::pair<std::string, std::string>>;

    // How a check may involve the user.
    enum class Interaction {
        from_call,  // as the call's allow-interactive-authorization flag says
        never,      // never prompt (for looking, not acting)
    };

    // Checks in flight at once, per caller uid and in all: polkitd answers
    // one check after another, and the manager's own calls to other peers
    // (polkit, systemd) share the bus daemon's limit of pending replies per
    // connection (128 on the system bus). A uid that floods the admin bus
    // gets LimitsExceeded instead of a queue, and leaves room for everyone
    // else and for the session scopes.
    static constexpr std::size_t max_pending_per_uid = 16;
    static constexpr std::size_t max_pending = 64;
    // Whether a check for `uid` may start now.
    bool has_room(uint32_t uid) const noexcept;

    // Checks `action_id` for the sender of `call`, whose uid is `uid` (for
    // the bound above; polkit finds the subject itself). Details may be empty;
    // polkit can show them in its message as $(key)). `done` runs exactly
    // once, never from inside check(); a failure to even ask polkit arrives
    // there as Authorization::error. Throws std::system_error only if that
    // failure cannot be reported from the loop either (then `done` never runs).
    void check(sd_bus_message* call, uint32_t uid, const std::string& action_id, const Details& details, Done done,
               Interaction interaction = Interaction::from_call);

    // Replies to `call` with the D-Bus error for a non-allowed result, naming
    // the action in the message. Returns what sd_bus_reply_method_error returns.
    static int reply_denied(sd_bus_message* call, Authorization result, const std::string& action_id,
                            const std::string& message);

    // Number of checks waiting for polkit (for tests and diagnostics).
    std::size_t pending() const noexcept;

private:
    struct Check;
    static int on_reply(sd_bus_message* reply, void* userdata, sd_bus_error* error);
    static int on_deferred(sd_event_source* source, void* userdata);
    void finish(Check& c, Authorization result, const std::string& message);
    void forget(Check& c);

    sd_bus* bus_;
    std::list<Check> pending_;
    std::unordered_map<uint32_t, std::size_t> pending_per_uid_;
};

}  // namespace rsm::manager
