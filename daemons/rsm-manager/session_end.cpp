// The end of a session (docs/design-notes.md, "How a session ends"):
// terminate asks the executor, the sweep stops what escaped it, bury releases
// the record, display number and files, and the collector frees entries and
// links outside the callbacks that still use them.
#include "session_registry.hpp"

#include <cerrno>
#include <cstring>

#include "bus/error.hpp"
#include "bus/names.hpp"
#include "fd_store.hpp"
#include "session_entry.hpp"
#include "user_sockdir.hpp"
#include "util/log.hpp"

namespace rsm::manager {

using bus::BusError;
namespace err = names::error;

void SessionRegistry::terminate_owned(uint32_t uid, const std::string& id) {
    Entry* e = lookup(id);
    if (!e || e->record.uid != uid) throw BusError(err::no_such_session, "no session " + id + " for this user");
    terminate(id);
}

bool SessionRegistry::terminate(const std::string& id) {
    Entry* e = lookup(id);
    if (!e) return false;
    log::notice("Terminating session", session_fields(e->record));
    if (e->record.state != session::State::closing) {
        e->record.state = session::State::closing;
        notify_changed(*e, {"STATE"});
    }
    // The executor ends the session (the leader closes the PAM session
    // first); the sweep follows when its link closes, or after a grace
    // period if it does not (a stopped or hung executor: the scope's stop
    // ends it too).
    if (e->link) e->link->terminate();
    sweep(id, e->link ? SessionSweeper::executor_grace_usec : 0);
    return true;
}

std::size_t SessionRegistry::terminate_user(uint32_t uid) {
    std::vector<std::string> ids;
    for (auto& [id, e] : entries_)
        if (e->record.uid == uid) ids.push_back(id);
    for (auto& id : ids) terminate(id);
    return ids.size();
}

void SessionRegistry::sweep(const std::string& id, uint64_t delay_usec) {
    Entry* e = lookup(id);
    if (!e) return;
    // Ending: whatever step the start was at, it waits for nothing any more.
    if (e->start_deadline) e->start_deadline->cancel();
    if (e->sweep) {
        if (delay_usec == 0) e->sweep->now();
        return;
    }
    if (!sweeper_) {
        if (!e->link) bury(id);  // no system bus: nothing to sweep with; the link closing buries it
        return;
    }
    if (e->record.state != session::State::closing) {
        e->record.state = session::State::closing;
        notify_changed(*e, {"STATE"});
    }
    e->sweep = sweeper_->sweep(e->record, delay_usec, [this, id](bool clean) {
        Entry* en = lookup(id);
        if (!en) return;
        if (clean)
            log::info("Session gone", session_fields(en->record));
        else
            log::warning("Session released before all of its processes were gone", session_fields(en->record));
        bury(id);
    });
}

void SessionRegistry::bury(const std::string& id) {
    auto node = entries_.extract(id);
    if (node.empty()) return;
    Entry& e = *node.mapped();
    remove_stored_fd(executor_fd_name(id));
    session::remove_record(sessions_dir(), id);
    // What the session left in the user's socket directory, also when its
    // display server or executor crashed.
    remove_session_files(settings_.runtime_dir, static_cast<uid_t>(e.record.uid), id, session_fields(e.record));
    if (e.record.display_number >= 0) {
        const auto n = static_cast<unsigned>(e.record.display_number);
        if (session::remove_stale_x_display(n, static_cast<uid_t>(e.record.uid)))
            log::info("Removed the socket a dead X server left on :" + std::to_string(n), session_fields(e.record));
        displays_.release(n);
    }
    for (unsigned n : e.shadow_displays) displays_.release(n);
    e.shadow_displays.clear();
    fail_waiting(e, err::session_failed, e.failure.empty() ? "the session ended" : e.failure);
    if (e.link) e.link->detach();
    e.scope_job.reset();
    // Off, not freed: bury() may run inside the deadline's own callback.
    if (e.start_deadline) e.start_deadline->cancel();
    for (auto* o : observers_) o->session_removed(e.record);
    graveyard_.push_back(std::move(node.mapped()));
    sd_event_source_set_enabled(collect_source_.get(), SD_EVENT_ONESHOT);
}

int SessionRegistry::on_collect(sd_event_source*, void* userdata) {
    auto* self = static_cast<SessionRegistry*>(userdata);
    self->graveyard_.clear();
    self->retired_links_.clear();
    return 0;
}

}  // namespace rsm::manager
