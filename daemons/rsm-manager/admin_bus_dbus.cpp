// AdminBus on the bus: the org.rsm.Manager1 object and the org.rsm.Session1
// objects, their vtables, method handlers (read arguments, hand over to the
// decisions in admin_bus.cpp, reply), property getters, and the signals and
// PropertiesChanged that follow the registry.
#include "admin_bus.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "bus/connection.hpp"
#include "bus/error.hpp"
#include "bus/names.hpp"
#include "util/log.hpp"

namespace rsm::manager {

using bus::BusError;
using session::Record;

namespace {

using names::manager_bus_name;
using names::manager_interface;
using names::manager_path;
using names::session_interface;
using names::session_path_prefix;

using CharPtr = std::unique_ptr<char, Deleter<::free>>;

std::optional<std::string> session_id_from_path(const char* path) {
    char* raw = nullptr;
    if (sd_bus_path_decode(path, session_path_prefix, &raw) <= 0 || !raw) return std::nullopt;
    CharPtr id{raw};
    return std::string{id.get()};
}

// Session1 property name(s) for a record KEY (session/record.hpp), nullptr
// terminated; keys without a property give none.
std::vector<const char*> properties_for_key(std::string_view key) {
    if (key == "STATE") return {"State", "IdleHint"};
    if (key == "DISPLAY") return {"Display"};
    if (key == "WIDTH") return {"Width"};
    if (key == "HEIGHT") return {"Height"};
    if (key == "DEPTH") return {"Depth"};
    if (key == "DESKTOP") return {"Desktop"};
    if (key == "UNIT") return {"Unit"};
    if (key == "LOGIND_SESSION") return {"LogindSession"};
    if (key == "LEADER_PID") return {"Leader"};
    if (key == "CREATED_USEC") return {"Timestamp"};
    if (key == "CONNECTED_USEC") return {"ConnectedTimestamp"};
    if (key == "DISCONNECTED_USEC") return {"DisconnectedTimestamp"};
    if (key == "CLIENT_ADDRESS") return {"RemoteHost"};
    if (key == "CLIENT_NAME") return {"ClientName"};
    // ID, UID, USER and TYPE never change; COMPLETE, EXECUTOR_PID and
    // DISPLAY_NUMBER are not published.
    return {};
}

}  // namespace

// ---------------------------------------------------------------------------
// Life cycle

AdminBus::AdminBus(sd_bus* system_bus, SessionDirectory& sessions, PolkitAuthorizer& polkit, std::string version)
    : bus_{system_bus}, sessions_{sessions}, polkit_{polkit}, version_{std::move(version)},
      callers_{system_bus, [this](const std::string& name) { list_grants_.erase(name); }} {
    sd_bus_slot* slot = nullptr;
    bus::check(sd_bus_add_object_vtable(bus_, &slot, manager_path, manager_interface, manager_vtable, this),
               "adding the Manager1 object");
    manager_slot_.reset(slot);
    bus::check(sd_bus_add_fallback_vtable(bus_, &slot, session_path_prefix, session_interface, session_vtable,
                                          &AdminBus::find_session, this),
               "adding the Session1 objects");
    session_slot_.reset(slot);
    bus::check(sd_bus_add_node_enumerator(bus_, &slot, session_path_prefix, &AdminBus::enumerate_sessions, this),
               "adding the session enumerator");
    enumerator_slot_.reset(slot);
    // Under bus activation the bus daemon queues the activating call until
    // the name appears; asking before READY=1 is fine.
    bus::check(sd_bus_request_name_async(bus_, &slot, manager_bus_name, 0, &AdminBus::on_name_acquired, this),
               "requesting the name org.rsm.Manager1");
    name_slot_.reset(slot);
    sessions_.add_observer(this);
}

AdminBus::~AdminBus() {
    sessions_.remove_observer(this);
    // Pending polkit answers find alive_ expired; the calls they would have
    // answered get no reply (the bus goes away with the manager anyway).
    alive_.reset();
    name_slot_.reset();
    enumerator_slot_.reset();
    session_slot_.reset();
    manager_slot_.reset();
}

std::string AdminBus::session_path(const std::string& id) {
    char* raw = nullptr;
    bus::check(sd_bus_path_encode(session_path_prefix, id.c_str(), &raw), "sd_bus_path_encode");
    CharPtr path{raw};
    return path.get();
}

int AdminBus::on_name_acquired(sd_bus_message* reply, void*, sd_bus_error*) {
    if (const sd_bus_error* e = sd_bus_message_get_error(reply))
        log::error(std::string("Could not acquire the bus name ") + manager_bus_name + "; org.rsm.Manager1 is not served",
                   {{"RSM_ERROR", e->message ? e->message : e->name}});
    else
        log::debug(std::string("Acquired the bus name ") + manager_bus_name);
    return 0;
}

// ---------------------------------------------------------------------------
// Replies and signals

int AdminBus::reply_sessions(sd_bus_message* call, std::optional<uint32_t> only_uid) {
    sd_bus_message* raw = nullptr;
    bus::check(sd_bus_message_new_method_return(call, &raw), "reply");
    MessagePtr reply{raw};
    bus::check(sd_bus_message_open_container(reply.get(), 'a', "(susssso)"), "reply");
    for (const Record* r : sessions_.sessions()) {
        if (only_uid && r->uid != *only_uid) continue;
        const std::string path = session_path(r->id);
        bus::check(sd_bus_message_append(reply.get(), "(susssso)", r->id.c_str(), r->uid, r->user.c_str(),
                                         session::to_string(r->state), r->type.c_str(), r->display.c_str(),
                                         path.c_str()),
                   "reply");
    }
    bus::check(sd_bus_message_close_container(reply.get()), "reply");
    return sd_bus_send(nullptr, reply.get(), nullptr);
}

int AdminBus::reply_path(sd_bus_message* call, const Record& r) {
    return sd_bus_reply_method_return(call, "o", session_path(r.id).c_str());
}

void AdminBus::emit_session_properties(const std::string& id, const std::vector<const char*>& properties) {
    if (properties.empty()) return;
    std::vector<char*> strv;
    for (const char* p : properties) strv.push_back(const_cast<char*>(p));
    strv.push_back(nullptr);
    emitting_ = true;
    const int r = sd_bus_emit_properties_changed_strv(bus_, session_path(id).c_str(), session_interface, strv.data());
    emitting_ = false;
    if (r < 0)
        log::warning("Could not announce a session change on the system bus",
                     {{"RSM_SESSION_ID", id}, {"RSM_ERROR", std::strerror(-r)}});
}

void AdminBus::emit_nsessions() {
    const int r = sd_bus_emit_properties_changed(bus_, manager_path, manager_interface, "NSessions", nullptr);
    if (r < 0) log::warning("Could not announce NSessions", {{"RSM_ERROR", std::strerror(-r)}});
}

void AdminBus::session_added(const Record& r) {
    try {
        const int e = sd_bus_emit_signal(bus_, manager_path, manager_interface, "SessionNew", "so", r.id.c_str(),
                                         session_path(r.id).c_str());
        if (e < 0)
            log::warning("Could not send SessionNew", {{"RSM_SESSION_ID", r.id}, {"RSM_ERROR", std::strerror(-e)}});
        emit_nsessions();
    } catch (const std::exception& ex) {
        log::warning("Could not send SessionNew", {{"RSM_SESSION_ID", r.id}, {"RSM_ERROR", ex.what()}});
    }
}

void AdminBus::session_changed(const Record& r, const std::vector<std::string>& changed) {
    std::vector<const char*> properties;
    for (const auto& key : changed)
        for (const char* p : properties_for_key(key))
            if (std::find_if(properties.begin(), properties.end(),
                             [&](const char* q) { return std::strcmp(p, q) == 0; }) == properties.end())
                properties.push_back(p);
    try {
        emit_session_properties(r.id, properties);
    } catch (const std::exception& ex) {
        log::warning("Could not announce a session change", {{"RSM_SESSION_ID", r.id}, {"RSM_ERROR", ex.what()}});
    }
}

void AdminBus::session_removed(const Record& r) {
    try {
        const int e = sd_bus_emit_signal(bus_, manager_path, manager_interface, "SessionRemoved", "so",
                                         r.id.c_str(), session_path(r.id).c_str());
        if (e < 0)
            log::warning("Could not send SessionRemoved",
                         {{"RSM_SESSION_ID", r.id}, {"RSM_ERROR", std::strerror(-e)}});
        emit_nsessions();
    } catch (const std::exception& ex) {
        log::warning("Could not send SessionRemoved", {{"RSM_SESSION_ID", r.id}, {"RSM_ERROR", ex.what()}});
    }
}

// ---------------------------------------------------------------------------
// org.rsm.Manager1

int AdminBus::method_list_sessions(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<AdminBus*>(userdata);
    return bus::reply_errors(error, [&] {
        const uint32_t caller = self->caller_uid(m);
        return self->with_list_permission(m, caller, [self, caller](sd_bus_message* call, bool all) {
            return self->reply_sessions(call, all ? std::nullopt : std::optional<uint32_t>{caller});
        });
    });
}

int AdminBus::method_get_session(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<AdminBus*>(userdata);
    return bus::reply_errors(error, [&] {
        const std::string id = bus::read_string(m);
        const uint32_t caller = self->caller_uid(m);
        const Record& r = self->resolve(m, id);
        return self->reply_if_visible(m, caller, r, [id = r.id] { no_such_session(id); });
    });
}

int AdminBus::method_get_session_by_pid(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<AdminBus*>(userdata);
    return bus::reply_errors(error, [&] {
        uint32_t pid = 0;
        if (sd_bus_message_read(m, "u", &pid) <= 0) throw BusError(names::error::invalid_argument, "expected a PID");
        const uint32_t caller = self->caller_uid(m);
        const Record& r = pid == 0 ? self->resolve(m, "") : [&]() -> const Record& {
            const Record* rec = self->sessions_.find_by_pid(static_cast<pid_t>(pid));
            if (!rec) no_session_for_pid(pid);
            return *rec;
        }();
        return self->reply_if_visible(m, caller, r, [pid] { no_session_for_pid(pid); });
    });
}

int AdminBus::method_terminate_session(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<AdminBus*>(userdata);
    return bus::reply_errors(error, [&] { return self->act_on_session(m, bus::read_string(m), Verb::terminate); });
}

int AdminBus::method_disconnect_session(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<AdminBus*>(userdata);
    return bus::reply_errors(error, [&] { return self->act_on_session(m, bus::read_string(m), Verb::disconnect); });
}

int AdminBus::method_terminate_user(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<AdminBus*>(userdata);
    return bus::reply_errors(error, [&] {
        uint32_t uid = 0;
        if (sd_bus_message_read(m, "u", &uid) <= 0) throw BusError(names::error::invalid_argument, "expected a uid");
        return self->terminate_user(m, uid);
    });
}

int AdminBus::method_reload(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<AdminBus*>(userdata);
    return bus::reply_errors(error, [&] { return self->reload(m); });
}

int AdminBus::property_nsessions(sd_bus* bus, const char*, const char*, const char*, sd_bus_message* reply,
                                 void* userdata, sd_bus_error* error) {
    auto* self = static_cast<AdminBus*>(userdata);
    return bus::reply_errors(error, [&] {
        return sd_bus_message_append(reply, "u", self->visible_session_count(sd_bus_get_current_message(bus)));
    });
}

int AdminBus::property_version(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply,
                               void* userdata, sd_bus_error*) {
    auto* self = static_cast<AdminBus*>(userdata);
    return sd_bus_message_append(reply, "s", self->version_.c_str());
}

// ---------------------------------------------------------------------------
// org.rsm.Session1

// Which session objects exist for this caller. Method calls on
// org.rsm.Session1 always find their object and let polkit decide (a refusal
// names the action, as for Manager1.TerminateSession); property reads and
// introspection find only sessions the caller may see.
int AdminBus::find_session(sd_bus* bus, const char* path, const char*, void* userdata, void** found,
                           sd_bus_error* error) {
    auto* self = static_cast<AdminBus*>(userdata);
    return bus::reply_errors(error, [&] {
        const auto id = session_id_from_path(path);
        if (!id) return 0;
        const Record* r = self->sessions_.find(*id);
        if (!r) return 0;
        if (!self->emitting_) {
            sd_bus_message* m = sd_bus_get_current_message(bus);
            const bool method = m && sd_bus_message_is_method_call(m, session_interface, nullptr) > 0;
            if (!method && !(m && self->may_see(m, *r))) no_such_session(*id);
        }
        *found = self;
        return 1;
    });
}

int AdminBus::enumerate_sessions(sd_bus* bus, const char*, void* userdata, char*** nodes, sd_bus_error* error) {
    auto* self = static_cast<AdminBus*>(userdata);
    return bus::reply_errors(error, [&] {
        sd_bus_message* m = sd_bus_get_current_message(bus);
        std::vector<std::string> paths;
        for (const Record* r : self->sessions_.sessions())
            if (m && self->may_see(m, *r)) paths.push_back(session_path(r->id));
        // sd-bus takes a malloc()ed NULL-terminated array (and frees it).
        char** v = static_cast<char**>(calloc(paths.size() + 1, sizeof(char*)));
        if (!v) return -ENOMEM;
        for (std::size_t i = 0; i < paths.size(); ++i) {
            v[i] = strdup(paths[i].c_str());
            if (!v[i]) {
                for (std::size_t j = 0; j < i; ++j) free(v[j]);
                free(v);
                return -ENOMEM;
            }
        }
        *nodes = v;
        return 0;
    });
}

int AdminBus::method_session_terminate(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<AdminBus*>(userdata);
    return bus::reply_errors(error, [&] {
        const auto id = session_id_from_path(sd_bus_message_get_path(m));
        if (!id) no_such_session("");
        return self->act_on_session(m, *id, Verb::terminate);
    });
}

int AdminBus::method_session_disconnect(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* self = static_cast<AdminBus*>(userdata);
    return bus::reply_errors(error, [&] {
        const auto id = session_id_from_path(sd_bus_message_get_path(m));
        if (!id) no_such_session("");
        return self->act_on_session(m, *id, Verb::disconnect);
    });
}

int AdminBus::property_session(sd_bus*, const char* path, const char*, const char* property, sd_bus_message* reply,
                               void* userdata, sd_bus_error* error) {
    auto* self = static_cast<AdminBus*>(userdata);
    return bus::reply_errors(error, [&] {
        const auto id = session_id_from_path(path);
        const Record* r = id ? self->sessions_.find(*id) : nullptr;
        if (!r) no_such_session(id.value_or(""));
        const std::string_view p = property;
        if (p == "Id") return sd_bus_message_append(reply, "s", r->id.c_str());
        if (p == "UID") return sd_bus_message_append(reply, "u", r->uid);
        if (p == "User") return sd_bus_message_append(reply, "s", r->user.c_str());
        if (p == "State") return sd_bus_message_append(reply, "s", session::to_string(r->state));
        if (p == "Type") return sd_bus_message_append(reply, "s", r->type.c_str());
        if (p == "Display") return sd_bus_message_append(reply, "s", r->display.c_str());
        if (p == "Width") return sd_bus_message_append(reply, "u", r->width);
        if (p == "Height") return sd_bus_message_append(reply, "u", r->height);
        if (p == "Depth") return sd_bus_message_append(reply, "u", r->depth);
        if (p == "Desktop") return sd_bus_message_append(reply, "s", r->desktop.c_str());
        if (p == "Unit") return sd_bus_message_append(reply, "s", r->unit.c_str());
        if (p == "LogindSession") return sd_bus_message_append(reply, "s", r->logind_session.c_str());
        if (p == "Leader") return sd_bus_message_append(reply, "u", r->leader_pid);
        if (p == "Timestamp") return sd_bus_message_append(reply, "t", r->created_usec);
        if (p == "ConnectedTimestamp") return sd_bus_message_append(reply, "t", r->connected_usec);
        if (p == "DisconnectedTimestamp") return sd_bus_message_append(reply, "t", r->disconnected_usec);
        if (p == "RemoteHost") return sd_bus_message_append(reply, "s", r->client_address.c_str());
        if (p == "ClientName") return sd_bus_message_append(reply, "s", r->client_name.c_str());
        if (p == "IdleHint") return sd_bus_message_append(reply, "b", int{r->state == session::State::disconnected});
        throw BusError(SD_BUS_ERROR_UNKNOWN_PROPERTY, std::string("unknown property ") + property);
    });
}

// ---------------------------------------------------------------------------

const sd_bus_vtable AdminBus::manager_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("NSessions", "u", &AdminBus::property_nsessions, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
    SD_BUS_PROPERTY("Version", "s", &AdminBus::property_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_METHOD_WITH_ARGS("ListSessions", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(susssso)", sessions),
                            &AdminBus::method_list_sessions, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetSession", SD_BUS_ARGS("s", session_id), SD_BUS_RESULT("o", object_path),
                            &AdminBus::method_get_session, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetSessionByPID", SD_BUS_ARGS("u", pid), SD_BUS_RESULT("o", object_path),
                            &AdminBus::method_get_session_by_pid, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("TerminateSession", SD_BUS_ARGS("s", session_id), SD_BUS_NO_RESULT,
                            &AdminBus::method_terminate_session, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("DisconnectSession", SD_BUS_ARGS("s", session_id), SD_BUS_NO_RESULT,
                            &AdminBus::method_disconnect_session, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("TerminateUser", SD_BUS_ARGS("u", uid), SD_BUS_NO_RESULT,
                            &AdminBus::method_terminate_user, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Reload", "", "", &AdminBus::method_reload, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL_WITH_ARGS("SessionNew", SD_BUS_ARGS("s", session_id, "o", object_path), 0),
    SD_BUS_SIGNAL_WITH_ARGS("SessionRemoved", SD_BUS_ARGS("s", session_id, "o", object_path), 0),
    SD_BUS_VTABLE_END,
};

#define RSM_SESSION_PROPERTY(name, sig, flags) \
    SD_BUS_PROPERTY(name, sig, &AdminBus::property_session, 0, flags)

const sd_bus_vtable AdminBus::session_vtable[] = {
    SD_BUS_VTABLE_START(0),
    RSM_SESSION_PROPERTY("Id", "s", SD_BUS_VTABLE_PROPERTY_CONST),
    RSM_SESSION_PROPERTY("UID", "u", SD_BUS_VTABLE_PROPERTY_CONST),
    RSM_SESSION_PROPERTY("User", "s", SD_BUS_VTABLE_PROPERTY_CONST),
    RSM_SESSION_PROPERTY("State", "s", SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
    RSM_SESSION_PROPERTY("Type", "s", SD_BUS_VTABLE_PROPERTY_CONST),
    RSM_SESSION_PROPERTY("Display", "s", SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
    RSM_SESSION_PROPERTY("Width", "u", SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
    RSM_SESSION_PROPERTY("Height", "u", SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
    RSM_SESSION_PROPERTY("Depth", "u", SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
    RSM_SESSION_PROPERTY("Desktop", "s", SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
    RSM_SESSION_PROPERTY("Unit", "s", SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
    RSM_SESSION_PROPERTY("LogindSession", "s", SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
    RSM_SESSION_PROPERTY("Leader", "u", SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
    RSM_SESSION_PROPERTY("Timestamp", "t", SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
    RSM_SESSION_PROPERTY("ConnectedTimestamp", "t", SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
    RSM_SESSION_PROPERTY("DisconnectedTimestamp", "t", SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
    RSM_SESSION_PROPERTY("RemoteHost", "s", SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
    RSM_SESSION_PROPERTY("ClientName", "s", SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
    RSM_SESSION_PROPERTY("IdleHint", "b", SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
    SD_BUS_METHOD("Terminate", "", "", &AdminBus::method_session_terminate, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Disconnect", "", "", &AdminBus::method_session_disconnect, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

#undef RSM_SESSION_PROPERTY

}  // namespace rsm::manager
