// Per-source throttling of failed password logins ([throttle] in rsm.toml).
//
// After max_failures failed logins from one source within a sliding window
// of `window`, that source is refused for `lockout`. A source is whatever
// string the caller keys on: the client's canonical IP address, else the
// gateway's uid. A successful login from the source forgets its failures.
//
// The class reads no clock: every call takes `now`, so tests can drive time
// and the manager passes sd-event's CLOCK_MONOTONIC time. Memory is bounded:
// an entry is dropped once its failures have left the window and its lockout
// has ended, at most max_sources entries are kept (the one closest to being
// forgotten is evicted first), and each keeps at most max_failures
// timestamps.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "config/config.hpp"

namespace rsm::access {

class LoginThrottle {
public:
    using TimePoint = std::chrono::steady_clock::time_point;
    static constexpr std::size_t default_max_sources = 10000;

    explicit LoginThrottle(const config::Throttle& config,
                           std::size_t max_sources = default_max_sources);

    // Adopts a re-loaded configuration. Known sources keep their state;
    // setting max_failures to 0 forgets everything.
    void reconfigure(const config::Throttle& config);

    // How long `source` is still refused, rounded up to whole seconds (for
    // the error message); nullopt if it may try now.
    std::optional<std::chrono::seconds> refused_for(std::string_view source, TimePoint now) const;

    // A failed login from `source`; the one that reaches max_failures within
    // the window starts the lockout. Failures during a lockout are ignored
    // (the caller should not have let them happen).
    void record_failure(std::string_view source, TimePoint now);

    // A successful login from `source`: its failures and lockout are cleared.
    void record_success(std::string_view source, TimePoint now);

    // Entries currently held (for tests and diagnostics).
    std::size_t tracked_sources() const noexcept { return entries_.size(); }

private:
    struct Entry {
        std::deque<TimePoint> failures;  // within the window, oldest first
        std::optional<TimePoint> locked_until;
        TimePoint expires;  // when the entry holds nothing worth keeping
    };
    using Entries = std::map<std::string, Entry, std::less<>>;

    bool enabled() const noexcept { return config_.max_failures > 0; }
    void drop_expired(TimePoint now);
    void erase(Entries::iterator it);
    void set_expiry(Entries::iterator it, TimePoint expires);

    config::Throttle config_;
    std::size_t max_sources_;
    Entries entries_;
    // (expiry, source) for every entry, so expiry and eviction take the
    // earliest first. The views point into the keys of entries_.
    std::set<std::pair<TimePoint, std::string_view>> by_expiry_;
};

}  // namespace rsm::access
