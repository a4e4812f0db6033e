// AdminBus, the decisions: who is calling, what they may see, which polkit
// action guards what, and acting on the registry once allowed. The objects,
// vtables and marshalling of org.rsm.Manager1 and org.rsm.Session1 are in
// admin_bus_dbus.cpp.
#include "admin_bus.hpp"

#include <string_view>
#include <utility>

#include "bus/error.hpp"
#include "bus/error_buffer.hpp"
#include "bus/names.hpp"
#include "session/session_id.hpp"
#include "util/log.hpp"

namespace rsm::manager {

using bus::BusError;
using bus::ErrorBuffer;
using session::Record;

namespace {

// polkit actions (polkit/org.rsm.policy).
namespace action {
constexpr const char* list_sessions = "org.rsm.list-sessions";
constexpr const char* disconnect_own_session = "org.rsm.disconnect-own-session";
constexpr const char* terminate_own_session = "org.rsm.terminate-own-session";
constexpr const char* disconnect_session = "org.rsm.disconnect-session";
constexpr const char* terminate_session = "org.rsm.terminate-session";
constexpr const char* terminate_user = "org.rsm.terminate-user";
constexpr const char* reload = "org.rsm.reload";
}  // namespace action

// How long a connection's org.rsm.list-sessions grant is trusted for
// property reads (which cannot wait for polkit). Unique names are never
// reused on a bus, so the grant cannot pass to another client.
constexpr std::chrono::seconds list_grant_lifetime{60};

// PolkitAuthorizer's bound on checks in flight.
[[noreturn]] void too_many_checks(uint32_t caller) {
    throw BusError(SD_BUS_ERROR_LIMITS_EXCEEDED,
                   "too many authorization checks in progress for uid " + std::to_string(caller) + "; try again later");
}


log::Fields session_fields(const Record& r, uint32_t caller) {
    return {{"RSM_SESSION_ID", r.id}, {"RSM_USER", r.user}, {"RSM_CALLER_UID", std::to_string(caller)}};
}

}  // namespace

void AdminBus::no_such_session(const std::string& id) {
    throw BusError(names::error::no_such_session, "No session '" + id + "' known");
}

void AdminBus::no_session_for_pid(uint32_t pid) {
    throw BusError(names::error::no_session_for_pid,
                   "PID " + std::to_string(pid) + " does not belong to any rsm session");
}

// ---------------------------------------------------------------------------
// Callers and visibility

// Known for every call that reached us (CallerCredentials' filter): the bus
// daemon's view of the connection, never /proc of a pid that may be reused.
uint32_t AdminBus::caller_uid(sd_bus_message* m) const {
    const CallerCredentials::Caller* c = callers_.find(m);
    if (!c) throw BusError(SD_BUS_ERROR_ACCESS_DENIED, "cannot determine the caller's user");
    return c->uid;
}

// The session `id` names, or for "" the session of the calling process.
const Record& AdminBus::resolve(sd_bus_message* m, const std::string& id) const {
    if (id.empty()) {
        const CallerCredentials::Caller* c = callers_.find(m);
        if (!c || !c->pid) throw BusError(names::error::failed, "cannot determine the caller's PID");
        const Record* rec = sessions_.find_by_pid(static_cast<pid_t>(c->pid));
        if (!rec) throw BusError(names::error::no_session_for_pid, "the calling process does not belong to any rsm session");
        return *rec;
    }
    if (!session::valid_session_id(id))
        throw BusError(names::error::invalid_argument, "session id: expected 32 lower-case hex digits");
    const Record* rec = sessions_.find(id);
    if (!rec) no_such_session(id);
    return *rec;
}

bool AdminBus::has_list_grant(sd_bus_message* m) {
    const char* sender = sd_bus_message_get_sender(m);
    if (!sender) return false;
    auto it = list_grants_.find(sender);
    if (it == list_grants_.end()) return false;
    if (it->second < std::chrono::steady_clock::now()) {
        list_grants_.erase(it);
        return false;
    }
    return true;
}

void AdminBus::remember_list_grant(sd_bus_message* m) {
    const char* sender = sd_bus_message_get_sender(m);
    if (!sender) return;
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(list_grants_, [&](const auto& e) { return e.second < now; });
    list_grants_[sender] = now + list_grant_lifetime;
}

bool AdminBus::may_see(sd_bus_message* m, const Record& r) {
    const uint32_t uid = caller_uid(m);
    return uid == 0 || uid == r.uid || has_list_grant(m);
}

// ---------------------------------------------------------------------------
// Authorisation

int AdminBus::authorize(sd_bus_message* m, uint32_t caller, const std::string& action_id,
                        PolkitAuthorizer::Details details, Act act) {
    if (caller == 0) return act(m);
    if (!polkit_.has_room(caller)) too_many_checks(caller);
    SharedMessage call{sd_bus_message_ref(m), sd_bus_message_unref};
    std::weak_ptr<int> alive = alive_;
    polkit_.check(m, caller, action_id, details,
                  [this, alive, call, action_id, caller, act = std::move(act)](Authorization result,
                                                                               const std::string& message) {
                      if (alive.expired()) return;
                      if (result != Authorization::allowed) {
                          log::notice("Refused " + action_id + " for uid " + std::to_string(caller),
                                      {{"RSM_POLKIT_ACTION", action_id},
                                       {"RSM_CALLER_UID", std::to_string(caller)},
                                       {"RSM_REASON", message}});
                          (void)PolkitAuthorizer::reply_denied(call.get(), result, action_id, message);
                          return;
                      }
                      finish_async(call.get(), act);
                  });
    return 1;
}

int AdminBus::with_list_permission(sd_bus_message* m, uint32_t caller, SeeAct then) {
    if (caller == 0 || has_list_grant(m)) return then(m, true);
    if (!polkit_.has_room(caller)) too_many_checks(caller);
    SharedMessage call{sd_bus_message_ref(m), sd_bus_message_unref};
    std::weak_ptr<int> alive = alive_;
    // Looking never prompts: a plain "list" must not pop up a password dialog.
    polkit_.check(
        m, caller, action::list_sessions, {},
        [this, alive, call, then = std::move(then)](Authorization result, const std::string&) {
            if (alive.expired()) return;
            const bool granted = result == Authorization::allowed;
            if (granted) remember_list_grant(call.get());
            finish_async(call.get(), [&](sd_bus_message* c) { return then(c, granted); });
        },
        PolkitAuthorizer::Interaction::never);
    return 1;
}

// Runs a handler body outside a handler: errors become the reply.
void AdminBus::finish_async(sd_bus_message* call, const Act& act) {
    ErrorBuffer error;
    const int r = bus::reply_errors(&error.e, [&] { return act(call); });
    if (r >= 0) return;
    if (sd_bus_error_is_set(&error.e))
        (void)sd_bus_reply_method_error(call, &error.e);
    else
        (void)sd_bus_reply_method_errno(call, r, nullptr);
}

// ---------------------------------------------------------------------------
// Actions

int AdminBus::act_on_session(sd_bus_message* m, const std::string& id, Verb verb) {
    const uint32_t caller = caller_uid(m);
    const Record& r = resolve(m, id);
    const bool own = r.uid == caller;
    const bool terminate = verb == Verb::terminate;
    const std::string action_id = terminate ? (own ? action::terminate_own_session : action::terminate_session)
                                            : (own ? action::disconnect_own_session : action::disconnect_session);
    return authorize(m, caller, action_id, {{"session_id", r.id}, {"session_user", r.user}},
                     [this, id = r.id, user = r.user, terminate, caller, action_id](sd_bus_message* call) {
                         // The session may have ended while polkit was asked.
                         const Record* now = sessions_.find(id);
                         if (!now) no_such_session(id);
                         log::Fields f = session_fields(*now, caller);
                         f.push_back({"RSM_POLKIT_ACTION", action_id});
                         const bool ok = terminate ? sessions_.terminate(id) : sessions_.disconnect(id);
                         if (!ok) no_such_session(id);
                         log::notice(std::string(terminate ? "Terminating" : "Disconnecting") + " session " + id +
                                         " of " + user + " on request of uid " + std::to_string(caller),
                                     f);
                         return sd_bus_reply_method_return(call, "");
                     });
}

// Own sessions are answered at once; anyone else's only with
// org.rsm.list-sessions, else `refuse` (which throws) says it is not there.
int AdminBus::reply_if_visible(sd_bus_message* m, uint32_t caller, const Record& r, std::function<void()> refuse) {
    if (r.uid == caller) return reply_path(m, r);
    return with_list_permission(m, caller, [this, id = r.id, refuse = std::move(refuse)](sd_bus_message* call,
                                                                                          bool all) {
        const Record* now = sessions_.find(id);
        if (!all || !now) refuse();
        return reply_path(call, *now);
    });
}

int AdminBus::terminate_user(sd_bus_message* m, uint32_t uid) {
    const uint32_t caller = caller_uid(m);
    // The name for polkit's message comes from the records: the manager
    // never asks NSS (that happens in executors only).
    std::string user = "uid " + std::to_string(uid);
    for (const Record* r : sessions_.sessions())
        if (r->uid == uid) user = r->user;
    const std::string action_id = uid == caller ? action::terminate_own_session : action::terminate_user;
    return authorize(m, caller, action_id, {{"uid", std::to_string(uid)}, {"user", user}},
                     [this, uid, user, caller](sd_bus_message* call) {
                         const std::size_t n = sessions_.terminate_user(uid);
                         if (n == 0)
                             throw BusError(names::error::no_such_user,
                                            "User " + std::to_string(uid) + " has no sessions");
                         log::notice("Terminating " + std::to_string(n) + " session(s) of " + user +
                                         " on request of uid " + std::to_string(caller),
                                     {{"RSM_UID", std::to_string(uid)},
                                      {"RSM_USER", user},
                                      {"RSM_CALLER_UID", std::to_string(caller)}});
                         return sd_bus_reply_method_return(call, "");
                     });
}

int AdminBus::reload(sd_bus_message* m) {
    const uint32_t caller = caller_uid(m);
    return authorize(m, caller, action::reload, {}, [this, caller](sd_bus_message* call) {
        const std::string problem = sessions_.reload();
        if (!problem.empty())
            throw BusError(names::error::failed, "configuration not reloaded, keeping the old one: " + problem);
        log::notice("Configuration reloaded on request of uid " + std::to_string(caller),
                    {{"RSM_CALLER_UID", std::to_string(caller)}});
        return sd_bus_reply_method_return(call, "");
    });
}

// Per caller: all sessions for root and list-sessions grants, else the
// caller's own (a property read cannot wait for polkit).
uint32_t AdminBus::visible_session_count(sd_bus_message* call) {
    const auto all = sessions_.sessions();
    const uint32_t caller = call ? caller_uid(call) : 0;
    if (caller == 0 || has_list_grant(call)) return static_cast<uint32_t>(all.size());
    uint32_t n = 0;
    for (const Record* r : all)
        if (r->uid == caller) ++n;
    return n;
}

}  // namespace rsm::manager
