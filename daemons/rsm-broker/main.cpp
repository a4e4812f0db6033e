// rsm-broker: an X2Go session broker (docs/broker.md). Two faces:
//  - socket-activated HTTP server (units/rsm-broker.socket): x2goclient's
//    plain-text protocol on /plain/<backend>/ and python-x2go's JSON on
//    /json/<backend>/, authenticating through rsm as a trusted gateway;
//  - with --task, the SSH front end (ssh_frontend.hpp).
// Options:
//   --config=PATH   /etc/rsm/broker.toml
#include <csignal>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker_config.hpp"
#include "broker_core.hpp"
#include "broker_service.hpp"
#include "config/frontend_config.hpp"
#include "profile_reload.hpp"
#include "profile_sources.hpp"
#include "rsm-build-config.h"
#include "ssh_frontend.hpp"
#include "util/event_loop.hpp"
#include "util/log.hpp"

using namespace rsm;
using namespace rsm::broker;

namespace {

// [tls]: the PEM files, read once at start (the key must be readable by the
// service's transient user: group rsm-gateway, docs/broker.md).
std::shared_ptr<const http::TlsCredentials> read_tls_credentials(const BrokerConfig& c) {
    const auto read = [](const std::string& path, const char* what) -> std::optional<std::string> {
        auto f = config::frontend::read_file(path);
        if (!f.text) log::error(what, {{"RSM_ERROR", f.error.empty() ? path + ": does not exist" : f.error}});
        return std::move(f.text);
    };
    auto certificate = read(c.tls_certificate, "cannot read the TLS certificate");
    auto key = read(c.tls_key, "cannot read the TLS key");
    if (!certificate || !key) return nullptr;
    auto tls = std::make_shared<http::TlsCredentials>();
    tls->certificate_pem = std::move(*certificate);
    tls->key_pem = std::move(*key);
    return tls;
}

int serve(const std::string& config_path) {
    const auto config = load_broker_config(config_path);
    if (!config.config) {
        log::error("invalid broker configuration", {{"RSM_ERROR", config.error}});
        return 1;
    }
    auto profiles = load_profiles(*config.config, config_path);
    if (!profiles.set) {
        log::error("invalid session profiles", {{"RSM_ERROR", profiles.error}});
        return 1;
    }
    HostDirectory hosts;
    for (const auto& p : profiles.set->profiles)
        for (const auto& h : p.hosts) hosts.add(h.address);

    EventPtr event;
    try {
        // SIGHUP (systemctl reload) is taken by the loop: blocked before the
        // worker threads start, or one of them would die of it.
        sigset_t hup;
        sigemptyset(&hup);
        sigaddset(&hup, SIGHUP);
        sigprocmask(SIG_BLOCK, &hup, nullptr);
        event = loop_ended_by_signals();
    } catch (const std::exception& ex) {
        log::error("cannot set up the event loop", {{"RSM_ERROR", ex.what()}});
        return 1;
    }
    sd_event* e = event.get();
    try {
        const std::size_t count = profiles.set->profiles.size();
        BrokerCore core{e, *config.config, std::move(*profiles.set), std::move(hosts)};
        BrokerService service{e, *config.config, core};
        ProfileReload reload{e, core, config_path};
        http::Limits limits;
        limits.max_connections = config.config->max_connections;
        limits.max_per_address = config.config->max_connections_per_address;
        http::Server server{e, [&service](http::Request r, http::Responder s) { service.handle(std::move(r), std::move(s)); },
                            limits};
        std::shared_ptr<const http::TlsCredentials> tls;
        if (!config.config->tls_certificate.empty()) {
            tls = read_tls_credentials(*config.config);
            if (!tls) return 1;
        }
        auto listeners = passed_listeners("rsm-broker.socket");
        const std::size_t n = listeners.size();
        for (auto& fd : listeners) server.add_listener(std::move(fd), tls);
        log::info("rsm-broker serving X2Go clients",
                  {{"RSM_LISTENERS", std::to_string(n)}, {"RSM_BROKER_PROFILES", std::to_string(count)},
                   {"RSM_BROKER_AUTH", std::string(to_string(config.config->auth))},
                   {"RSM_TLS", tls ? "yes" : "no"}});
        return serve_until_signal(e, "Serving X2Go clients");
    } catch (const std::exception& ex) {
        log::error("rsm-broker failed", {{"RSM_ERROR", ex.what()}});
        return 1;
    }
}

}  // namespace

#if defined(__SANITIZE_ADDRESS__)
// Sanitizer builds (CI) only, as rsm-session: at exit LeakSanitizer stops
// the world from a tracer it clones, which calls ptrace(); the unit's
// SystemCallFilter (@system-service) kills the tracer for it, and the
// process then waits for that tracer for ever (the broker scenario's
// restart timed out in stop-sigterm). AddressSanitizer and UBSan stay on;
// only the exit leak check is off.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }
#endif

int main(int argc, char** argv) {
    std::string config_path = std::string(RSM_SYSCONF_DIR) + "/broker.toml";
    std::vector<std::string> task_args;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a.starts_with("--config=")) {
            config_path = std::string(a.substr(9));
        } else if (a.starts_with("--task") || a.starts_with("--user") || a.starts_with("--sid") ||
                   a.starts_with("--authid")) {
            // x2goclient's ssh:// broker sends "--authid <id>" even when the id
            // is empty, so an option followed by another option has an empty value.
            const bool bare = a.find('=') == std::string_view::npos;
            if (bare && (i + 1 >= argc || std::string_view(argv[i + 1]).starts_with("--")))
                task_args.emplace_back(std::string(a) + "=");
            else
                task_args.emplace_back(a);
            if (bare && i + 1 < argc && !std::string_view(argv[i + 1]).starts_with("--")) task_args.emplace_back(argv[++i]);
        } else {
            log::error("unknown option", {{"RSM_OPTION", std::string(a)}});
            return 2;
        }
    }
    if (!task_args.empty()) return run_ssh_frontend(config_path, task_args);
    return serve(config_path);
}
