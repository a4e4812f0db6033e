#include "host_selection.hpp"

#include <cstring>
#include <stdexcept>

#include "util/log.hpp"

namespace rsm::broker {

namespace {

// The session line with its status field (the fifth) set to S.
std::string as_suspended(const std::string& line) {
    std::size_t pos = 0;
    for (int i = 0; i < 4 && pos != std::string::npos; ++i) pos = line.find('|', pos) + 1;
    std::string out = line;
    if (pos != 0 && pos < out.size()) out[pos] = 'S';
    return out;
}

}  // namespace

HostSelection::HostSelection(sd_event* event, const BrokerConfig& config, std::vector<Host> hosts,
                             std::vector<ProbeTarget> targets, std::string user, std::string profile_id,
                             std::uint16_t sshport, unsigned& agent_slots, Done done)
    : event_{event}, config_{config}, hosts_{std::move(hosts)}, targets_{std::move(targets)}, user_{std::move(user)},
      profile_id_{std::move(profile_id)}, sshport_{sshport}, agent_slots_{agent_slots}, done_{std::move(done)},
      views_(hosts_.size()) {
    sd_event_source* s = nullptr;
    if (const int r = sd_event_add_defer(event_, &s, &HostSelection::on_start, this); r < 0)
        throw std::runtime_error(std::string("sd_event_add_defer: ") + std::strerror(-r));
    start_.reset(s);
    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

HostSelection::~HostSelection() { release_slots(); }

void HostSelection::release_slots() {
    agent_slots_ -= slots_held_;
    slots_held_ = 0;
}

int HostSelection::on_start(sd_event_source*, void* self) {
    auto* h = static_cast<HostSelection*>(self);
    const auto n = static_cast<unsigned>(h->hosts_.size());
    if (h->config_.agent != AgentMode::ssh) {
        h->rank();
    } else if (!valid_agent_user(h->user_)) {
        log::notice("The user's name cannot be passed to x2gobroker-agent; selecting without it",
                    {{"USER", h->user_}, {"RSM_BROKER_PROFILE", h->profile_id_}});
        h->rank();
    } else if (h->agent_slots_ + n > h->config_.agent_max_queries) {
        log::warning("Too many x2gobroker-agent queries at once; selecting without the agent",
                     {{"USER", h->user_}, {"RSM_BROKER_PROFILE", h->profile_id_}});
        h->rank();
    } else {
        h->agent_slots_ += n;
        h->slots_held_ = n;
        h->pending_ = n;
        for (std::size_t i = 0; i < n; ++i) h->ask(i, {"listsessions"});
    }
    return 0;
}

void HostSelection::ask(std::size_t host, std::vector<std::string> args) {
    const bool sessions_step = args.front() == "listsessions";
    queries_.push_back(std::make_unique<AgentQuery>(
        event_, config_, AgentTarget{hosts_[host].address, hosts_[host].port}, user_, std::move(args),
        [this, host, sessions_step](std::optional<std::string> output, std::string error) {
            answered(host, sessions_step, std::move(output), error);
        }));
}

void HostSelection::answered(std::size_t host, bool sessions_step, std::optional<std::string> output,
                             const std::string& error) {
    const std::string task = sessions_step ? "listsessions" : "getservers";
    std::string why = error;
    if (output) {
        auto reply = parse_agent_reply(*output);
        if (!reply.lines) {
            why = reply.error;
        } else if (sessions_step) {
            std::vector<AgentSession> sessions;
            for (const auto& line : *reply.lines) {
                auto s = parse_session_line(line);
                if (!s.session) {
                    why = s.error;
                    break;
                }
                sessions.push_back(std::move(*s.session));
            }
            if (why.empty()) views_[host].sessions = std::move(sessions);
        } else {
            auto servers = parse_getservers(*reply.lines);
            if (servers.servers) views_[host].servers = std::move(servers.servers);
            else why = servers.error;
        }
    }
    if (!why.empty())
        log::warning("x2gobroker-agent query failed",
                     {{"RSM_BROKER_HOST", targets_[host].label}, {"RSM_BROKER_AGENT_TASK", task}, {"RSM_ERROR", why}});
    // A host whose agent cannot list sessions is not asked for its load.
    if (sessions_step && views_[host].sessions) return ask(host, {"getservers"});
    if (--pending_ == 0) {
        release_slots();
        rank();
    }
}

void HostSelection::rank() {
    ranked_ = rank_hosts(hosts_, views_, user_);
    if (!config_.portscan) return chosen(0);
    std::vector<ProbeTarget> order;
    for (const auto& c : ranked_) order.push_back(targets_[c.host]);
    probe_ = std::make_unique<HostProbe>(event_, std::move(order), std::uint64_t{config_.probe_timeout_ms} * 1000,
                                         [this](std::optional<std::size_t> found) {
                                             if (found) return chosen(*found);
                                             log::info("No X2Go server of the profile answers",
                                                       {{"USER", user_}, {"RSM_BROKER_PROFILE", profile_id_}});
                                             finish(Selection{"no-X2Go-Server-available", sshport_, {}});
                                         });
}

void HostSelection::chosen(std::size_t candidate) {
    const Candidate& c = ranked_.at(candidate);
    const Host& h = hosts_[c.host];
    Selection s{h.address, h.port, {}};
    if (!c.session) return finish(s);
    s.session_info = c.session->line;
    if (c.session->status != 'R') return finish(s);
    // A running session: suspended through the agent, then resumed by the client.
    s.session_info = as_suspended(c.session->line);
    pending_selection_ = s;
    log::info("Suspending the user's running session for the client to resume it",
              {{"USER", user_}, {"RSM_BROKER_HOST", targets_[c.host].label}, {"RSM_BROKER_SESSION", c.session->name}});
    queries_.push_back(std::make_unique<AgentQuery>(
        event_, config_, AgentTarget{h.address, h.port}, user_, std::vector<std::string>{"suspendsession", c.session->name},
        [this, label = targets_[c.host].label](std::optional<std::string> output, std::string error) {
            if (output && error.empty()) {
                const auto reply = parse_agent_reply(*output);
                if (!reply.lines) error = reply.error;
            }
            if (!error.empty())
                log::warning("x2gobroker-agent query failed",
                             {{"RSM_BROKER_HOST", label}, {"RSM_BROKER_AGENT_TASK", "suspendsession"}, {"RSM_ERROR", error}});
            sd_event_source* t = nullptr;
            std::uint64_t now = 0;
            sd_event_now(event_, CLOCK_MONOTONIC, &now);
            const std::uint64_t at = now + std::uint64_t{config_.suspend_wait_ms} * 1000;
            if (sd_event_add_time(event_, &t, CLOCK_MONOTONIC, at, 0, &HostSelection::on_suspended, this) < 0)
                return finish(pending_selection_);
            wait_.reset(t);
        }));
}

int HostSelection::on_suspended(sd_event_source*, std::uint64_t, void* self) {
    auto* h = static_cast<HostSelection*>(self);
    h->finish(h->pending_selection_);
    return 0;
}

void HostSelection::finish(Selection s) {
    std::string session;
    if (!s.session_info.empty())
        if (const auto p = parse_session_line(s.session_info); p.session) session = p.session->name;
    log::info("Server selected", {{"USER", user_},
                                  {"RSM_BROKER_PROFILE", profile_id_},
                                  {"RSM_BROKER_HOST", s.server},
                                  {"RSM_BROKER_SESSION", session}});
    if (auto d = std::exchange(done_, nullptr)) d(std::move(s));
}

}  // namespace rsm::broker
