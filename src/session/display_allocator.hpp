// X display numbers for new sessions, without races: the manager (one thread)
// hands out numbers it does not already use, skipping any the system shows as
// taken (an X socket /tmp/.X11-unix/X<n> or a lock file /tmp/.X<n>-lock). If
// the display server still finds the number taken (a server outside rsm
// started in between), the session fails with that server's error and the
// number stays reserved until release().
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>

namespace rsm::session {

// True when the system shows display n as taken (socket or lock file exists).
bool x_display_in_use(unsigned n);
// The same under another directory than /tmp (for tests): true when
// tmp_dir/.X11-unix/X<n> or tmp_dir/.X<n>-lock exists in any form (a dangling
// symlink counts) or cannot be checked (say, EACCES), so doubt means taken.
bool x_display_in_use_under(const std::string& tmp_dir, unsigned n);

// An X server killed outright leaves its socket /tmp/.X11-unix/X<n> (and,
// when it took one, its lock file /tmp/.X<n>-lock; servers started with
// -displayfd take none) behind, and the number would stay "in use" until
// reboot. Removes them when they are stale: a lock naming a process that no
// longer exists, or, without a lock, a socket nobody listens on
// (ECONNREFUSED). Returns true if it removed anything. A live owner, or a
// lock that does not hold a plain pid, leaves everything alone.
bool remove_stale_x_display(unsigned n);
bool remove_stale_x_display_under(const std::string& tmp_dir, unsigned n);

class DisplayAllocator {
public:
    using Probe = std::function<bool(unsigned)>;
    // Numbers first..last inclusive. Throws std::invalid_argument if first > last.
    // An empty probe means nothing outside this allocator takes numbers.
    DisplayAllocator(unsigned first, unsigned last, Probe probe = x_display_in_use);

    // Lowest number in range that is neither reserved here nor taken per probe;
    // it is reserved. nullopt when none is left.
    std::optional<unsigned> allocate();
    // Marks n as used (a recovered session); numbers outside the range are kept too.
    void reserve(unsigned n);
    void release(unsigned n);
    bool reserved(unsigned n) const { return used_.count(n) != 0; }
    std::size_t size() const { return used_.size(); }

private:
    unsigned first_, last_;
    Probe probe_;
    std::set<unsigned> used_;
};

}  // namespace rsm::session
