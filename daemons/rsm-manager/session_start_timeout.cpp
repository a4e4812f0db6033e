// A session start that did not finish in time (start_deadline.hpp): the
// waiting CreateSession calls get org.rsm.Error.TimedOut, and everything the
// start made so far goes, as at any session's end (session_end.cpp): the
// executor, the scope (or systemd's job for it), then the record and the
// display number once nothing of the session runs any more.
#include "session_registry.hpp"

#include <csignal>

#include "bus/names.hpp"
#include "session_entry.hpp"
#include "util/log.hpp"

namespace rsm::manager {

namespace err = names::error;

void SessionRegistry::on_start_timeout(const std::string& id_ref, StartStep step, uint64_t timeout_usec) {
    const std::string id = id_ref;  // the deadline's callback, which owns id_ref, may go with the entry
    Entry* e = lookup(id);
    if (!e) return;
    const std::string message = start_timeout_message(step, timeout_usec);
    auto f = session_fields(e->record);
    f.push_back({"RSM_START_STEP", to_string(step)});
    f.push_back({"RSM_TIMEOUT_USEC", std::to_string(timeout_usec)});
    if (e->link) f.push_back({"RSM_CHILD_PID", std::to_string(e->link->pid())});
    log::warning("Session start timed out: " + message + "; cleaning up", f);
    e->failure = message;
    fail_waiting(*e, err::timed_out, message);
    // Our wait for systemd only: the sweep's StopUnit replaces the job itself.
    e->scope_job.reset();

    if (step == StartStep::start_session) {
        // The executor has StartSession: it may have opened the PAM session
        // and started the display server, all in the scope. Ask it to end
        // them; the sweep stops the scope at once, whose SIGTERM (with
        // SIGCONT, for a stopped one) and SIGKILL after TimeoutStopUSec end a
        // hung executor too. The record and display number go once the scope
        // is gone.
        if (e->link) e->link->terminate();
        sweep(id, 0);
        return;
    }
    // Before StartSession the executor holds no session, so there is nothing
    // to end politely, and a hung one (blocked in NSS or PAM) would not read
    // a request to. It is most likely still in the manager's cgroup (the
    // scope's start job, which would move it, has not run): kill it here.
    if (e->link) {
        const pid_t pid = e->link->pid();
        if (!reaper_.kill(pid, SIGKILL))
            log::warning("Cannot kill the session process of a timed-out start", f);
        retire(std::move(e->link));
    }
    if (step == StartStep::account_check)
        bury(id);  // no scope was asked for yet
    else
        sweep(id, 0);  // StopUnit cancels the scope's start job
}

}  // namespace rsm::manager
