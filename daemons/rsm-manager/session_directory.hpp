// What the rest of the manager sees of the session registry: SessionDirectory,
// the operations org.rsm.Manager1 (admin_bus) needs, and SessionObserver,
// told about every change. Implemented by SessionRegistry
// (session_registry.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

#include "session/record.hpp"

namespace rsm::manager {

// Told about every change, after it happened (for org.rsm.Manager1 objects
// and signals). Callbacks must not call back into the registry synchronously
// to remove or add sessions.
class SessionObserver {
public:
    virtual ~SessionObserver() = default;
    virtual void session_added(const session::Record& r) = 0;
    // The record changed; `changed` lists the Record fields by their record
    // file KEY name ("STATE", "CONNECTED_USEC", ...).
    virtual void session_changed(const session::Record& r, const std::vector<std::string>& changed) = 0;
    virtual void session_removed(const session::Record& r) = 0;
};

// The operations the admin bus needs; implemented by the manager's registry.
class SessionDirectory {
public:
    virtual ~SessionDirectory() = default;
    virtual std::vector<const session::Record*> sessions() const = 0;
    virtual const session::Record* find(const std::string& id) const = 0;
    // The session a process belongs to (executor, leader or any user process
    // of it), via its cgroup (rsm-session-<id>.scope or the logind session
    // recorded for it). nullptr if none.
    virtual const session::Record* find_by_pid(pid_t pid) const = 0;
    // Asynchronous: the session ends later (session_removed follows).
    // Return false if there is no such session.
    virtual bool terminate(const std::string& id) = 0;
    virtual bool disconnect(const std::string& id) = 0;
    // Number of sessions asked to terminate.
    virtual std::size_t terminate_user(uint32_t uid) = 0;
    // Re-reads the configuration; returns "" or the error text.
    virtual std::string reload() = 0;
    virtual void add_observer(SessionObserver* o) = 0;
    virtual void remove_observer(SessionObserver* o) = 0;
};

}  // namespace rsm::manager
