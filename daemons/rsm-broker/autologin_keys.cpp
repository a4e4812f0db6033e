#include "autologin_keys.hpp"

#include <cstring>
#include <stdexcept>

#include "broker/agent_output.hpp"
#include "util/log.hpp"

namespace rsm::broker {

namespace {

constexpr std::uint64_t retry_usec = 1'000'000;  // a deletion waiting for a free agent run

std::string label_of(const AgentTarget& t) { return t.address + ":" + std::to_string(t.port); }

// The agent's answer: OK first (agent_output.hpp), else why not.
std::string agent_error(const std::optional<std::string>& output, std::string error) {
    if (!output || !error.empty()) return error.empty() ? "no answer" : error;
    const auto reply = parse_agent_reply(*output);
    return reply.lines ? std::string() : reply.error;
}

}  // namespace

struct AutologinKeys::Job {
    AutologinKeys* owner;
    std::uint64_t id;
    AgentTarget target;
    std::string user, line, path;
    Done done;              // the add's; empty once called
    bool deleting = false;  // added: the deletion is next
    bool holds_slot = false;
    std::unique_ptr<AgentQuery> query;
    EventSourcePtr timer;
};

AutologinKeys::AutologinKeys(sd_event* event, const BrokerConfig& config, unsigned& agent_slots)
    : event_{event}, config_{config}, agent_slots_{agent_slots} {
    sd_event_source* d = nullptr;
    if (const int r = sd_event_add_defer(event_, &d, &AutologinKeys::on_defer, this); r < 0)
        throw std::runtime_error(std::string("sd_event_add_defer: ") + std::strerror(-r));
    defer_.reset(d);
    sd_event_source_set_enabled(d, SD_EVENT_OFF);
}

AutologinKeys::~AutologinKeys() {
    if (const auto n = pending_deletions(); n > 0)
        log::notice("Broker stopping with autologin keys not yet deleted: their expiry-time ends them",
                    {{"RSM_BROKER_KEYS", std::to_string(n)}});
    for (auto& [id, job] : jobs_)
        if (job->holds_slot) --agent_slots_;
}

std::size_t AutologinKeys::pending_deletions() const noexcept {
    std::size_t n = 0;
    for (const auto& [id, job] : jobs_) n += job->deleting ? 1 : 0;
    return n;
}

void AutologinKeys::add(AgentTarget target, std::string user, std::string line, std::string path, Done done) {
    if (agent_slots_ >= config_.agent_max_queries) {
        log::warning("Too many x2gobroker-agent queries at once; no broker autologin for this selection",
                     {{"USER", user}, {"RSM_BROKER_HOST", label_of(target)}});
        return done(false);
    }
    const std::uint64_t id = next_id_++;
    auto job = std::make_unique<Job>(Job{this, id, std::move(target), std::move(user), std::move(line), std::move(path),
                                         std::move(done), false, false, nullptr, nullptr});
    Job& j = *job;
    jobs_.emplace(id, std::move(job));
    run(j);
}

void AutologinKeys::run(Job& job) {
    ++agent_slots_;
    job.holds_slot = true;
    std::vector<std::string> args{job.deleting ? "delauthkey" : "addauthkey", job.line, job.path};
    job.query = std::make_unique<AgentQuery>(
        event_, config_, job.target, job.user, std::move(args),
        [this, &job](std::optional<std::string> output, std::string error) {
            --agent_slots_;
            job.holds_slot = false;
            if (job.deleting) deleted(job, std::move(output), std::move(error));
            else added(job, std::move(output), std::move(error));
        });
}

void AutologinKeys::added(Job& job, std::optional<std::string> output, std::string error) {
    const std::string why = agent_error(output, std::move(error));
    if (!why.empty()) {
        log::warning("x2gobroker-agent could not add the autologin key; the client logs in without it",
                     {{"USER", job.user}, {"RSM_BROKER_HOST", label_of(job.target)},
                      {"RSM_BROKER_AGENT_TASK", "addauthkey"}, {"RSM_ERROR", why}});
        auto done = std::exchange(job.done, nullptr);
        retire(job.id);
        return done(false);
    }
    log::info("Autologin key added for the client", {{"USER", job.user}, {"RSM_BROKER_HOST", label_of(job.target)}});
    job.deleting = true;
    std::uint64_t now = 0;
    sd_event_now(event_, CLOCK_MONOTONIC, &now);
    sd_event_source* t = nullptr;
    const std::uint64_t at = now + std::uint64_t{config_.key_lifetime_sec} * 1'000'000;
    if (sd_event_add_time(event_, &t, CLOCK_MONOTONIC, at, 0, &AutologinKeys::on_delete_time, &job) < 0)
        log::warning("Cannot schedule the autologin key's deletion: its expiry-time ends it", {{"USER", job.user}});
    else
        job.timer.reset(t);
    std::exchange(job.done, nullptr)(true);
}

int AutologinKeys::on_delete_time(sd_event_source* s, std::uint64_t, void* p) {
    auto& job = *static_cast<Job*>(p);
    AutologinKeys& self = *job.owner;
    if (self.agent_slots_ >= self.config_.agent_max_queries) {
        std::uint64_t now = 0;
        sd_event_now(self.event_, CLOCK_MONOTONIC, &now);
        sd_event_source_set_time(s, now + retry_usec);
        sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
    }
    self.run(job);  // replaces the add's query, done long ago (never freed in its own callback)
    return 0;
}

void AutologinKeys::deleted(Job& job, std::optional<std::string> output, std::string error) {
    const std::string why = agent_error(output, std::move(error));
    if (why.empty())
        log::info("Autologin key deleted", {{"USER", job.user}, {"RSM_BROKER_HOST", label_of(job.target)}});
    else
        log::warning("x2gobroker-agent could not delete the autologin key: its expiry-time ends it",
                     {{"USER", job.user}, {"RSM_BROKER_HOST", label_of(job.target)},
                      {"RSM_BROKER_AGENT_TASK", "delauthkey"}, {"RSM_ERROR", why}});
    retire(job.id);
}

void AutologinKeys::retire(std::uint64_t id) {
    const auto it = jobs_.find(id);
    if (it == jobs_.end()) return;
    graveyard_.push_back(std::move(it->second));
    jobs_.erase(it);
    sd_event_source_set_enabled(defer_.get(), SD_EVENT_ONESHOT);
}

int AutologinKeys::on_defer(sd_event_source*, void* self) {
    static_cast<AutologinKeys*>(self)->graveyard_.clear();
    return 0;
}

}  // namespace rsm::broker
