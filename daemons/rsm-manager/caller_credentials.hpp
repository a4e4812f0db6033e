// Who calls org.rsm.Manager1: the uid and pid the bus daemon recorded for a
// sender's connection (org.freedesktop.DBus.GetConnectionCredentials), looked
// up asynchronously, once per unique name, and forgotten when the name goes
// away (NameOwnerChanged). Unique names are never reused on a bus, and a
// connection's credentials are those of its connect(), so the cache is never
// stale.
//
// A bus filter holds every incoming method call whose sender is not known yet,
// asks the bus daemon, and puts the held calls back into the connection's read
// queue when the answer is there (sd_bus_enqueue_for_read, as systemd's own
// polkit helper re-runs a call after polkit answered). So handlers, property
// getters and object lookups, which all need the caller, find it synchronously
// and keep their plain shape (read args -> validate -> authorize -> act ->
// reply), and the manager's loop never waits for the bus daemon: on
// dbus-daemon, sd_bus_query_sender_creds() would be a blocking round trip.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <systemd/sd-bus.h>
#include <unordered_map>
#include <vector>

#include "util/handles.hpp"

namespace rsm::manager {

class CallerCredentials {
public:
    struct Caller {
        uint32_t uid = 0;
        uint32_t pid = 0;  // 0 when the bus daemon did not say
    };
    // Told when a unique name we know (or hold calls for) left the bus.
    using Gone = std::function<void(const std::string& unique_name)>;

    // Installs the filter and the NameOwnerChanged match on `bus` (attached
    // to the manager's loop), which must outlive this.
    CallerCredentials(sd_bus* bus, Gone gone);
    ~CallerCredentials();  // held calls are dropped unanswered (the bus goes away with us)
    CallerCredentials(const CallerCredentials&) = delete;
    CallerCredentials& operator=(const CallerCredentials&) = delete;

    // The sender of `m`, or nullptr when unknown (a method call that passed
    // the filter is always known).
    const Caller* find(sd_bus_message* m) const;

    std::size_t known() const noexcept { return known_.size(); }
    std::size_t waiting() const noexcept { return waiting_.size(); }

    // Calls held per sender while its lookup runs; more are refused with
    // LimitsExceeded (a client pipelining thousands of calls on a new
    // connection costs one lookup and bounded memory).
    static constexpr std::size_t max_held_per_sender = 64;
    // A backstop should the NameOwnerChanged match be missing: past this many
    // names the cache starts over (a lookup costs one asynchronous round trip).
    static constexpr std::size_t max_known = 16384;

private:
    struct Waiting {
        CallerCredentials* owner = nullptr;
        std::string name;
        std::vector<MessagePtr> calls;
        SlotPtr lookup;
    };
    static int on_message(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int on_credentials(sd_bus_message* reply, void* userdata, sd_bus_error* error);
    static int on_name_owner_changed(sd_bus_message* m, void* userdata, sd_bus_error* error);
    int hold(sd_bus_message* m, const char* sender);

    sd_bus* bus_;
    Gone gone_;
    std::unordered_map<std::string, Caller> known_;
    std::unordered_map<std::string, std::unique_ptr<Waiting>> waiting_;
    SlotPtr filter_, match_;
};

}  // namespace rsm::manager
