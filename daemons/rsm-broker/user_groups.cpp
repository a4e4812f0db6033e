#include "user_groups.hpp"

#include <grp.h>
#include <pwd.h>
#include <vector>

namespace rsm::broker {

std::vector<std::string> user_groups(const std::string& user) {
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* found = nullptr;
    if (getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) return {};
    const gid_t primary = pw.pw_gid;
    int n = 64;
    std::vector<gid_t> gids(static_cast<std::size_t>(n));
    if (getgrouplist(user.c_str(), primary, gids.data(), &n) < 0) {
        gids.resize(static_cast<std::size_t>(n));
        if (getgrouplist(user.c_str(), primary, gids.data(), &n) < 0) return {};
    }
    gids.resize(static_cast<std::size_t>(n));
    std::vector<std::string> names;
    for (const gid_t g : gids) {
        if (g == primary) continue;
        group gr{};
        group* gfound = nullptr;
        if (getgrgid_r(g, &gr, buf.data(), buf.size(), &gfound) == 0 && gfound) names.emplace_back(gr.gr_name);
    }
    return names;
}

}  // namespace rsm::broker
