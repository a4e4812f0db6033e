#include "access/throttle.hpp"

namespace rsm::access {

FailureWindow::FailureWindow(unsigned limit, std::chrono::seconds window, std::chrono::seconds lockout,
                             std::size_t max_entries)
    : limit_{limit}, window_{window}, lockout_{lockout}, max_entries_{max_entries > 0 ? max_entries : 1} {}

void FailureWindow::reconfigure(unsigned limit, std::chrono::seconds window, std::chrono::seconds lockout) {
    limit_ = limit;
    window_ = window;
    lockout_ = lockout;
    if (!enabled()) {
        entries_.clear();
        by_expiry_.clear();
    }
}

std::optional<std::chrono::seconds> FailureWindow::refused_for(std::string_view key, TimePoint now) const {
    if (!enabled())
        return std::nullopt;
    const auto it = entries_.find(key);
    if (it == entries_.end() || !it->second.locked_until || *it->second.locked_until <= now)
        return std::nullopt;
    return std::chrono::ceil<std::chrono::seconds>(*it->second.locked_until - now);
}

void FailureWindow::record_failure(std::string_view key, TimePoint now) {
    if (!enabled())
        return;
    drop_expired(now);

    auto it = entries_.find(key);
    if (it == entries_.end()) {
        if (entries_.size() >= max_entries_)
            erase(entries_.find(by_expiry_.begin()->second));
        it = entries_.emplace(std::string{key}, Entry{}).first;
        by_expiry_.emplace(it->second.expires, it->first);
    }
    Entry& entry = it->second;
    if (entry.locked_until) {
        if (*entry.locked_until > now)
            return;
        entry.locked_until.reset();
    }

    entry.failures.push_back(now);
    // Slide the window, and keep no more stamps than can ever matter.
    while (!entry.failures.empty() && now - entry.failures.front() >= window_)
        entry.failures.pop_front();
    while (entry.failures.size() > limit_)
        entry.failures.pop_front();

    if (entry.failures.size() >= limit_) {
        entry.failures.clear();
        entry.locked_until = now + lockout_;
        set_expiry(it, *entry.locked_until);
    } else {
        set_expiry(it, entry.failures.back() + window_);
    }
}

void FailureWindow::forget(std::string_view key, TimePoint now) {
    if (const auto it = entries_.find(key); it != entries_.end())
        erase(it);
    drop_expired(now);
}

void FailureWindow::drop_expired(TimePoint now) {
    while (!by_expiry_.empty() && by_expiry_.begin()->first <= now)
        erase(entries_.find(by_expiry_.begin()->second));
}

void FailureWindow::erase(Entries::iterator it) {
    by_expiry_.erase({it->second.expires, it->first});
    entries_.erase(it);
}

void FailureWindow::set_expiry(Entries::iterator it, TimePoint expires) {
    by_expiry_.erase({it->second.expires, it->first});
    it->second.expires = expires;
    by_expiry_.emplace(expires, it->first);
}

// ---------------------------------------------------------------------------

namespace {
unsigned per_source_limit(const config::Throttle& c) {
    return c.max_failures > 0 ? c.max_failures_per_source : 0;
}
}  // namespace

LoginThrottle::LoginThrottle(const config::Throttle& config, std::size_t max_sources)
    : config_{config},
      by_user_{config.max_failures, config.window, config.lockout, max_sources},
      by_source_{per_source_limit(config), config.window, config.lockout, max_sources} {}

void LoginThrottle::reconfigure(const config::Throttle& config) {
    config_ = config;
    by_user_.reconfigure(config.max_failures, config.window, config.lockout);
    by_source_.reconfigure(per_source_limit(config), config.window, config.lockout);
}

std::string LoginThrottle::pair_key(std::string_view source, std::string_view user) {
    std::string key;
    key.reserve(source.size() + 1 + user.size());
    key.append(source).push_back('\n');
    key.append(user);
    return key;
}

std::optional<LoginThrottle::Refusal> LoginThrottle::refused_for(std::string_view source, std::string_view user,
                                                                 TimePoint now) const {
    if (!enabled())
        return std::nullopt;
    const auto own = by_user_.refused_for(pair_key(source, user), now);
    const auto all = by_source_.refused_for(source, now);
    if (all && (!own || *all >= *own))
        return Refusal{*all, true};
    if (own)
        return Refusal{*own, false};
    return std::nullopt;
}

void LoginThrottle::record_failure(std::string_view source, std::string_view user, TimePoint now) {
    if (!enabled())
        return;
    by_user_.record_failure(pair_key(source, user), now);
    by_source_.record_failure(source, now);
}

void LoginThrottle::record_success(std::string_view source, std::string_view user, TimePoint now) {
    by_user_.forget(pair_key(source, user), now);
}

}  // namespace rsm::access
