#include "util/fd.hpp"

#include <filesystem>
#include <system_error>

namespace rsm {

int count_open_fds() {
    std::error_code ec;
    int n = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
        ++n;
    return n - 1;  // the directory iterator's own fd
}

}  // namespace rsm
