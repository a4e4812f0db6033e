// The registry's core: its entries and observers, the record files, the
// queries, and the calls that act on a live session (connect, disconnect).
// Starting a session is session_start.cpp, its end session_end.cpp, the
// executor links session_links.cpp, recovery after a restart
// session_recovery.cpp, finding a session by pid session_by_pid.cpp.
#include "session_registry.hpp"

#include <algorithm>
#include <cstring>
#include <memory>

#include "bus/error.hpp"
#include "bus/names.hpp"
#include "link_recovery.hpp"
#include "session_entry.hpp"
#include "util/log.hpp"

namespace rsm::manager {

using bus::BusError;
namespace err = names::error;

// See system_calls_ in session_registry.hpp.
constexpr unsigned system_calls_in_flight = 64;

namespace {

ScopeSettings scope_settings_from(const config::Session& s) {
    ScopeSettings out;
    out.slice = s.slice;
    out.memory_max = config::parse_memory_size(s.memory_max);
    if (s.tasks_max) out.tasks_max = s.tasks_max;
    if (s.cpu_weight) out.cpu_weight = s.cpu_weight;
    return out;
}

}  // namespace

SessionRegistry::SessionRegistry(sd_event* event, ChildReaper& reaper, sd_bus* system_bus, SessionSettings settings)
    : event_(event), reaper_(reaper), settings_(std::move(settings)),
      policy_(session::ReconnectPolicy::parse(settings_.session.reconnect_policy)),
      scope_settings_(scope_settings_from(settings_.session)),
      system_calls_(system_bus ? std::make_unique<bus::CallQueue>(system_bus, system_calls_in_flight) : nullptr),
      scopes_(system_calls_ ? std::make_unique<ScopeStarter>(*system_calls_) : nullptr),
      displays_(settings_.session.display_first, settings_.session.display_last) {
    sd_event_source* s = nullptr;
    bus::check(sd_event_add_defer(event_, &s, &SessionRegistry::on_collect, this), "adding the session collector");
    collect_source_.reset(s);
    sd_event_source_set_enabled(collect_source_.get(), SD_EVENT_OFF);
    if (scopes_) {
        logind_ = std::make_unique<LogindSessions>(*system_calls_);
        sweeper_ = std::make_unique<SessionSweeper>(event_, *scopes_, *logind_);
    }
}

SessionRegistry::~SessionRegistry() {
    collect_source_.reset();
    // Links close here; with the fd store holding their other copy, the
    // executors keep their sessions for the next manager.
    for (auto& [id, e] : entries_)
        if (e->link) e->link->detach();
    for (auto& [key, link] : announcing_) link->detach();
    entries_.clear();
    announcing_.clear();
    graveyard_.clear();
    retired_links_.clear();
}

void SessionRegistry::reconfigure(SessionSettings settings) {
    // config::load checked first <= last; running sessions keep their numbers.
    displays_.set_range(settings.session.display_first, settings.session.display_last);
    policy_ = session::ReconnectPolicy::parse(settings.session.reconnect_policy);
    scope_settings_ = scope_settings_from(settings.session);
    settings_ = std::move(settings);
    // The time limits reach every session: those still starting with their
    // StartSession, running ones by SetLimits (also when this configuration's
    // limits did not change: a session adopted after a restart may have
    // started under older ones; the executor ignores values it has).
    const auto& s = settings_.session;
    const uint64_t lifetime = usec(s.max_lifetime), disconnected = usec(s.disconnected_timeout),
                   idle = usec(s.idle_timeout);
    for (auto& [id, e] : entries_) {
        e->params.max_lifetime_usec = lifetime;
        e->params.disconnected_timeout_usec = disconnected;
        e->params.idle_timeout_usec = idle;
        if (e->link && e->record.complete) e->link->set_limits(lifetime, disconnected, idle);
    }
}

std::string SessionRegistry::sessions_dir() const { return settings_.runtime_dir + "/sessions"; }

SessionRegistry::Entry* SessionRegistry::lookup(const std::string& id) const {
    auto it = entries_.find(id);
    return it == entries_.end() ? nullptr : it->second.get();
}

void SessionRegistry::persist(const Entry& e) {
    try {
        write_record(sessions_dir(), e.record);
    } catch (const std::exception& ex) {
        log::error("Could not write the session record", [&] {
            auto f = session_fields(e.record);
            f.push_back({"RSM_ERROR", ex.what()});
            return f;
        }());
    }
}

void SessionRegistry::notify_changed(const Entry& e, const std::vector<std::string>& changed) {
    if (changed.empty()) return;
    persist(e);
    for (auto* o : observers_) o->session_changed(e.record, changed);
}

SessionRegistry::Entry& SessionRegistry::add_entry(session::Record record, std::unique_ptr<ExecutorLink> link) {
    auto e = std::make_unique<Entry>();
    e->record = std::move(record);
    e->link = std::move(link);
    const std::string id = e->record.id;
    if (e->link) e->link->set_callbacks(link_callbacks(id));
    if (e->record.display_number >= 0) displays_.reserve(static_cast<unsigned>(e->record.display_number));
    Entry& ref = *e;
    entries_.emplace(id, std::move(e));
    return ref;
}

// ---------------------------------------------------------------------------
// Queries

std::vector<const session::Record*> SessionRegistry::sessions() const {
    std::vector<const session::Record*> out;
    for (auto& [id, e] : entries_) out.push_back(&e->record);
    return out;
}

std::vector<const session::Record*> SessionRegistry::sessions_of(uint32_t uid) const {
    std::vector<const session::Record*> out;
    for (auto& [id, e] : entries_)
        if (e->record.uid == uid) out.push_back(&e->record);
    return out;
}

const session::Record* SessionRegistry::find(const std::string& id) const {
    Entry* e = lookup(id);
    return e ? &e->record : nullptr;
}

bool SessionRegistry::has_work() const {
    return !entries_.empty() || !announcing_.empty() || (recovering_ && recovering_->size() > 0) ||
           !graveyard_.empty() || !retired_links_.empty();
}

// ---------------------------------------------------------------------------
// Connect, disconnect

void SessionRegistry::connect(sd_bus_message* call, uint32_t uid, const std::string& id,
                              const std::string& client_address, const std::string& client_name) {
    Entry* e = lookup(id);
    if (!e || e->record.uid != uid) throw BusError(err::no_such_session, "no session " + id + " for this user");
    if (e->record.state == session::State::closing) throw BusError(err::no_such_session, "session " + id + " is ending");
    if (!e->record.complete || !e->link)
        throw BusError(err::session_not_ready, "session " + id + " is still starting");
    // std::function needs a copyable capture.
    std::shared_ptr<sd_bus_message> pending(sd_bus_message_ref(call), sd_bus_message_unref);
    e->link->connect(client_address, client_name, [this, id, pending](ExecutorReply reply) {
        if (!reply.ok) {
            (void)sd_bus_reply_method_errorf(pending.get(), reply.error_name.c_str(), "%s",
                                             reply.error_message.c_str());
            return;
        }
        if (const int r = pass_reply_on(pending.get(), reply.message.get()); r < 0) {
            (void)sd_bus_reply_method_errorf(pending.get(), err::failed, "could not pass the session's sockets on: %s",
                                             std::strerror(-r));
            return;
        }
        if (Entry* en = lookup(id)) log::info("Session connected", session_fields(en->record));
    });
}

int pass_reply_on(sd_bus_message* call, sd_bus_message* executor_reply) {
    sd_bus_message* raw = nullptr;
    int r = sd_bus_message_new_method_return(call, &raw);
    MessagePtr out{raw};
    // The executor's (a{sh} fds, a{sv} details) go to the gateway as they are.
    if (r >= 0) r = sd_bus_message_rewind(executor_reply, true);
    if (r >= 0) r = sd_bus_message_copy(out.get(), executor_reply, true);
    if (r >= 0) r = sd_bus_send(nullptr, out.get(), nullptr);
    return r;
}

bool SessionRegistry::disconnect(const std::string& id) {
    Entry* e = lookup(id);
    if (!e) return false;
    if (e->link && e->record.complete) e->link->disconnect();
    return true;
}

std::string SessionRegistry::reload() { return reload_handler ? reload_handler() : std::string(); }

void SessionRegistry::add_observer(SessionObserver* o) { observers_.push_back(o); }
void SessionRegistry::remove_observer(SessionObserver* o) {
    observers_.erase(std::remove(observers_.begin(), observers_.end(), o), observers_.end());
}

}  // namespace rsm::manager
