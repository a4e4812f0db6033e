// rsm-manager: the session manager daemon. Socket-activated on
// /run/rsm/gateway.sock (rsm-manager.socket); serves org.rsm.Gateway1 on
// every accepted connection; runs PAM only in rsm-session executors.
#include <csignal>
#include <fcntl.h>
#include <cstdio>
#include <cstring>
#include <getopt.h>
#include <string>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "bus/error.hpp"
#include "child_reaper.hpp"
#include "config/config.hpp"
#include "gateway_server.hpp"
#include "rsm-build-config.h"
#include "util/log.hpp"

namespace {

using namespace rsm;

struct Options {
    config::LoadPaths config_paths = config::LoadPaths::system();
    std::string executor = RSM_EXECUTOR_PATH;
    std::string runtime_dir = RSM_RUNTIME_DIR;
};

void usage(FILE* out) {
    std::fprintf(out,
                 "Usage: rsm-manager [OPTIONS]\n"
                 "The rsm session manager. Normally started by systemd through rsm-manager.socket;\n"
                 "expects exactly one listening UNIX stream socket from socket activation.\n\n"
                 "  --config=FILE        main configuration file (default %s/rsm.toml)\n"
                 "  --config-dropins=DIR drop-in directory (default %s/rsm.toml.d)\n"
                 "  --executor=PATH      the rsm-session executor (default %s)\n"
                 "  --runtime-dir=DIR    runtime state directory (default %s)\n"
                 "  --help, --version\n",
                 RSM_SYSCONF_DIR, RSM_SYSCONF_DIR, RSM_EXECUTOR_PATH, RSM_RUNTIME_DIR);
}

// Returns false when the program should exit with `exit_code`.
bool parse_args(int argc, char** argv, Options& o, int& exit_code) {
    enum { opt_config = 1000, opt_dropins, opt_executor, opt_runtime, opt_version };
    static const option longopts[] = {
        {"config", required_argument, nullptr, opt_config},   {"config-dropins", required_argument, nullptr, opt_dropins},
        {"executor", required_argument, nullptr, opt_executor}, {"runtime-dir", required_argument, nullptr, opt_runtime},
        {"help", no_argument, nullptr, 'h'},                  {"version", no_argument, nullptr, opt_version},
        {nullptr, 0, nullptr, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, nullptr)) != -1) {
        switch (c) {
        case opt_config: o.config_paths.main_file = optarg; break;
        case opt_dropins: o.config_paths.dropin_dir = optarg; break;
        case opt_executor: o.executor = optarg; break;
        case opt_runtime: o.runtime_dir = optarg; break;
        case 'h': usage(stdout); exit_code = 0; return false;
        case opt_version: std::puts(RSM_VERSION); exit_code = 0; return false;
        default: usage(stderr); exit_code = 2; return false;
        }
    }
    if (optind < argc) {
        std::fprintf(stderr, "rsm-manager: unexpected argument '%s'\n", argv[optind]);
        exit_code = 2;
        return false;
    }
    return true;
}

manager::GatewaySettings gateway_settings(const config::Config& cfg, const Options& o) {
    manager::GatewaySettings s;
    s.login_timeout = cfg.gateway.login_timeout;
    s.max_login_attempts = cfg.gateway.max_login_attempts;
    s.max_connections = cfg.gateway.max_connections;
    s.max_unauthenticated = cfg.gateway.max_unauthenticated;
    s.pam_service = cfg.pam.service;
    s.access = cfg.access;
    s.executor_path = o.executor;
    s.runtime_dir = o.runtime_dir;
    s.version = RSM_VERSION;
    return s;
}


// The one listening socket systemd (or systemd-socket-activate) passed us.
UniqueFd take_listen_socket() {
    char** fd_names = nullptr;
    int n = sd_listen_fds_with_names(1, &fd_names);
    if (fd_names) {
        for (char** p = fd_names; *p; ++p) free(*p);
        free(fd_names);
    }
    if (n < 0) throw std::system_error(-n, std::generic_category(), "sd_listen_fds_with_names");
    if (n != 1)
        throw std::runtime_error("expected exactly one socket from socket activation, got " + std::to_string(n) +
                                 " (start rsm-manager.socket, or use systemd-socket-activate -l PATH)");
    const int fd = SD_LISTEN_FDS_START;
    if (sd_is_socket_unix(fd, SOCK_STREAM, 1, nullptr, 0) <= 0)
        throw std::runtime_error("the passed socket is not a listening UNIX stream socket");
    // Passed sockets are blocking; we accept in batches until EAGAIN.
    const int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        throw std::system_error(errno, std::generic_category(), "making the gateway socket non-blocking");
    return UniqueFd{fd};
}

// sd-event needs the signals it handles blocked; fds beyond 1024 need the
// soft limit raised (we use epoll, never select()).
void prepare_process() {
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&mask, sig);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    signal(SIGPIPE, SIG_IGN);
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

struct Daemon {
    Options options;
    manager::GatewayServer* server = nullptr;
};

int on_terminate(sd_event_source* s, const signalfd_siginfo*, void*) {
    sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
    return sd_event_exit(sd_event_source_get_event(s), 0);
}

int on_reload(sd_event_source*, const signalfd_siginfo*, void* userdata) {
    auto* d = static_cast<Daemon*>(userdata);
    sd_notify(0, "RELOADING=1");
    try {
        config::Config cfg = config::load(d->options.config_paths);
        d->server->reconfigure(gateway_settings(cfg, d->options), cfg.throttle);
        log::notice("Configuration reloaded");
    } catch (const std::exception& e) {
        log::error(std::string("Configuration not reloaded, keeping the old one: ") + e.what());
    }
    sd_notify(0, "READY=1");
    return 0;
}

int run(Daemon& d) {
    config::Config cfg = config::load(d.options.config_paths);
    UniqueFd listen_fd = take_listen_socket();

    sd_event* raw = nullptr;
    bus::check(sd_event_default(&raw), "sd_event_default");
    EventPtr event{raw};
    bus::check(sd_event_add_signal(event.get(), nullptr, SIGTERM, on_terminate, nullptr), "SIGTERM");
    bus::check(sd_event_add_signal(event.get(), nullptr, SIGINT, on_terminate, nullptr), "SIGINT");
    bus::check(sd_event_add_signal(event.get(), nullptr, SIGHUP, on_reload, &d), "SIGHUP");

    manager::ChildReaper reaper(event.get());
    manager::GatewayServer server(event.get(), reaper, gateway_settings(cfg, d.options), cfg.throttle,
                                  std::move(listen_fd));
    d.server = &server;

    sd_notify(0, "READY=1\nSTATUS=Serving the gateway socket");
    log::info("rsm-manager " RSM_VERSION " ready");
    int r = sd_event_loop(event.get());
    d.server = nullptr;
    return r < 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    Daemon d;
    int exit_code = 0;
    if (!parse_args(argc, argv, d.options, exit_code)) return exit_code;
    prepare_process();
    try {
        return run(d);
    } catch (const std::exception& e) {
        log::error(std::string("rsm-manager failed: ") + e.what());
        return 1;
    }
}
