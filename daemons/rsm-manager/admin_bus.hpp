// org.rsm.Manager1 on the system bus: the administrators' view of the session
// registry (dbus/org.rsm.Manager1.xml and org.rsm.Session1.xml are the
// documentation of record). One manager object at /org/rsm/Manager1, one
// object per session at /org/rsm/Manager1/session/<escaped id>, signals on
// every change, polkit deciding every action.
//
// Who may do what:
//  - uid 0 may do everything and is never checked (as in logind);
//  - acting on a session compares the caller's uid with the session owner:
//    own session -> org.rsm.{terminate,disconnect}-own-session, anyone
//    else's -> org.rsm.{terminate,disconnect}-session (polkit, interactive
//    if the call allows it);
//  - seeing others' sessions needs org.rsm.list-sessions, checked without
//    interaction; without it, lists hold only the caller's own sessions and
//    lookups of others answer NoSuchSession. Property reads cannot wait for
//    polkit, so they are allowed to the owner, root and connections granted
//    list-sessions in a lookup during the last minute.
// Every polkit check is asynchronous: a handler keeps a reference to the
// call and replies when polkit has answered. The caller's uid and pid come
// from CallerCredentials, which holds a new sender's calls until the bus
// daemon has answered (asynchronously) and then runs them: nothing here
// waits on the bus.
//
// admin_bus.cpp holds the decisions (callers, visibility, polkit, actions);
// admin_bus_dbus.cpp the objects, vtables and marshalling.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <systemd/sd-bus.h>
#include <unordered_map>
#include <vector>

#include "caller_credentials.hpp"
#include "polkit_authorizer.hpp"
#include "session_directory.hpp"
#include "util/handles.hpp"

namespace rsm::manager {

class AdminBus : public SessionObserver {
public:
    // Registers the objects on `system_bus` (attached to the manager's loop),
    // asks for the name org.rsm.Manager1 (asynchronously; a failure is
    // logged) and observes `sessions`. All references must outlive this.
    AdminBus(sd_bus* system_bus, SessionDirectory& sessions, PolkitAuthorizer& polkit, std::string version);
    ~AdminBus() override;
    AdminBus(const AdminBus&) = delete;
    AdminBus& operator=(const AdminBus&) = delete;

    // /org/rsm/Manager1/session/<id escaped with sd_bus_path_encode>.
    static std::string session_path(const std::string& id);

    // SessionObserver: signals and PropertiesChanged.
    void session_added(const session::Record& r) override;
    void session_changed(const session::Record& r, const std::vector<std::string>& changed) override;
    void session_removed(const session::Record& r) override;

private:
    using SharedMessage = std::shared_ptr<sd_bus_message>;
    // Replies to the call (handler convention: >= 0 or a negative errno /
    // a thrown BusError).
    using Act = std::function<int(sd_bus_message* call)>;
    using SeeAct = std::function<int(sd_bus_message* call, bool sees_all)>;
    enum class Verb { terminate, disconnect };

    // Domain errors (thrown as BusError).
    [[noreturn]] static void no_such_session(const std::string& id);
    [[noreturn]] static void no_session_for_pid(uint32_t pid);

    // --- who is calling, what may they see (admin_bus.cpp)
    uint32_t caller_uid(sd_bus_message* m) const;
    const session::Record& resolve(sd_bus_message* m, const std::string& id) const;
    bool has_list_grant(sd_bus_message* m);
    void remember_list_grant(sd_bus_message* m);
    bool may_see(sd_bus_message* m, const session::Record& r);

    // --- authorisation, then action (now for root, else after polkit)
    int authorize(sd_bus_message* m, uint32_t caller, const std::string& action,
                  PolkitAuthorizer::Details details, Act act);
    int with_list_permission(sd_bus_message* m, uint32_t caller, SeeAct then);
    void finish_async(sd_bus_message* call, const Act& act);

    // --- the actions behind the methods (admin_bus.cpp)
    int act_on_session(sd_bus_message* m, const std::string& id, Verb verb);
    int reply_if_visible(sd_bus_message* m, uint32_t caller, const session::Record& r, std::function<void()> refuse);
    int terminate_user(sd_bus_message* m, uint32_t uid);
    int reload(sd_bus_message* m);
    uint32_t visible_session_count(sd_bus_message* call);

    // --- marshalling (admin_bus_dbus.cpp)
    int reply_sessions(sd_bus_message* call, std::optional<uint32_t> only_uid);
    int reply_path(sd_bus_message* call, const session::Record& r);
    void emit_session_properties(const std::string& id, const std::vector<const char*>& properties);
    void emit_nsessions();

    // --- bus callbacks and vtables (admin_bus_dbus.cpp)
    static int on_name_acquired(sd_bus_message* reply, void* userdata, sd_bus_error* error);
    static int method_list_sessions(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_get_session(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_get_session_by_pid(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_terminate_session(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_disconnect_session(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_terminate_user(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_reload(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int property_nsessions(sd_bus* bus, const char* path, const char* interface, const char* property,
                                  sd_bus_message* reply, void* userdata, sd_bus_error* error);
    static int property_version(sd_bus* bus, const char* path, const char* interface, const char* property,
                                sd_bus_message* reply, void* userdata, sd_bus_error* error);

    static int find_session(sd_bus* bus, const char* path, const char* interface, void* userdata, void** found,
                            sd_bus_error* error);
    static int enumerate_sessions(sd_bus* bus, const char* prefix, void* userdata, char*** nodes,
                                  sd_bus_error* error);
    static int method_session_terminate(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int method_session_disconnect(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int property_session(sd_bus* bus, const char* path, const char* interface, const char* property,
                                sd_bus_message* reply, void* userdata, sd_bus_error* error);

    static const sd_bus_vtable manager_vtable[];
    static const sd_bus_vtable session_vtable[];

    sd_bus* bus_;
    SessionDirectory& sessions_;
    PolkitAuthorizer& polkit_;
    std::string version_;
    // Unique bus name -> until when its list-sessions grant is trusted.
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> list_grants_;
    // True while we emit PropertiesChanged: the object lookup then skips the
    // caller checks (there is no caller).
    bool emitting_ = false;
    // Who calls (declared before the objects: its filter must see every call).
    CallerCredentials callers_;
    // Polkit answers arriving after our death see it expired and do nothing.
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
    SlotPtr manager_slot_, session_slot_, enumerator_slot_, name_slot_;
};

}  // namespace rsm::manager
