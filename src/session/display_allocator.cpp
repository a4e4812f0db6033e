#include "session/display_allocator.hpp"

#include <cerrno>
#include <stdexcept>
#include <sys/stat.h>

namespace rsm::session {
namespace {

// Exists in any form, or cannot be checked.
bool path_taken(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 || (errno != ENOENT && errno != ENOTDIR);
}

}  // namespace

bool x_display_in_use_under(const std::string& tmp_dir, unsigned n) {
    const std::string number = std::to_string(n);
    return path_taken(tmp_dir + "/.X11-unix/X" + number) || path_taken(tmp_dir + "/.X" + number + "-lock");
}

bool x_display_in_use(unsigned n) { return x_display_in_use_under("/tmp", n); }

DisplayAllocator::DisplayAllocator(unsigned first, unsigned last, Probe probe)
    : first_{first}, last_{last}, probe_{std::move(probe)} {
    if (first > last) {
        throw std::invalid_argument("display range " + std::to_string(first) + ".." + std::to_string(last) +
                                    ": first is greater than last");
    }
}

std::optional<unsigned> DisplayAllocator::allocate() {
    for (unsigned n = first_;; ++n) {
        if (!reserved(n) && !(probe_ && probe_(n))) {
            used_.insert(n);
            return n;
        }
        if (n == last_)  // before ++n, so last_ == UINT_MAX cannot wrap
            return std::nullopt;
    }
}

void DisplayAllocator::reserve(unsigned n) { used_.insert(n); }

void DisplayAllocator::release(unsigned n) { used_.erase(n); }

}  // namespace rsm::session
