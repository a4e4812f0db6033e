#include "session_registry.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string_view>
#include <systemd/sd-login.h>
#include <time.h>
#include <unistd.h>

#include "bus/error.hpp"
#include "bus/link_resync.hpp"
#include "bus/names.hpp"
#include "fd_store.hpp"
#include "link_recovery.hpp"
#include "session/argv_template.hpp"
#include "session/desktop_entry.hpp"
#include "session/session_id.hpp"
#include "user_sockdir.hpp"
#include "util/log.hpp"

namespace rsm::manager {

using bus::BusError;
namespace err = names::error;

namespace {

constexpr const char* fd_name_prefix = "executor-";

uint64_t usec(std::chrono::seconds s) { return static_cast<uint64_t>(s.count()) * 1'000'000u; }

ScopeSettings scope_settings_from(const config::Session& s) {
    ScopeSettings out;
    out.slice = s.slice;
    out.memory_max = config::parse_memory_size(s.memory_max);
    if (s.tasks_max) out.tasks_max = s.tasks_max;
    if (s.cpu_weight) out.cpu_weight = s.cpu_weight;
    return out;
}

bool known_display_type(const std::string& type) {
    return type == "xvnc" || type == "xvfb" || type == "xorg" || type == "null";
}

// The display type's argv template, or nullptr for "null".
const config::Display* display_config(const config::Displays& d, const std::string& type) {
    if (type == "xvnc") return &d.xvnc;
    if (type == "xvfb") return &d.xvfb;
    if (type == "xorg") return &d.xorg;
    return nullptr;
}

std::string protocol_of(const std::string& type) {
    if (type == "xvnc") return "rfb";
    if (type == "null") return "none";
    return "x11";
}

log::Fields fields(const session::Record& r) {
    return {{"RSM_SESSION_ID", r.id}, {"USER", r.user}, {"RSM_UID", std::to_string(r.uid)},
            {"RSM_DISPLAY_TYPE", r.type}, {"UNIT", r.unit}};
}

// Record fields the executor owns, by record-file KEY, and whether they differ.
std::vector<std::string> merge_from_executor(session::Record& into, const session::Record& from) {
    std::vector<std::string> changed;
    auto set = [&](auto& dst, const auto& src, const char* key) {
        if (dst != src) {
            dst = src;
            changed.emplace_back(key);
        }
    };
    set(into.state, from.state, "STATE");
    set(into.display, from.display, "DISPLAY");
    if (from.display_number >= 0) set(into.display_number, from.display_number, "DISPLAY_NUMBER");
    if (from.leader_pid) set(into.leader_pid, from.leader_pid, "LEADER_PID");
    if (from.executor_pid) set(into.executor_pid, from.executor_pid, "EXECUTOR_PID");
    set(into.logind_session, from.logind_session, "LOGIND_SESSION");
    set(into.client_address, from.client_address, "CLIENT_ADDRESS");
    set(into.client_name, from.client_name, "CLIENT_NAME");
    if (from.created_usec) set(into.created_usec, from.created_usec, "CREATED_USEC");
    set(into.connected_usec, from.connected_usec, "CONNECTED_USEC");
    set(into.disconnected_usec, from.disconnected_usec, "DISCONNECTED_USEC");
    return changed;
}

}  // namespace

struct SessionRegistry::Entry {
    session::Record record;
    std::unique_ptr<ExecutorLink> link;
    std::unique_ptr<ScopeStarter::Pending> scope_job;
    // CreateSession calls answered when the session is ready (or failed).
    std::vector<MessagePtr> waiting;
    // Set when the start failed: the reason given to late waiters.
    std::string failure;
    StartSessionParams params;
    // The end: the session's processes being swept (sweep()).
    std::unique_ptr<SessionSweeper::Sweep> sweep;
};

SessionRegistry::SessionRegistry(sd_event* event, ChildReaper& reaper, sd_bus* system_bus, SessionSettings settings)
    : event_(event), reaper_(reaper), settings_(std::move(settings)),
      policy_(session::ReconnectPolicy::parse(settings_.session.reconnect_policy)),
      scope_settings_(scope_settings_from(settings_.session)),
      scopes_(system_bus ? std::make_unique<ScopeStarter>(system_bus) : nullptr),
      displays_(settings_.session.display_first, settings_.session.display_last) {
    sd_event_source* s = nullptr;
    bus::check(sd_event_add_defer(event_, &s, &SessionRegistry::on_collect, this), "adding the session collector");
    collect_source_.reset(s);
    sd_event_source_set_enabled(collect_source_.get(), SD_EVENT_OFF);
    if (scopes_) {
        logind_ = std::make_unique<LogindSessions>(system_bus);
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
    policy_ = session::ReconnectPolicy::parse(settings.session.reconnect_policy);
    scope_settings_ = scope_settings_from(settings.session);
    settings_ = std::move(settings);
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
            auto f = fields(e.record);
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

ExecutorLink::Callbacks SessionRegistry::link_callbacks(const std::string& id) {
    ExecutorLink::Callbacks cb;
    cb.on_disconnect = [this, id] { on_link_closed(id); };
    cb.on_state_changed = [this, id](const session::Record& r) { on_state_changed(id, r); };
    cb.on_session_ended = [this, id](const std::string& reason, bool failed) {
        if (Entry* e = lookup(id)) {
            if (e->failure.empty()) e->failure = reason;
            auto f = fields(e->record);
            f.push_back({"RSM_REASON", reason});
            if (failed)
                log::warning("Session ended: " + reason, f);
            else
                log::notice("Session ended: " + reason, f);
        }
    };
    cb.on_conversation = [this, id](std::vector<PamMessage>) {
        if (Entry* e = lookup(id); e && e->link) e->link->fail_conversation(err::failed, "no conversation here");
    };
    return cb;
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
// CreateSession

void SessionRegistry::reply_created(sd_bus_message* call, const std::string& id, bool reused) {
    (void)sd_bus_reply_method_return(call, "sb", id.c_str(), static_cast<int>(reused));
}

void SessionRegistry::create(sd_bus_message* call, CreateRequest req, std::unique_ptr<ExecutorLink>& executor) {
    const auto& cfg = settings_.session;
    if (req.type.empty()) req.type = cfg.default_type;
    if (!known_display_type(req.type))
        throw BusError(err::invalid_argument, "type: unknown display type '" + req.type +
                                                  "' (expected xvnc, xvfb, xorg or null)");

    // A desktop that does not exist is an error even when a session is reused.
    std::optional<session::DesktopSession> desktop;
    if (!req.desktop.empty()) {
        try {
            desktop = session::find_desktop_session(req.desktop);
        } catch (const std::exception& e) {
            throw BusError(err::invalid_argument, std::string("desktop '") + req.desktop + "': " + e.what());
        }
        if (!desktop)
            throw BusError(err::invalid_argument, "desktop: no desktop session named '" + req.desktop + "'");
    }

    // A named session, or one the policy picks.
    if (!req.session_id.empty()) {
        Entry* e = lookup(req.session_id);
        if (!e || e->record.uid != req.uid)
            throw BusError(err::no_such_session, "no session " + req.session_id + " for user '" + req.user + "'");
        if (e->record.type != req.type)
            throw BusError(err::invalid_argument, "session " + req.session_id + " is of type '" + e->record.type +
                                                      "', not '" + req.type + "'");
        if (e->record.state == session::State::closing)
            throw BusError(err::no_such_session, "session " + req.session_id + " is ending");
        if (!e->record.complete) {
            e->waiting.push_back(ref_message(call));
            return;
        }
        log::info("Reconnecting to a named session", fields(e->record));
        reply_created(call, e->record.id, true);
        return;
    }
    if (!req.force_new && !policy_.never) {
        std::vector<const session::Record*> mine;
        for (auto& [id, e] : entries_)
            if (e->record.uid == req.uid) mine.push_back(&e->record);
        session::SessionRequest sr{req.uid, req.type, req.width, req.height, req.depth, req.client_address};
        if (auto chosen = session::choose_session(mine, sr, policy_)) {
            log::info("Reusing a session by policy " + policy_.to_string(), fields(lookup(*chosen)->record));
            reply_created(call, *chosen, true);
            return;
        }
    }

    // A new session: limits first. Every entry has a live executor (entries
    // go when their link closes), so a dead session never counts.
    if (cfg.max_sessions && entries_.size() >= cfg.max_sessions)
        throw BusError(err::session_limit, "the system-wide limit of " + std::to_string(cfg.max_sessions) +
                                               " sessions is reached");
    if (cfg.max_sessions_per_user) {
        const auto n = std::count_if(entries_.begin(), entries_.end(),
                                     [&](const auto& kv) { return kv.second->record.uid == req.uid; });
        if (static_cast<unsigned>(n) >= cfg.max_sessions_per_user)
            throw BusError(err::session_limit, "user '" + req.user + "' already has " + std::to_string(n) +
                                                   " sessions (max_sessions_per_user)");
    }
    if (!scopes_) throw BusError(err::failed, "the system bus is not available; sessions cannot start");
    start_new(call, std::move(req), desktop, std::move(executor));
}

void SessionRegistry::start_new(sd_bus_message* call, CreateRequest req,
                                const std::optional<session::DesktopSession>& desktop,
                                std::unique_ptr<ExecutorLink> executor) {
    const auto& cfg = settings_.session;
    session::Record r;
    r.id = session::new_session_id();
    r.uid = req.uid;
    r.user = req.user;
    r.type = req.type;
    r.state = session::State::starting;
    r.unit = scope_unit_name(r.id);
    r.width = req.width;
    r.height = req.height;
    r.depth = req.depth;
    r.desktop = req.desktop;
    r.client_address = req.client_address;
    r.client_name = req.client_name;
    r.created_usec = session::now_realtime_usec();

    StartSessionParams p;
    p.type = req.type;
    p.protocol = protocol_of(req.type);
    p.desktop = req.desktop;
    p.width = req.width;
    p.height = req.height;
    p.depth = req.depth;
    p.client_address = req.client_address;
    p.client_name = req.client_name;
    p.startup_timeout_usec = usec(cfg.startup_timeout);
    p.idle_timeout_usec = usec(cfg.idle_timeout);
    p.disconnected_timeout_usec = usec(cfg.disconnected_timeout);
    p.max_lifetime_usec = usec(cfg.max_lifetime);

    // The program: the desktop entry create() found, else the start script.
    if (desktop) {
        p.session_argv = desktop->argv;
        if (!desktop->desktop_names.empty()) p.desktop = desktop->desktop_names;
    } else {
        p.session_argv = {cfg.start_script};
    }
    if (!cfg.reconnect_script.empty()) p.reconnect_argv = {cfg.reconnect_script};

    std::string sockdir;
    try {
        sockdir = ensure_user_sockdir(settings_.runtime_dir, req.uid);
    } catch (const std::exception& e) {
        throw BusError(err::failed, std::string("socket directory: ") + e.what());
    }
    if (const config::Display* dc = display_config(settings_.displays, req.type)) {
        auto n = displays_.allocate();
        if (!n) throw BusError(err::session_limit, "no free X display number left in the configured range");
        r.display_number = static_cast<int>(*n);
        p.display_number = *n;
        p.xauthority = sockdir + "/Xauthority-" + r.id;
        p.display_socket = req.type == "xvnc" ? sockdir + "/vnc-" + r.id : "/tmp/.X11-unix/X" + std::to_string(*n);
        session::TemplateValues v{*n, req.width, req.height, req.depth, p.xauthority, p.display_socket, req.user, r.id};
        try {
            p.display_argv = session::expand_template(dc->argv, v);
        } catch (const std::exception& e) {
            displays_.release(*n);
            throw BusError(err::failed, std::string("display template: ") + e.what());
        }
    }

    Entry& e = add_entry(r, nullptr);
    e.params = std::move(p);
    e.waiting.push_back(ref_message(call));
    const std::string id = r.id;
    log::info("Starting a new session", fields(e.record));

    // The executor: the connection's logged-in one, else a new one that
    // checks the account (no password: the connection already logged in).
    if (executor) {
        e.link = std::move(executor);
        e.link->set_callbacks(link_callbacks(id));
        on_executor_ready(id);
        return;
    }
    try {
        e.link = ExecutorLink::spawn(event_, reaper_, settings_.executor_path, link_callbacks(id));
        LoginRequest lr;
        lr.mode = "account";
        lr.purpose = "session";  // not a peer-credential login: needs no access.allow_peer_credentials
        lr.uid = req.uid;
        lr.pam_service = settings_.pam_service;
        lr.rhost = req.rhost;
        lr.gateway = req.gateway;
        lr.access = settings_.access;
        e.link->login(lr, [this, id](LoginResult result) {
            Entry* en = lookup(id);
            if (!en) return;
            if (!result.ok) {
                fail_waiting(*en, err::session_failed, "account check failed: " + result.error_message);
                if (en->link) en->link->terminate();
                bury(id);
                return;
            }
            on_executor_ready(id);
        });
    } catch (const std::exception& ex) {
        fail_waiting(e, err::failed, std::string("could not start the session process: ") + ex.what());
        bury(id);
    }
}

void SessionRegistry::on_executor_ready(const std::string& id) {
    Entry* e = lookup(id);
    if (!e || !e->link) return;
    e->record.executor_pid = static_cast<uint32_t>(e->link->pid());
    persist(*e);  // the minimal record
    store_link(*e);
    for (auto* o : observers_) o->session_added(e->record);
    e->scope_job = scopes_->start(e->record.unit, "rsm session " + id + " of " + e->record.user,
                                  e->link->pid(), scope_settings_,
                                  [this, id](std::string error) { on_scope_ready(id, error); });
}

void SessionRegistry::on_scope_ready(const std::string& id, const std::string& error) {
    Entry* e = lookup(id);
    if (!e) return;
    e->scope_job.reset();
    if (!error.empty()) {
        fail_waiting(*e, err::session_failed, "could not create the session scope: " + error);
        if (e->link) e->link->terminate();
        bury(id);
        return;
    }
    const uint64_t timeout = settings_.session.startup_timeout.count() * 1'000'000ull + 30'000'000ull;
    e->link->start_session(id, e->params, timeout, [this, id](ExecutorReply reply) { on_started(id, std::move(reply)); });
}

void SessionRegistry::on_started(const std::string& id, ExecutorReply reply) {
    Entry* e = lookup(id);
    if (!e) return;
    if (!reply.ok) {
        auto f = fields(e->record);
        f.push_back({"RSM_ERROR", reply.error_name});
        f.push_back({"RSM_REASON", reply.error_message});
        log::warning("Session failed to start: " + reply.error_message, f);
        e->failure = reply.error_message;
        fail_waiting(*e, reply.error_name == err::failed ? err::session_failed : reply.error_name.c_str(),
                     reply.error_message);
        // The executor exits once its leader is gone; the link closing buries the entry.
        return;
    }
    merge_from_executor(e->record, reply.record);
    e->record.complete = true;
    persist(*e);
    log::notice("Session ready on " + (e->record.display.empty() ? std::string("no display") : e->record.display),
                [&] {
                    auto f = fields(e->record);
                    f.push_back({"RSM_DISPLAY", e->record.display});
                    f.push_back({"RSM_LOGIND_SESSION", e->record.logind_session});
                    return f;
                }());
    for (auto* o : observers_)
        o->session_changed(e->record, {"STATE", "COMPLETE", "DISPLAY", "LEADER_PID", "LOGIND_SESSION"});
    auto waiting = std::move(e->waiting);
    for (size_t i = 0; i < waiting.size(); ++i) reply_created(waiting[i].get(), id, i > 0);
}

void SessionRegistry::fail_waiting(Entry& e, const char* error_name, const std::string& message) {
    auto waiting = std::move(e.waiting);
    for (auto& call : waiting) (void)sd_bus_reply_method_errorf(call.get(), error_name, "%s", message.c_str());
}

// ---------------------------------------------------------------------------
// Connect, terminate, disconnect

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
        sd_bus_message* raw = nullptr;
        int r = sd_bus_message_new_method_return(pending.get(), &raw);
        MessagePtr out{raw};
        // The executor's (a{sh} fds, a{sv} details) go to the gateway as they are.
        if (r >= 0) r = sd_bus_message_rewind(reply.message.get(), true);
        if (r >= 0) r = sd_bus_message_copy(out.get(), reply.message.get(), true);
        if (r >= 0) r = sd_bus_send(nullptr, out.get(), nullptr);
        if (r < 0) {
            (void)sd_bus_reply_method_errorf(pending.get(), err::failed, "could not pass the session's sockets on: %s",
                                             std::strerror(-r));
            return;
        }
        if (Entry* en = lookup(id)) log::info("Session connected", fields(en->record));
    });
}

void SessionRegistry::terminate_owned(uint32_t uid, const std::string& id) {
    Entry* e = lookup(id);
    if (!e || e->record.uid != uid) throw BusError(err::no_such_session, "no session " + id + " for this user");
    terminate(id);
}

bool SessionRegistry::terminate(const std::string& id) {
    Entry* e = lookup(id);
    if (!e) return false;
    log::notice("Terminating session", fields(e->record));
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

bool SessionRegistry::disconnect(const std::string& id) {
    Entry* e = lookup(id);
    if (!e) return false;
    if (e->link && e->record.complete) e->link->disconnect();
    return true;
}

std::size_t SessionRegistry::terminate_user(uint32_t uid) {
    std::vector<std::string> ids;
    for (auto& [id, e] : entries_)
        if (e->record.uid == uid) ids.push_back(id);
    for (auto& id : ids) terminate(id);
    return ids.size();
}

std::string SessionRegistry::reload() { return reload_handler ? reload_handler() : std::string(); }

void SessionRegistry::add_observer(SessionObserver* o) { observers_.push_back(o); }
void SessionRegistry::remove_observer(SessionObserver* o) {
    observers_.erase(std::remove(observers_.begin(), observers_.end(), o), observers_.end());
}

// ---------------------------------------------------------------------------
// Executor events

void SessionRegistry::on_state_changed(const std::string& id, const session::Record& from_executor) {
    Entry* e = lookup(id);
    if (!e) return;
    // While the start is pending the executor's record is not the announce yet.
    const bool was_closing = e->record.state == session::State::closing;
    auto changed = merge_from_executor(e->record, from_executor);
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
    log::info("Session process gone", fields(e->record));
    remove_stored_fd(fd_name_prefix + id);
    retire(std::move(e->link));
    // A scope still being created goes with the sweep (StopUnit replaces the start job).
    e->scope_job.reset();
    sweep(id, 0);
}

void SessionRegistry::sweep(const std::string& id, uint64_t delay_usec) {
    Entry* e = lookup(id);
    if (!e) return;
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
            log::info("Session gone", fields(en->record));
        else
            log::warning("Session released before all of its processes were gone", fields(en->record));
        bury(id);
    });
}

void SessionRegistry::store_link(const Entry& e) {
    if (int r = store_fd(fd_name_prefix + e.record.id, e.link->fd()); r < 0)
        log::warning("Could not keep the executor link in the fd store; the session will not survive a manager "
                     "crash",
                     [&] {
                         auto f = fields(e.record);
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

void SessionRegistry::bury(const std::string& id) {
    auto node = entries_.extract(id);
    if (node.empty()) return;
    Entry& e = *node.mapped();
    remove_stored_fd(fd_name_prefix + id);
    session::remove_record(sessions_dir(), id);
    // What the session left in the user's socket directory, also when its
    // display server or executor crashed: Xvnc's socket, the Xauthority file.
    // Through the directory's fd (opened without following links) and
    // unlinkat, which never follows or opens what the user put there.
    if (UniqueFd sockdir = open_user_sockdir(settings_.runtime_dir, e.record.uid))
        for (const std::string& name : {"vnc-" + id, "Xauthority-" + id})
            if (unlinkat(sockdir.get(), name.c_str(), 0) < 0 && errno != ENOENT)
                log::warning("Could not remove " + name + " from the socket directory of uid " +
                                 std::to_string(e.record.uid) + ": " + std::strerror(errno),
                             fields(e.record));
    if (e.record.display_number >= 0) {
        const auto n = static_cast<unsigned>(e.record.display_number);
        if (session::remove_stale_x_display(n, static_cast<uid_t>(e.record.uid)))
            log::info("Removed the socket a dead X server left on :" + std::to_string(n), fields(e.record));
        displays_.release(n);
    }
    fail_waiting(e, err::session_failed, e.failure.empty() ? "the session ended" : e.failure);
    if (e.link) e.link->detach();
    e.scope_job.reset();
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

// Asks sd-login, which reads the cgroup path the way systemd names units:
// sd_pid_get_unit() is the *system* unit (a user's own
// `systemd-run --user --scope --unit=rsm-session-<id>` is a user unit inside
// user@<uid>.service and never matches), sd_pid_get_session() the logind
// session. Either answer must agree with what the record says of the session.
const session::Record* SessionRegistry::find_by_pid(pid_t pid) const {
    if (pid <= 0) return nullptr;
    auto owned = [](char* raw) {
        std::string out = raw ? raw : "";
        free(raw);
        return out;
    };
    // The executor's scope (and, without pam_systemd, the whole session).
    char* raw = nullptr;
    if (sd_pid_get_unit(pid, &raw) >= 0) {
        const std::string unit = owned(raw);
        constexpr std::string_view prefix = "rsm-session-", suffix = ".scope";
        if (unit.size() > prefix.size() + suffix.size() && unit.starts_with(prefix) && unit.ends_with(suffix)) {
            const std::string id = unit.substr(prefix.size(), unit.size() - prefix.size() - suffix.size());
            const Entry* e = session::valid_session_id(id) ? lookup(id) : nullptr;
            // The record must name this scope, and its executor must live in it.
            if (e && e->record.unit == unit && e->record.executor_pid) {
                char* exec_unit = nullptr;
                if (sd_pid_get_unit(static_cast<pid_t>(e->record.executor_pid), &exec_unit) >= 0 &&
                    owned(exec_unit) == unit)
                    return &e->record;
            }
            return nullptr;
        }
    }
    // The logind session pam_systemd opened for the leader: the recorded one,
    // of the session's user, with the recorded leader still in it.
    raw = nullptr;
    if (sd_pid_get_session(pid, &raw) < 0) return nullptr;
    const std::string logind = owned(raw);
    uid_t owner = 0;
    if (logind.empty() || sd_session_get_uid(logind.c_str(), &owner) < 0) return nullptr;
    for (auto& [id, e] : entries_) {
        const session::Record& r = e->record;
        if (r.logind_session != logind || r.uid != owner || !r.leader_pid) continue;
        char* leader_session = nullptr;
        if (sd_pid_get_session(static_cast<pid_t>(r.leader_pid), &leader_session) >= 0 &&
            owned(leader_session) == logind)
            return &r;
    }
    return nullptr;
}

// ---------------------------------------------------------------------------
// Recovery after a restart

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
            remove_stored_fd(fd_name_prefix + id);
            session::remove_record(sessions_dir(), id);
            return;
        }
        std::unique_ptr<ExecutorLink> link;
        try {
            link = ExecutorLink::adopt(event_, std::move(fd), static_cast<pid_t>(record.executor_pid), {});
        } catch (const std::exception& e) {
            log::warning(std::string("Could not adopt an executor link: ") + e.what(), {{"RSM_SESSION_ID", id}});
            if (record.display_number >= 0) displays_.release(static_cast<unsigned>(record.display_number));
            remove_stored_fd(fd_name_prefix + id);
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
            log::notice("Session recovered after a manager restart", fields(en->record));
        });
    };
    recovering_ = std::make_unique<LinkRecovery>(event_, std::chrono::milliseconds(5000), resynced);

    for (auto& [id, fd] : links) {
        if (!session::valid_session_id(id)) {
            log::warning("Dropping a stored fd with an unexpected name", {{"RSM_FD_NAME", fd_name_prefix + id}});
            remove_stored_fd(fd_name_prefix + id);
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
        log::info("Removing the record of a session whose executor is gone", fields(r));
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
    if (!known_display_type(type))
        return refuse("unknown display type '" + type + "'");
    if (lookup(id)) return refuse("a session with this id is already known");

    session::Record record;
    record.id = id;
    record.unit = scope_unit_name(id);
    record.executor_pid = static_cast<uint32_t>(pid);
    Entry& e = add_entry(std::move(record), std::move(link));
    take_announce(e, reply.record);
    store_link(e);
    log::notice("Session re-announced by its executor after a stop of the manager", fields(e.record));
}

bool SessionRegistry::has_work() const {
    return !entries_.empty() || !announcing_.empty() || (recovering_ && recovering_->size() > 0) ||
           !graveyard_.empty() || !retired_links_.empty();
}

}  // namespace rsm::manager
