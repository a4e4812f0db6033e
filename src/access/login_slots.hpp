// How many logins may run at once ([gateway] max_logins_per_uid,
// max_logins_per_source), with one wait line for the rest.
//
// A login "runs" while an rsm-session executor works on it (PAM, or a
// conversation waiting for the gateway's answers). Each login claims a slot
// for its peer uid (untrusted peers only: a trusted gateway serves all its
// clients under one uid, so only its per-source limit applies) and one for
// its source (the client address a trusted gateway names, else
// "uid:<peer uid>"). A login whose uid or source is full waits in line,
// holding nothing; whenever a slot frees, the line is walked in order and
// every login that fits now starts. Invariant after every call: nothing in
// line would fit, so a newcomer that fits overtakes nobody who could run.
//
// Pure bookkeeping (no clock, no I/O): the caller keys logins by a ticket
// (the gateway connection id), starts the executor for each ticket returned
// and gives the slot back when the login ends, whatever way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <string>
#include <vector>

namespace rsm::access {

class LoginSlots {
public:
    using Ticket = std::uint64_t;
    struct Limits {
        unsigned per_uid = 4;
        unsigned per_source = 2;
    };

    explicit LoginSlots(Limits limits) : limits_{limits} {}

    // New limits; returns the tickets that may start now (limits grew).
    // Running logins over a lowered limit keep their slots.
    std::vector<Ticket> reconfigure(Limits limits);

    // Asks for a slot: true if `ticket` holds one now, false if it waits in
    // line. A ticket already known is refused (returns its current state).
    bool request(Ticket ticket, std::uint32_t uid, bool uid_limited, const std::string& source);

    // Gives back the slot of `ticket`, or takes it out of the line (a no-op
    // for an unknown ticket). Returns the tickets that got a slot thanks to
    // it, in line order.
    std::vector<Ticket> release(Ticket ticket);

    bool running(Ticket ticket) const { return running_.count(ticket) > 0; }
    bool waiting(Ticket ticket) const;
    std::size_t running_count() const { return running_.size(); }
    std::size_t waiting_count() const { return line_.size(); }
    unsigned running_for_uid(std::uint32_t uid) const;
    unsigned running_for_source(const std::string& source) const;

private:
    struct Claim {
        std::uint32_t uid;
        bool uid_limited;
        std::string source;
    };
    bool fits(const Claim& c) const;
    void take(Ticket ticket, Claim claim);
    std::vector<Ticket> admit();

    Limits limits_;
    std::map<Ticket, Claim> running_;
    std::list<std::pair<Ticket, Claim>> line_;
    std::map<std::uint32_t, unsigned> per_uid_;
    std::map<std::string, unsigned> per_source_;
};

}  // namespace rsm::access
