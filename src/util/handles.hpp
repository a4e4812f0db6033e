// RAII owners for the C handles rsm uses. The deleter is always the library's
// own unref/free function, so ownership reads the same everywhere.
#pragma once

#include <memory>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

namespace rsm {

template <auto Fn>
struct Deleter {
    template <class T>
    void operator()(T* p) const noexcept { Fn(p); }
};

// Closes without flushing: sd_bus_flush() waits without bound for the peer
// to read, and a peer that never reads would stop the caller's loop. Where
// queued messages matter, drain them asynchronously first (the manager's
// gateway connections: BusDrain in daemons/rsm-manager/gateway_server.cpp;
// the executor's control channel), then drop the pointer.
using BusPtr = std::unique_ptr<sd_bus, Deleter<sd_bus_close_unref>>;
// For the system bus only: dbus-daemon always reads, so a flush on the way
// out is bounded and keeps the last replies of an exiting daemon.
using SystemBusPtr = std::unique_ptr<sd_bus, Deleter<sd_bus_flush_close_unref>>;
using MessagePtr = std::unique_ptr<sd_bus_message, Deleter<sd_bus_message_unref>>;
using SlotPtr = std::unique_ptr<sd_bus_slot, Deleter<sd_bus_slot_unref>>;
using EventPtr = std::unique_ptr<sd_event, Deleter<sd_event_unref>>;
// Disables and frees the source (a plain unref would keep it alive while the
// loop still references it).
using EventSourcePtr = std::unique_ptr<sd_event_source, Deleter<sd_event_source_disable_unref>>;

// Takes a new reference: for keeping a message (a pending call) past its callback.
inline MessagePtr ref_message(sd_bus_message* m) { return MessagePtr{sd_bus_message_ref(m)}; }

}  // namespace rsm
