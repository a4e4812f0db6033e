#include "access/throttle.hpp"

namespace rsm::access {

LoginThrottle::LoginThrottle(const config::Throttle& config, std::size_t max_sources)
    : config_{config}, max_sources_{max_sources > 0 ? max_sources : 1} {}

void LoginThrottle::reconfigure(const config::Throttle& config) {
    config_ = config;
    if (!enabled()) {
        entries_.clear();
        by_expiry_.clear();
    }
}

std::optional<std::chrono::seconds> LoginThrottle::refused_for(std::string_view source,
                                                               TimePoint now) const {
    if (!enabled())
        return std::nullopt;
    const auto it = entries_.find(source);
    if (it == entries_.end() || !it->second.locked_until || *it->second.locked_until <= now)
        return std::nullopt;
    return std::chrono::ceil<std::chrono::seconds>(*it->second.locked_until - now);
}

void LoginThrottle::record_failure(std::string_view source, TimePoint now) {
    if (!enabled())
        return;
    drop_expired(now);

    auto it = entries_.find(source);
    if (it == entries_.end()) {
        if (entries_.size() >= max_sources_)
            erase(entries_.find(by_expiry_.begin()->second));
        it = entries_.emplace(std::string{source}, Entry{}).first;
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
    while (!entry.failures.empty() && now - entry.failures.front() >= config_.window)
        entry.failures.pop_front();
    while (entry.failures.size() > config_.max_failures)
        entry.failures.pop_front();

    if (entry.failures.size() >= config_.max_failures) {
        entry.failures.clear();
        entry.locked_until = now + config_.lockout;
        set_expiry(it, *entry.locked_until);
    } else {
        set_expiry(it, entry.failures.back() + config_.window);
    }
}

void LoginThrottle::record_success(std::string_view source, TimePoint now) {
    if (const auto it = entries_.find(source); it != entries_.end())
        erase(it);
    drop_expired(now);
}

void LoginThrottle::drop_expired(TimePoint now) {
    while (!by_expiry_.empty() && by_expiry_.begin()->first <= now)
        erase(entries_.find(by_expiry_.begin()->second));
}

void LoginThrottle::erase(Entries::iterator it) {
    by_expiry_.erase({it->second.expires, it->first});
    entries_.erase(it);
}

void LoginThrottle::set_expiry(Entries::iterator it, TimePoint expires) {
    by_expiry_.erase({it->second.expires, it->first});
    it->second.expires = expires;
    by_expiry_.emplace(expires, it->first);
}

}  // namespace rsm::access
