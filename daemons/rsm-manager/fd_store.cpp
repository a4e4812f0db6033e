#include "fd_store.hpp"

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <system_error>
#include <systemd/sd-daemon.h>

#include "util/log.hpp"

namespace rsm::manager {
namespace {

// The strv sd_listen_fds_with_names returns: every string and the array are
// malloc'ed.
struct StrvFree {
    void operator()(char** v) const noexcept {
        for (char** p = v; *p; ++p) std::free(*p);
        std::free(v);
    }
};
using Strv = std::unique_ptr<char*, StrvFree>;

// systemd's rule for fd names (FDNAME=, $LISTEN_FDNAMES): printable ASCII
// without ':', at most 255 characters. We also refuse the empty name: an
// unnamed stored fd comes back as "stored" and could not be told apart.
bool fd_name_is_valid(const std::string& name) {
    if (name.empty() || name.size() > 255) return false;
    for (const char c : name)
        if (c < ' ' || c > '~' || c == ':') return false;
    return true;
}

// sd_pid_notify_with_fds returns > 0 when sent and 0 without $NOTIFY_SOCKET;
// we return 0 when sent, 1 when not under systemd.
int notify_result(int r) {
    if (r < 0) return r;
    return r > 0 ? 0 : 1;
}

}  // namespace

std::vector<UniqueFd> InheritedFds::take(const std::string& name) {
    std::vector<UniqueFd> out;
    for (auto it = fds.begin(); it != fds.end();) {
        if (it->first == name) {
            out.push_back(std::move(it->second));
            it = fds.erase(it);
        } else {
            ++it;
        }
    }
    return out;
}

std::map<std::string, UniqueFd> InheritedFds::take_prefixed(const std::string& prefix) {
    std::map<std::string, UniqueFd> out;
    for (auto it = fds.begin(); it != fds.end();) {
        if (it->first.compare(0, prefix.size(), prefix) != 0) {
            ++it;
            continue;
        }
        std::string key = it->first.substr(prefix.size());
        if (!out.try_emplace(key, std::move(it->second)).second)
            // Never stored so by us (one fd per name); keep the first.
            log::warning("Duplicate fd name in the fd store, extra fd closed", {{"RSM_FD_NAME", it->first}});
        it = fds.erase(it);  // closes the fd if it was not taken
    }
    return out;
}

InheritedFds take_inherited_fds() {
    char** raw_names = nullptr;
    const int n = sd_listen_fds_with_names(1, &raw_names);
    Strv names{raw_names};
    if (n < 0) throw std::system_error(-n, std::generic_category(), "sd_listen_fds_with_names");
    InheritedFds result;
    result.fds.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        // sd_listen_fds has already set FD_CLOEXEC on every one.
        std::string name = names && raw_names[i] ? raw_names[i] : "unknown";
        result.fds.emplace_back(std::move(name), UniqueFd{SD_LISTEN_FDS_START + i});
    }
    return result;
}

int store_fd(const std::string& name, int fd) {
    if (!fd_name_is_valid(name) || fd < 0) return -EINVAL;
    const std::string state = "FDSTORE=1\nFDNAME=" + name;
    return notify_result(sd_pid_notify_with_fds(0, 0, state.c_str(), &fd, 1));
}

int remove_stored_fd(const std::string& name) {
    if (!fd_name_is_valid(name)) return -EINVAL;
    const std::string state = "FDSTOREREMOVE=1\nFDNAME=" + name;
    return notify_result(sd_pid_notify(0, 0, state.c_str()));
}

}  // namespace rsm::manager
