// The registry's side of each session's executor link: the callbacks it
// hands the link (state changes, the session's end, the link closing), the
// copy kept in systemd's fd store, and links retired until the collector
// frees them.
#include "session_registry.hpp"

#include <algorithm>
#include <cstring>

#include "bus/names.hpp"
#include "fd_store.hpp"
#include "session_entry.hpp"
#include "util/log.hpp"

namespace rsm::manager {

namespace err = names::error;

ExecutorLink::Callbacks SessionRegistry::link_callbacks(const std::string& id) {
    ExecutorLink::Callbacks cb;
    cb.on_disconnect = [this, id] { on_link_closed(id); };
    cb.on_state_changed = [this, id](const session::Record& r) { on_state_changed(id, r); };
    cb.on_session_ended = [this, id](const std::string& reason, bool failed) {
        if (Entry* e = lookup(id)) {
            if (e->failure.empty()) e->failure = reason;
            auto f = session_fields(e->record);
            f.push_back({"RSM_REASON", reason});
            if (failed)
                log::warning("Session ended: " + reason, f);
            else
                log::notice("Session ended: " + reason, f);
        }
    };
    cb.on_shadow_ended = [this, id](uint32_t display) { on_shadow_ended(id, display); };
    cb.on_conversation = [this, id](std::vector<PamMessage>) {
        if (Entry* e = lookup(id); e && e->link) e->link->fail_conversation(err::failed, "no conversation here");
    };
    return cb;
}

void SessionRegistry::on_state_changed(const std::string& id, const session::Record& from_executor) {
    Entry* e = lookup(id);
    if (!e) return;
    // While the start is pending the executor's record is not the announce yet.
    const bool was_closing = e->record.state == session::State::closing;
    auto changed = merge_from_executor(e->record, from_executor);
    // A recovered start (take_announce) is over once its state moves on.
    if (e->start_deadline && e->waiting.empty() && e->record.state != session::State::starting)
        e->start_deadline->cancel();
    if (was_closing && e->record.state != session::State::closing) {
        e->record.state = session::State::closing;  // we asked it to end; keep saying so
        changed.erase(std::remove(changed.begin(), changed.end(), "STATE"), changed.end());
    }
    notify_changed(*e, changed);
}

// The executor is gone: the leader closed the PAM session (or died). What
// escaped it goes now (sweep()); the entry stays, in state closing, until
// then, so its display number is not handed out while its server may run.
void SessionRegistry::on_link_closed(const std::string& id_ref) {
    const std::string id = id_ref;  // the link's callback, which owns id_ref, goes with the link
    Entry* e = lookup(id);
    if (!e) return;
    fail_waiting(*e, err::session_failed,
                 e->failure.empty() ? "the session process exited before the session was ready" : e->failure);
    log::info("Session process gone", session_fields(e->record));
    remove_stored_fd(executor_fd_name(id));
    retire(std::move(e->link));
    // A scope still being created goes with the sweep (StopUnit replaces the start job).
    e->scope_job.reset();
    sweep(id, 0);
}

void SessionRegistry::store_link(const Entry& e) {
    if (int r = store_fd(executor_fd_name(e.record.id), e.link->fd()); r < 0)
        log::warning("Could not keep the executor link in the fd store; the session will not survive a manager "
                     "crash",
                     [&] {
                         auto f = session_fields(e.record);
                         f.push_back({"RSM_ERROR", std::strerror(-r)});
                         return f;
                     }());
}

void SessionRegistry::retire(std::unique_ptr<ExecutorLink> link) {
    if (!link) return;
    link->detach();
    retired_links_.push_back(std::move(link));
    sd_event_source_set_enabled(collect_source_.get(), SD_EVENT_ONESHOT);
}

}  // namespace rsm::manager
