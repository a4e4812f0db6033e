// `systemctl reload rsm-broker` (SIGHUP): the profiles are read again from
// every source broker.toml names now (X2Go's INI file, [profiles.<id>]),
// their servers' names are resolved on a worker thread (getaddrinfo may wait
// on DNS), and the new set replaces the old between two requests. A file
// with an error changes nothing: the old profiles stay, the journal says
// why. Only the profiles are reloaded; the other keys of broker.toml take
// effect at the next start.
#pragma once

#include <string>

#include "broker_core.hpp"
#include "util/handles.hpp"

namespace rsm::broker {

class ProfileReload {
public:
    // SIGHUP must be blocked already (before any thread was started).
    ProfileReload(sd_event* event, BrokerCore& core, std::string config_path);
    ProfileReload(const ProfileReload&) = delete;
    ProfileReload& operator=(const ProfileReload&) = delete;

private:
    static int on_sighup(sd_event_source*, const signalfd_siginfo*, void* self);
    void reload();

    BrokerCore& core_;
    std::string config_path_;
    EventSourcePtr signal_;
    bool running_ = false;   // a reload waits for its names
    bool again_ = false;     // a SIGHUP came meanwhile: reload once more after it
};

}  // namespace rsm::broker
