// Starting a session (Gateway1.CreateSession): reuse by name or policy, the
// limits, the record and display, then executor -> scope -> StartSession, each
// step answering the waiting calls if it fails, and each bounded by the
// start's deadline (start_deadline.hpp, session_start_timeout.cpp).
#include "session_registry.hpp"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <optional>

#include "bus/error.hpp"
#include "bus/names.hpp"
#include "session/argv_template.hpp"
#include "session/desktop_entry.hpp"
#include "session/display_type.hpp"
#include "session/nx_display.hpp"
#include "session/session_id.hpp"
#include "session_companions.hpp"
#include "session_entry.hpp"
#include "user_sockdir.hpp"
#include "util/log.hpp"

namespace rsm::manager {

using bus::BusError;
namespace err = names::error;

namespace {

// The display type's argv template, or nullptr for one without a display server.
const config::Display* display_config(const config::Displays& d, session::DisplayType type) {
    switch (type) {
    case session::DisplayType::xvnc: return &d.xvnc;
    case session::DisplayType::xvfb: return &d.xvfb;
    case session::DisplayType::xorg: return &d.xorg;
    case session::DisplayType::xpra: return &d.xpra;
    case session::DisplayType::xpra_desktop: return &d.xpra_desktop;
    case session::DisplayType::nxagent: return &d.nxagent;
    case session::DisplayType::null: return nullptr;
    }
    return nullptr;
}

}  // namespace

void SessionRegistry::reply_created(sd_bus_message* call, const std::string& id, bool reused) {
    (void)sd_bus_reply_method_return(call, "sb", id.c_str(), static_cast<int>(reused));
}

void SessionRegistry::create(sd_bus_message* call, CreateRequest req, std::unique_ptr<ExecutorLink>& executor) {
    const auto& cfg = settings_.session;
    if (req.type.empty()) req.type = cfg.default_type;
    const std::optional<session::DisplayType> type = session::display_type_from_string(req.type);
    if (!type)
        throw BusError(err::invalid_argument, "type: unknown display type '" + req.type +
                                                  "' (expected one of " + session::display_type_names() + ")");

    // So is a companion rsm.toml does not define.
    check_companion_names(settings_.companions, req.companions);

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
        // A Wayland compositor brings its own display: not one for an X server.
        if (desktop->wayland && *type != session::DisplayType::null)
            throw BusError(err::invalid_argument, "desktop '" + req.desktop +
                                                      "' is a Wayland session (wayland-sessions); display type '" +
                                                      req.type + "' runs X11 desktops");
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
        log::info("Reconnecting to a named session", session_fields(e->record));
        reply_created(call, e->record.id, true);
        return;
    }
    if (!req.force_new && !policy_.never) {
        std::vector<const session::Record*> mine;
        for (auto& [id, e] : entries_)
            if (e->record.uid == req.uid) mine.push_back(&e->record);
        session::SessionRequest sr{req.uid, req.type, req.width, req.height, req.depth, req.client_address};
        if (auto chosen = session::choose_session(mine, sr, policy_)) {
            log::info("Reusing a session by policy " + policy_.to_string(), session_fields(lookup(*chosen)->record));
            reply_created(call, *chosen, true);
            return;
        }
    }

    // A new session: limits first. Every entry has a live executor (entries
    // go when their link closes), so a dead session never counts.
    const unsigned max_sessions = cfg.max_sessions ? cfg.max_sessions : config::max_sessions_ceiling;
    if (entries_.size() >= max_sessions)
        throw BusError(err::session_limit, "the system-wide limit of " + std::to_string(max_sessions) +
                                               " sessions is reached");
    if (cfg.max_sessions_per_user) {
        const auto n = std::count_if(entries_.begin(), entries_.end(),
                                     [&](const auto& kv) { return kv.second->record.uid == req.uid; });
        if (static_cast<unsigned>(n) >= cfg.max_sessions_per_user)
            throw BusError(err::session_limit, "user '" + req.user + "' already has " + std::to_string(n) +
                                                   " sessions (max_sessions_per_user)");
    }
    if (!scopes_) throw BusError(err::failed, "the system bus is not available; sessions cannot start");
    start_new(call, std::move(req), *type, desktop, executor);
}

void SessionRegistry::start_new(sd_bus_message* call, CreateRequest req, session::DisplayType type,
                                const std::optional<session::DesktopSession>& desktop,
                                std::unique_ptr<ExecutorLink>& executor) {
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
    p.protocol = session::to_string(session::protocol_of(type));
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
        p.current_desktop = desktop->desktop_names;
        p.wayland = desktop->wayland;
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
    if (const config::Display* dc = display_config(settings_.displays, type)) {
        // nxagent also needs its port, 127.0.0.1:<nx_port_base + N>, free.
        auto n = displays_.allocate(session::protocol_of(type) == session::DisplayProtocol::nx
                                        ? session::DisplayAllocator::Probe{session::nx_port_in_use}
                                        : session::DisplayAllocator::Probe{});
        if (!n) throw BusError(err::session_limit, "no free X display number left in the configured range");
        r.display_number = static_cast<int>(*n);
        p.display_number = *n;
        p.xauthority = sockdir + "/" + xauthority_file_name(r.id);
        // Where the gateway's connection goes: Xvnc's and xpra's own socket
        // in the user's socket directory, else the X server's.
        if (type == session::DisplayType::xvnc)
            p.display_socket = sockdir + "/" + vnc_socket_name(r.id);
        else if (session::protocol_of(type) == session::DisplayProtocol::xpra)
            p.display_socket = sockdir + "/" + xpra_socket_name(r.id);
        else
            p.display_socket = "/tmp/.X11-unix/X" + std::to_string(*n);
        session::TemplateValues v{*n, req.width, req.height, req.depth, p.xauthority, p.display_socket, req.user, r.id, {}, 0};
        if (type == session::DisplayType::nxagent) {
            // nxagent listens on 127.0.0.1:<nx_port_base + N> (docs/nx.md).
            if (*n > 65535 - session::nx_port_base) {
                displays_.release(*n);
                throw BusError(err::failed, "display :" + std::to_string(*n) + " has no NX port (4000 + N > 65535)");
            }
            v.port = p.display_port = session::nx_port_base + *n;
            v.nx_options_file = p.nx_options_file = sockdir + "/" + nx_options_file_name(r.id);
            p.nx_options = session::nx_display_options(dc->nx_options, p.display_port);
        }
        p.display_ready_line = dc->ready_line;
        p.display_suspend_line = dc->suspend_line;
        p.display_start_line = dc->start_line;
        p.display_resume_line = dc->resume_line;
        try {
            p.display_argv = session::expand_template(dc->argv, v);
            p.display_env = dc->environment;
            if (!dc->client_socket.empty())
                p.display_client_socket = session::expand_template({"socket", dc->client_socket}, v).at(1);
            p.companions = expand_companions(settings_.companions, req.companions, v);
        } catch (const BusError&) {
            displays_.release(*n);
            throw;
        } catch (const std::exception& e) {
            displays_.release(*n);
            throw BusError(err::failed, std::string("display template: ") + e.what());
        }
    }

    Entry& e = add_entry(r, nullptr);
    e.params = std::move(p);
    e.waiting.push_back(ref_message(call));
    const std::string id = r.id;
    e.start_deadline = std::make_unique<StartDeadline>(
        event_, [this, id](StartStep step, uint64_t timeout) { on_start_timeout(id, step, timeout); });
    log::info("Starting a new session", session_fields(e.record));

    // The executor: the connection's logged-in one, else a new one that
    // checks the account (no password: the connection already logged in).
    // Taken only here, once nothing before can fail: a CreateSession refused
    // above (no display number, a bad template, no socket directory) leaves
    // the connection its authenticated executor, so a retry still opens the
    // session with the PAM handle that holds the password's credentials.
    if (executor) {
        e.link = std::move(executor);
        e.link->set_callbacks(link_callbacks(id));
        on_executor_ready(id);
        return;
    }
    if (!arm_start_deadline(e, StartStep::account_check, usec(settings_.login_timeout))) return;
    try {
        e.link = ExecutorLink::spawn(event_, reaper_, settings_.executor_path, link_callbacks(id));
        LoginRequest lr;
        lr.mode = protocol::LoginMode::account;
        lr.purpose = protocol::LoginPurpose::session;  // not a peer-credential login: needs no access.allow_peer_credentials
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

bool SessionRegistry::arm_start_deadline(Entry& e, StartStep step, uint64_t timeout_usec) {
    try {
        e.start_deadline->arm(step, timeout_usec);
        return true;
    } catch (const std::exception& ex) {
        // No wait without a deadline: a start that cannot have one fails.
        const std::string id = e.record.id;
        fail_waiting(e, err::failed, std::string("cannot arm the session start's deadline: ") + ex.what());
        if (e.link) e.link->terminate();
        bury(id);
        return false;
    }
}

void SessionRegistry::on_executor_ready(const std::string& id) {
    Entry* e = lookup(id);
    if (!e || !e->link) return;
    if (!arm_start_deadline(*e, StartStep::scope, usec(settings_.session.startup_timeout))) return;
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
    // The deadline bounds the reply (no D-Bus timeout of its own: one clock,
    // one cleanup, on_start_timeout()).
    if (!arm_start_deadline(*e, StartStep::start_session,
                            usec(settings_.session.startup_timeout) + start_session_margin_usec))
        return;
    try {
        e->link->start_session(id, e->params, UINT64_MAX,
                               [this, id](ExecutorReply reply) { on_started(id, std::move(reply)); });
    } catch (const std::exception& ex) {
        // A message that cannot be built or queued fails this one session,
        // never the manager and everyone else's sessions with it.
        fail_waiting(*e, err::session_failed, std::string("could not send StartSession: ") + ex.what());
        e->link->terminate();
        bury(id);
    }
}

void SessionRegistry::on_started(const std::string& id, ExecutorReply reply) {
    Entry* e = lookup(id);
    if (!e) return;
    if (e->start_deadline) e->start_deadline->cancel();
    if (!reply.ok) {
        auto f = session_fields(e->record);
        f.push_back({"RSM_ERROR", reply.error_name});
        f.push_back({"RSM_REASON", reply.error_message});
        log::warning("Session failed to start: " + reply.error_message, f);
        e->failure = reply.error_message;
        fail_waiting(*e, reply.error_name == err::failed ? err::session_failed : reply.error_name.c_str(),
                     reply.error_message);
        // The executor exits once its leader is gone, and its link closing
        // starts the sweep at once; one that does not is swept after the
        // grace an executor gets to end a session.
        sweep(id, SessionSweeper::executor_grace_usec);
        return;
    }
    merge_from_executor(e->record, reply.record);
    e->record.complete = true;
    persist(*e);
    log::notice("Session ready on " + (e->record.display.empty() ? std::string("no display") : e->record.display),
                [&] {
                    auto f = session_fields(e->record);
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

}  // namespace rsm::manager
