// Throttling of failed password logins ([throttle] in rsm.toml).
//
// Failures are keyed on the source (the client address a trusted gateway
// names, else "uid:<peer uid>") *and* the target user:
//  - after max_failures failures for one (source, user) within a sliding
//    window of `window`, that pair is refused for `lockout`;
//  - after max_failures_per_source failures for one source, whatever the
//    users, within the window, the whole source is refused for `lockout`
//    (so spraying one password over many names is bounded too).
// A successful login clears only its own (source, user) failures: it never
// forgets another user's, nor the source's total (one valid account must
// not reset the attack on the others).
//
// The class reads no clock: every call takes `now`, so tests can drive time
// and the manager passes CLOCK_MONOTONIC time. Memory is bounded: an entry
// is dropped once its failures have left the window and its lockout has
// ended, each table keeps at most max_entries entries (the one closest to
// being forgotten is evicted first), and each entry at most its limit of
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

// One table of sliding-window failure counts with lockouts, keyed by string.
class FailureWindow {
public:
    using TimePoint = std::chrono::steady_clock::time_point;

    FailureWindow(unsigned limit, std::chrono::seconds window, std::chrono::seconds lockout,
                  std::size_t max_entries);
    // Known keys keep their state; a limit of 0 forgets everything.
    void reconfigure(unsigned limit, std::chrono::seconds window, std::chrono::seconds lockout);

    std::optional<std::chrono::seconds> refused_for(std::string_view key, TimePoint now) const;
    // The failure that reaches the limit within the window starts the
    // lockout; failures during a lockout are ignored.
    void record_failure(std::string_view key, TimePoint now);
    void forget(std::string_view key, TimePoint now);
    std::size_t size() const noexcept { return entries_.size(); }

private:
    struct Entry {
        std::deque<TimePoint> failures;  // within the window, oldest first
        std::optional<TimePoint> locked_until;
        TimePoint expires;  // when the entry holds nothing worth keeping
    };
    using Entries = std::map<std::string, Entry, std::less<>>;

    bool enabled() const noexcept { return limit_ > 0; }
    void drop_expired(TimePoint now);
    void erase(Entries::iterator it);
    void set_expiry(Entries::iterator it, TimePoint expires);

    unsigned limit_;
    std::chrono::seconds window_, lockout_;
    std::size_t max_entries_;
    Entries entries_;
    // (expiry, key) for every entry, so expiry and eviction take the
    // earliest first. The views point into the keys of entries_.
    std::set<std::pair<TimePoint, std::string_view>> by_expiry_;
};

class LoginThrottle {
public:
    using TimePoint = FailureWindow::TimePoint;
    static constexpr std::size_t default_max_sources = 10000;

    struct Refusal {
        std::chrono::seconds wait;  // rounded up to whole seconds
        bool whole_source;          // max_failures_per_source, not this user's own count
    };

    explicit LoginThrottle(const config::Throttle& config, std::size_t max_sources = default_max_sources);

    // Adopts a re-loaded configuration. Known entries keep their state;
    // max_failures 0 forgets everything (throttling off), and
    // max_failures_per_source 0 forgets the per-source totals.
    void reconfigure(const config::Throttle& config);

    // Whether `user` may be tried from `source` now; nullopt if it may.
    std::optional<Refusal> refused_for(std::string_view source, std::string_view user, TimePoint now) const;
    void record_failure(std::string_view source, std::string_view user, TimePoint now);
    // Clears (source, user) only.
    void record_success(std::string_view source, std::string_view user, TimePoint now);

    // Entries held in both tables (for tests and diagnostics).
    std::size_t tracked_entries() const noexcept { return by_user_.size() + by_source_.size(); }

private:
    static std::string pair_key(std::string_view source, std::string_view user);
    bool enabled() const noexcept { return config_.max_failures > 0; }

    config::Throttle config_;
    FailureWindow by_user_;    // key: source '\n' user (neither can hold a newline)
    FailureWindow by_source_;  // key: source
};

}  // namespace rsm::access
