#include "access/login_slots.hpp"

#include <algorithm>

namespace rsm::access {

std::vector<LoginSlots::Ticket> LoginSlots::reconfigure(Limits limits) {
    limits_ = limits;
    return admit();
}

bool LoginSlots::waiting(Ticket ticket) const {
    return std::any_of(line_.begin(), line_.end(), [&](const auto& e) { return e.first == ticket; });
}

unsigned LoginSlots::running_for_uid(std::uint32_t uid) const {
    const auto it = per_uid_.find(uid);
    return it == per_uid_.end() ? 0 : it->second;
}

unsigned LoginSlots::running_for_source(const std::string& source) const {
    const auto it = per_source_.find(source);
    return it == per_source_.end() ? 0 : it->second;
}

bool LoginSlots::fits(const Claim& c) const {
    if (c.uid_limited && running_for_uid(c.uid) >= limits_.per_uid) return false;
    return running_for_source(c.source) < limits_.per_source;
}

void LoginSlots::take(Ticket ticket, Claim claim) {
    if (claim.uid_limited) ++per_uid_[claim.uid];
    ++per_source_[claim.source];
    running_.emplace(ticket, std::move(claim));
}

bool LoginSlots::request(Ticket ticket, std::uint32_t uid, bool uid_limited, const std::string& source) {
    if (running(ticket)) return true;
    if (waiting(ticket)) return false;
    Claim claim{uid, uid_limited, source};
    if (fits(claim)) {
        take(ticket, std::move(claim));
        return true;
    }
    line_.emplace_back(ticket, std::move(claim));
    return false;
}

std::vector<LoginSlots::Ticket> LoginSlots::release(Ticket ticket) {
    if (const auto it = running_.find(ticket); it != running_.end()) {
        const Claim& c = it->second;
        if (c.uid_limited && --per_uid_[c.uid] == 0) per_uid_.erase(c.uid);
        if (--per_source_[c.source] == 0) per_source_.erase(c.source);
        running_.erase(it);
        return admit();
    }
    line_.remove_if([&](const auto& e) { return e.first == ticket; });
    return {};
}

std::vector<LoginSlots::Ticket> LoginSlots::admit() {
    std::vector<Ticket> started;
    for (auto it = line_.begin(); it != line_.end();) {
        if (fits(it->second)) {
            started.push_back(it->first);
            take(it->first, std::move(it->second));
            it = line_.erase(it);
        } else {
            ++it;
        }
    }
    return started;
}

}  // namespace rsm::access
