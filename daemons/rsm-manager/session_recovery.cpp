// Sessions that outlived their manager: after a restart, the links systemd
// kept in the fd store (read back by LinkRecovery) and the record files; after
// a stop, executors that re-announce on the executor socket. Either way the
// executor's Attach reply is the truth (take_announce).
#include "session_registry.hpp"

#include <cerrno>
#include <cstring>

#include "fd_store.hpp"
#include "link_recovery.hpp"
#include "session/display_type.hpp"
#include "session/session_id.hpp"
#include "session_entry.hpp"
#include "util/log.hpp"

namespace rsm::manager {

// The links are read up to their resync marker in the event loop
// (LinkRecovery), all against one deadline, so READY=1 waits for no executor.
// Links whose marker is already there (the usual case: an executor writes it
// as soon as the old manager dies) are adopted before recover() returns.
void SessionRegistry::recover(std::map<std::string, UniqueFd> links) {
    session::LoadedRecords loaded = session::load_records(sessions_dir());
    for (const auto& error : loaded.errors) log::warning("Ignoring a session record: " + error);
    std::map<std::string, session::Record> records;
    for (auto& r : loaded.records) records.emplace(r.id, std::move(r));

    // While a link waits, its display number stays taken; an announce on the
    // executor socket may bring the same session back first (its link then
    // reached EOF here), and then the record and fd store are its.
    auto resynced = [this](const std::string& id, session::Record record, UniqueFd fd, int error) {
        const bool announced = lookup(id) != nullptr;
        if (error < 0 || announced) {
            if (record.display_number >= 0 && !announced) displays_.release(static_cast<unsigned>(record.display_number));
            if (announced) {
                log::info("Dropping the stored link of a session its executor re-announced meanwhile",
                          {{"RSM_SESSION_ID", id}});
                return;
            }
            log::warning(std::string("Executor link did not resynchronise, dropping its session: ") +
                             (error == -ETIMEDOUT ? "no resync marker before the deadline" : std::strerror(-error)),
                         {{"RSM_SESSION_ID", id}});
            remove_stored_fd(executor_fd_name(id));
            session::remove_record(sessions_dir(), id);
            return;
        }
        std::unique_ptr<ExecutorLink> link;
        try {
            link = ExecutorLink::adopt(event_, std::move(fd), static_cast<pid_t>(record.executor_pid), {});
        } catch (const std::exception& e) {
            log::warning(std::string("Could not adopt an executor link: ") + e.what(), {{"RSM_SESSION_ID", id}});
            if (record.display_number >= 0) displays_.release(static_cast<unsigned>(record.display_number));
            remove_stored_fd(executor_fd_name(id));
            session::remove_record(sessions_dir(), id);
            return;
        }
        Entry& e = add_entry(std::move(record), std::move(link));
        e.link->attach([this, id](ExecutorReply reply) {
            Entry* en = lookup(id);
            if (!en) return;
            if (!reply.ok) {
                log::warning("Executor did not re-announce its session: " + reply.error_message,
                             {{"RSM_SESSION_ID", id}});
                en->link->terminate();
                bury(id);
                return;
            }
            take_announce(*en, reply.record);
            log::notice("Session recovered after a manager restart", session_fields(en->record));
        });
    };
    recovering_ = std::make_unique<LinkRecovery>(event_, std::chrono::milliseconds(5000), resynced);

    for (auto& [id, fd] : links) {
        if (!session::valid_session_id(id)) {
            log::warning("Dropping a stored fd with an unexpected name", {{"RSM_FD_NAME", executor_fd_name(id)}});
            remove_stored_fd(executor_fd_name(id));
            continue;
        }
        session::Record record;
        if (auto it = records.find(id); it != records.end()) {
            record = it->second;
            records.erase(it);
        } else {
            record.id = id;
            record.unit = scope_unit_name(id);
        }
        if (record.display_number >= 0) displays_.reserve(static_cast<unsigned>(record.display_number));
        recovering_->add(id, std::move(record), std::move(fd));
    }
    if (recovering_->size())
        log::info("Waiting in the loop for " + std::to_string(recovering_->size()) +
                  " executor link(s) to resynchronise");
    for (auto& [id, r] : records) {
        // Also when its executor is about to re-announce it on the executor
        // socket: the announce writes the record again.
        log::info("Removing the record of a session whose executor is gone", session_fields(r));
        session::remove_record(sessions_dir(), id);
    }
}

// An executor's Attach reply (its re-announce), after a restart or on the
// executor socket: its record is the truth. Fills what the executor owns,
// writes the full record and tells the observers the session is there.
void SessionRegistry::take_announce(Entry& e, const session::Record& announced) {
    session::Record& rec = e.record;
    if (rec.user.empty()) rec.user = announced.user;
    if (rec.type.empty()) rec.type = announced.type;
    rec.uid = announced.uid;
    if (!announced.desktop.empty()) rec.desktop = announced.desktop;
    if (announced.width) {
        rec.width = announced.width;
        rec.height = announced.height;
        rec.depth = announced.depth;
    }
    merge_from_executor(rec, announced);
    rec.complete = true;
    if (rec.display_number >= 0) displays_.reserve(static_cast<unsigned>(rec.display_number));
    // A start the old manager was waiting for keeps a bound here: the
    // executor's own startup timer ends it, and this deadline (the one the
    // StartSession reply had) covers an executor that hangs on the way.
    // Cancelled when the state leaves "starting" (on_state_changed).
    if (rec.state == session::State::starting && !e.start_deadline) {
        const std::string id = rec.id;
        e.start_deadline = std::make_unique<StartDeadline>(
            event_, [this, id](StartStep step, uint64_t timeout) { on_start_timeout(id, step, timeout); });
        try {
            e.start_deadline->arm(StartStep::start_session,
                                  usec(settings_.session.startup_timeout) + start_session_margin_usec);
        } catch (const std::exception& ex) {
            // Still bounded by the executor's own startup timer.
            log::warning(std::string("Cannot arm the recovered start's deadline: ") + ex.what(), session_fields(rec));
        }
    }
    persist(e);
    for (auto* o : observers_) o->session_added(rec);
}

// ---------------------------------------------------------------------------
// Re-announces on the executor socket (after a stop of the manager)

void SessionRegistry::adopt_announced(UniqueFd fd, pid_t pid) {
    const log::Fields peer{{"RSM_EXECUTOR_PID", std::to_string(pid)}};
    std::unique_ptr<ExecutorLink> link;
    try {
        // A fresh connection: the executor starts its D-Bus client at once,
        // there is no resync marker to skip.
        link = ExecutorLink::adopt(event_, std::move(fd), pid, {});
    } catch (const std::exception& e) {
        auto f = peer;
        f.push_back({"RSM_ERROR", e.what()});
        log::warning("Could not set up a link to an announcing executor", f);
        return;
    }
    const uint64_t key = next_announce_++;
    ExecutorLink::Callbacks cb;
    cb.on_disconnect = [this, key, pid] {
        auto node = announcing_.extract(key);
        if (node.empty()) return;
        log::warning("An executor closed its connection before announcing its session",
                     {{"RSM_EXECUTOR_PID", std::to_string(pid)}});
        retire(std::move(node.mapped()));
    };
    link->set_callbacks(std::move(cb));
    ExecutorLink& ref = *link;
    announcing_.emplace(key, std::move(link));
    try {
        ref.attach([this, key, pid](ExecutorReply reply) { on_announced(key, pid, std::move(reply)); });
    } catch (const std::exception& e) {
        auto f = peer;
        f.push_back({"RSM_ERROR", e.what()});
        log::warning("Could not ask an announcing executor for its session", f);
        auto node = announcing_.extract(key);
        if (!node.empty()) retire(std::move(node.mapped()));
    }
}

void SessionRegistry::on_announced(uint64_t key, pid_t pid, ExecutorReply reply) {
    auto node = announcing_.extract(key);
    if (node.empty()) return;
    std::unique_ptr<ExecutorLink> link = std::move(node.mapped());
    const std::string& id = reply.record.id;
    log::Fields f{{"RSM_EXECUTOR_PID", std::to_string(pid)}};
    if (!id.empty()) f.push_back({"RSM_SESSION_ID", id});
    // Refusals close the new link only: whatever the executor runs, it ends
    // on its own when no manager takes it (or goes on with the one it has).
    auto refuse = [&](const std::string& why) {
        f.push_back({"RSM_REASON", why});
        log::warning("Refused an executor's re-announce: " + why, f);
        retire(std::move(link));
    };
    if (!reply.ok) return refuse("Attach failed: " + reply.error_message);
    if (!session::valid_session_id(id)) return refuse("the announced session id is not valid");
    if (reply.record.executor_pid && reply.record.executor_pid != static_cast<uint32_t>(pid))
        return refuse("the announced executor pid " + std::to_string(reply.record.executor_pid) +
                      " is not the peer's");
    const auto& type = reply.record.type;
    if (!session::display_type_from_string(type))
        return refuse("unknown display type '" + type + "'");
    if (lookup(id)) return refuse("a session with this id is already known");

    session::Record record;
    record.id = id;
    record.unit = scope_unit_name(id);
    record.executor_pid = static_cast<uint32_t>(pid);
    Entry& e = add_entry(std::move(record), std::move(link));
    take_announce(e, reply.record);
    store_link(e);
    log::notice("Session re-announced by its executor after a stop of the manager", session_fields(e.record));
}

}  // namespace rsm::manager
