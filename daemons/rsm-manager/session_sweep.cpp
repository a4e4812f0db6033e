#include "session_sweep.hpp"

#include <csignal>
#include <ctime>

#include "bus/error.hpp"
#include "util/log.hpp"

namespace rsm::manager {

SessionSweeper::SessionSweeper(sd_event* event, ScopeStarter& scopes, LogindSessions& logind)
    : event_(event), scopes_(scopes), logind_(logind) {}

std::unique_ptr<SessionSweeper::Sweep> SessionSweeper::sweep(const session::Record& record, uint64_t delay_usec,
                                                             std::function<void(bool clean)> done) {
    auto s = std::make_unique<Sweep>(*this, record, std::move(done));
    // Also with no delay the sweep begins from the loop, so `done` never
    // runs inside sweep().
    sd_event_source* src = nullptr;
    bus::check(sd_event_add_time_relative(event_, &src, CLOCK_MONOTONIC, delay_usec, 0, &Sweep::on_delay, s.get()),
               "sd_event_add_time_relative");
    s->delay_.reset(src);
    if (delay_usec) log::debug("Waiting for the executor before sweeping the session", s->fields());
    return s;
}

SessionSweeper::Sweep::Sweep(SessionSweeper& owner, const session::Record& record, std::function<void(bool)> done)
    : owner_(owner),
      session_id_(record.id),
      user_(record.user),
      unit_(record.unit),
      logind_session_(record.logind_session),
      leader_pid_(static_cast<pid_t>(record.leader_pid)),
      uid_(static_cast<uid_t>(record.uid)),
      done_(std::move(done)) {}

log::Fields SessionSweeper::Sweep::fields() const {
    log::Fields f{{"RSM_SESSION_ID", session_id_}, {"USER", user_}, {"UNIT", unit_}};
    if (!logind_session_.empty()) f.push_back({"RSM_LOGIND_SESSION", logind_session_});
    return f;
}

void SessionSweeper::Sweep::now() {
    if (started_ || !delay_) return;
    (void)sd_event_source_set_time_relative(delay_.get(), 0);
}

int SessionSweeper::Sweep::on_delay(sd_event_source*, uint64_t, void* userdata) noexcept {
    auto* self = static_cast<Sweep*>(userdata);
    try {
        self->begin();
    } catch (const std::exception& e) {
        auto f = self->fields();
        f.push_back({"RSM_ERROR", e.what()});
        log::error("Cannot sweep the session's processes; releasing it", f);
        auto done = std::move(self->done_);
        if (done) done(false);  // may destroy self
    }
    return 0;
}

void SessionSweeper::Sweep::begin() {
    started_ = true;
    delay_.reset();
    sd_event_source* src = nullptr;
    bus::check(sd_event_add_time_relative(owner_.event_, &src, CLOCK_MONOTONIC, deadline_usec, 0, &Sweep::on_deadline,
                                          this),
               "sd_event_add_time_relative");
    deadline_.reset(src);
    log::debug("Sweeping the session's processes", fields());
    // Both at once: each covers what the other cannot reach.
    if (!unit_.empty()) {
        scope_stop_ = owner_.scopes_.stop(unit_, [this](const std::string&) {
            // A refusal is logged by the starter; nothing more can be done.
            scope_gone_ = true;
            check_done();
        });
    } else {
        scope_gone_ = true;
    }
    if (!logind_session_.empty()) {
        stop_logind_session();
    } else if (leader_pid_ > 0) {
        // The executor never named it (a start that timed out in a PAM
        // session module after pam_systemd): ask logind which session the
        // leader leads. The leader is not in the rsm scope any more.
        try {
            lookup_ = owner_.logind_.find_by_leader(leader_pid_, uid_, [this](std::string id) {
                lookup_.reset();  // done: it called us last
                if (id.empty()) {
                    logind_gone_ = true;
                    check_done();
                    return;
                }
                logind_session_ = std::move(id);
                log::info("Found the logind session of a session that never named it", fields());
                stop_logind_session();
            });
        } catch (const std::exception& e) {
            auto f = fields();
            f.push_back({"RSM_ERROR", e.what()});
            log::warning("Cannot look for the logind session of the session's leader", f);
            logind_gone_ = true;
        }
    } else {
        logind_gone_ = true;
    }
    check_done();
}

void SessionSweeper::Sweep::stop_logind_session() {
    logind_stop_ = owner_.logind_.terminate(logind_session_, [this](const std::string&) {
        logind_gone_ = true;
        check_done();
    });
    // logind 252 ignores TerminateSession for a session that is stopping
    // already ("closing": the leader closed the PAM session, processes are
    // left): its session_stop() returns early. Stopping its scope is what
    // logind itself would do; the session goes once the scope is gone
    // (SessionRemoved ends the wait above).
    logind_scope_stop_ = owner_.scopes_.stop("session-" + logind_session_ + ".scope", [](const std::string&) {});
}

void SessionSweeper::Sweep::check_done() {
    if (!scope_gone_ || !logind_gone_ || !done_) return;
    deadline_.reset();
    logind_scope_stop_.reset();
    log::debug("Every process of the session is gone", fields());
    auto done = std::move(done_);
    done(true);  // last: may destroy *this
}

int SessionSweeper::Sweep::on_deadline(sd_event_source*, uint64_t, void* userdata) noexcept {
    auto* self = static_cast<Sweep*>(userdata);
    try {
        std::string left;
        if (!self->scope_gone_) left = self->unit_;
        if (!self->logind_gone_)
            left += (left.empty() ? "" : " and ") +
                    (self->logind_session_.empty() ? std::string("the leader's logind session")
                                                   : "logind session " + self->logind_session_);
        auto f = self->fields();
        f.push_back({"RSM_TIMEOUT_USEC", std::to_string(deadline_usec)});
        log::warning("Processes of the session still run in " + left + " " + std::to_string(deadline_usec / 1000000) +
                         " s after the stop; killing them and releasing the session",
                     f);
        if (!self->scope_gone_) self->owner_.scopes_.kill(self->unit_, SIGKILL);
        if (!self->logind_gone_ && !self->logind_session_.empty())
            self->owner_.logind_.kill(self->logind_session_, SIGKILL);
        self->lookup_.reset();
    } catch (const std::exception& e) {
        log::error(std::string("Session sweep deadline: ") + e.what());
    }
    self->scope_stop_.reset();
    self->logind_stop_.reset();
    self->logind_scope_stop_.reset();
    self->deadline_.reset();
    auto done = std::move(self->done_);
    if (done) done(false);  // last: may destroy self
    return 0;
}

}  // namespace rsm::manager
