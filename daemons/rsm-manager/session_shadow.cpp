// Gateway1.ShadowSession: seeing and controlling a running session's desktop
// (the NX client's attachsession; docs/nx.md "Shadowing"). The registry
// checks who asks and what, gives the shadowing nxagent a display number of
// its own and asks the session's executor (Executor1.Shadow), which asks the
// owner when someone else asks, starts nxagent in shadow mode as the owner
// in the session's scope and connects to it. The gateway gets that
// connection and the shadow's own NX cookie, never the session's.
#include <algorithm>
#include <cstring>
#include <memory>

#include "bus/error.hpp"
#include "bus/names.hpp"
#include "session/argv_template.hpp"
#include "session/display_allocator.hpp"
#include "session/nx_display.hpp"
#include "session_entry.hpp"
#include "session_registry.hpp"
#include "user_sockdir.hpp"
#include "util/log.hpp"

namespace rsm::manager {

using bus::BusError;
namespace err = names::error;

void SessionRegistry::shadow(sd_bus_message* call, ShadowRequest req) {
    const config::Shadow& cfg = settings_.shadow;
    Entry* e = lookup(req.session_id);
    const bool own = e && e->record.uid == req.uid;
    // Another user's session is named only when they may ask for it at all.
    if (!e || (!own && !cfg.allow_other_users))
        throw BusError(err::no_such_session, "no session " + req.session_id + " to shadow");
    if (e->record.state == session::State::closing)
        throw BusError(err::no_such_session, "session " + req.session_id + " is ending");
    if (!e->record.complete || !e->link)
        throw BusError(err::session_not_ready, "session " + req.session_id + " is still starting");
    if (e->record.display_number < 0)
        throw BusError(err::invalid_argument, "session " + req.session_id + " has no X display to shadow");
    if (e->shadow_asking)
        throw BusError(err::too_many_attempts, "a shadowing request for session " + req.session_id +
                                                   " is waiting already");

    auto n = displays_.allocate(session::nx_port_in_use);
    if (!n) throw BusError(err::session_limit, "no free X display number left for the shadow");
    if (*n > 65535 - session::nx_port_base) {
        displays_.release(*n);
        throw BusError(err::failed, "display :" + std::to_string(*n) + " has no NX port (4000 + N > 65535)");
    }
    ShadowParams p;
    try {
        const std::string sockdir = ensure_user_sockdir(settings_.runtime_dir, e->record.uid);
        p.requester = req.user;
        p.client_address = req.client_address;
        p.ask_consent = !own;
        p.consent_timeout_usec = usec(cfg.consent_timeout);
        p.display_number = *n;
        p.port = session::nx_port_base + *n;
        p.xauthority = sockdir + "/" + shadow_xauthority_file_name(req.session_id, *n);
        p.nx_options_file = sockdir + "/" + shadow_options_file_name(req.session_id, *n);
        p.nx_options = session::nx_display_options(cfg.nx_options, p.port);
        p.ready_line = cfg.ready_line;
        p.startup_timeout_usec = usec(settings_.session.startup_timeout);
        const auto target = static_cast<unsigned>(e->record.display_number);
        // The dialog: %u the user who asks, %i the session, %D its display.
        session::TemplateValues ask{target, e->record.width, e->record.height, e->record.depth, {}, {},
                                    req.user, req.session_id, {}, 0};
        p.consent_argv = session::expand_template(cfg.consent_argv, ask);
        session::TemplateValues v{*n, e->record.width, e->record.height, e->record.depth, p.xauthority, {},
                                  e->record.user, req.session_id, p.nx_options_file, p.port};
        p.argv = session::expand_template(cfg.argv, v);
    } catch (const std::exception& ex) {
        displays_.release(*n);
        throw BusError(err::failed, std::string("shadow: ") + ex.what());
    }

    e->shadow_asking = true;
    e->shadow_displays.push_back(*n);
    auto f = session_fields(e->record);
    f.push_back({"RSM_SHADOW_USER", req.user});
    f.push_back({"RSM_SHADOW_DISPLAY", ":" + std::to_string(*n)});
    log::info("User '" + req.user + "' asks to shadow session " + req.session_id +
                  (own ? "" : " (asking its owner)"),
              f);
    std::shared_ptr<sd_bus_message> pending(sd_bus_message_ref(call), sd_bus_message_unref);
    const std::string id = req.session_id;
    auto on_reply = [this, id, pending, f](ExecutorReply reply) {
        Entry* en = lookup(id);
        if (en) en->shadow_asking = false;
        if (!reply.ok) {
            // The number stays reserved until the executor's ShadowEnded
            // (it sends one for every Shadow it took, once nxagent is gone).
            auto g = f;
            g.push_back({"RSM_ERROR", reply.error_message});
            log::notice("Shadowing session " + id + " refused or failed: " + reply.error_message, g);
            (void)sd_bus_reply_method_errorf(pending.get(), reply.error_name.c_str(), "%s",
                                             reply.error_message.c_str());
            return;
        }
        if (const int r = pass_reply_on(pending.get(), reply.message.get()); r < 0) {
            (void)sd_bus_reply_method_errorf(pending.get(), err::failed, "could not pass the shadow's socket on: %s",
                                             std::strerror(-r));
            return;
        }
        log::info("Session " + id + " shadowed", f);
    };
    try {
        e->link->shadow(p, std::move(on_reply));
    } catch (const std::exception& ex) {
        // Not sent: nothing will answer or end it.
        e->shadow_asking = false;
        on_shadow_ended(id, *n);
        throw BusError(err::failed, std::string("shadow: ") + ex.what());
    }
}

void SessionRegistry::on_shadow_ended(const std::string& id, uint32_t display) {
    Entry* e = lookup(id);
    if (!e) return;
    auto it = std::find(e->shadow_displays.begin(), e->shadow_displays.end(), display);
    if (it == e->shadow_displays.end()) return;  // not ours (or reported already)
    e->shadow_displays.erase(it);
    displays_.release(display);
}

}  // namespace rsm::manager
