// Finds the first X2Go server of a profile whose SSH port answers: a
// non-blocking connect() to each address in turn, each bounded by a
// timeout, on the caller's sd-event loop (x2gobroker's portscan, without
// blocking). Names are resolved beforehand (HostDirectory), never on the loop.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <vector>

#include "util/fd.hpp"
#include "util/handles.hpp"

namespace rsm::broker {

// The socket addresses of every host name/address in the profiles,
// resolved once at start (getaddrinfo may wait on DNS).
class HostDirectory {
public:
    // Resolves `address` (a name or a numeric address); unresolvable names
    // are logged and have no addresses (so they never answer).
    void add(const std::string& address);
    std::vector<sockaddr_storage> lookup(const std::string& address, std::uint16_t port) const;

private:
    std::map<std::string, std::vector<sockaddr_storage>> addresses_;
};

struct ProbeTarget {
    std::string label;  // for the log
    std::vector<sockaddr_storage> addresses;
};

class HostProbe {
public:
    // done(index of the first target that answered, or nullopt), called once
    // from the loop (never from the constructor).
    using Done = std::function<void(std::optional<std::size_t>)>;
    HostProbe(sd_event* event, std::vector<ProbeTarget> targets, std::uint64_t timeout_usec, Done done);
    HostProbe(const HostProbe&) = delete;
    HostProbe& operator=(const HostProbe&) = delete;

private:
    static int on_start(sd_event_source*, void* self);
    static int on_writable(sd_event_source*, int fd, std::uint32_t, void* self);
    static int on_timeout(sd_event_source*, std::uint64_t, void* self);
    void try_next();
    void finish(std::optional<std::size_t> result);

    sd_event* event_;
    std::vector<ProbeTarget> targets_;
    std::uint64_t timeout_usec_;
    Done done_;
    std::size_t target_ = 0, address_ = 0;
    UniqueFd socket_;
    EventSourcePtr io_, timer_, start_;
};

}  // namespace rsm::broker
