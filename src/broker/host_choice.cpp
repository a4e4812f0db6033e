#include "broker/host_choice.hpp"

#include <algorithm>
#include <set>

namespace rsm::broker {

namespace {

std::string lower(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

std::string first_label(const std::string& s) { return s.substr(0, s.find('.')); }

}  // namespace

bool server_is_host(const std::string& server, const Host& host) {
    const std::string s = lower(server);
    for (const std::string& n : {lower(host.name), lower(host.address)}) {
        if (n.empty()) continue;
        if (s == n) return true;
        // Only names, never numeric addresses, compare by their first label.
        const bool numeric = n.find_first_not_of("0123456789.:") == std::string::npos;
        if (!numeric && first_label(s) == first_label(n)) return true;
    }
    return false;
}

std::vector<Candidate> rank_hosts(const std::vector<Host>& hosts, const std::vector<AgentView>& views,
                                  const std::string& user) {
    std::vector<Candidate> out;
    std::vector<bool> placed(hosts.size(), false);

    // The user's sessions, each once (agents sharing a database list the same ones).
    std::vector<AgentSession> sessions;
    std::set<std::string> seen;
    for (const auto& v : views)
        if (v.sessions)
            for (const auto& s : *v.sessions)
                if (s.user == user && (s.status == 'S' || s.status == 'R') && seen.insert(s.name).second)
                    sessions.push_back(s);
    for (const char status : {'S', 'R'})
        for (const auto& s : sessions) {
            if (s.status != status) continue;
            for (std::size_t i = 0; i < hosts.size(); ++i)
                if (!placed[i] && server_is_host(s.server, hosts[i])) {
                    out.push_back(Candidate{i, s});
                    placed[i] = true;
                    break;
                }
        }

    // The rest by load: the most any agent reports for the server.
    bool any_answer = false;
    for (const auto& v : views) any_answer = any_answer || v.sessions || v.servers;
    struct Rest {
        bool answered;
        unsigned load;
        std::size_t index;
    };
    std::vector<Rest> rest;
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        if (placed[i]) continue;
        unsigned load = 0;
        for (const auto& v : views)
            if (v.servers)
                for (const auto& [server, n] : *v.servers)
                    if (server_is_host(server, hosts[i])) load = std::max(load, n);
        const bool answered = !any_answer || (i < views.size() && (views[i].sessions || views[i].servers));
        rest.push_back(Rest{answered, any_answer ? load : 0, i});
    }
    std::stable_sort(rest.begin(), rest.end(), [](const Rest& a, const Rest& b) {
        if (a.answered != b.answered) return a.answered;
        return a.load < b.load;
    });
    for (const auto& r : rest) out.push_back(Candidate{r.index, std::nullopt});
    return out;
}

}  // namespace rsm::broker
