// rsmctl: inspect and control rsm sessions through org.rsm.Manager1 on the
// system bus, in the manner of loginctl. See rsmctl(1). This file parses the
// command line; client.hpp lists the files of the commands.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <getopt.h>
#include <map>
#include <string>
#include <string_view>
#include <systemd/sd-bus.h>
#include <vector>

#include "client.hpp"
#include "rsm-build-config.h"

namespace {

using namespace rsm::ctl;
using rsm::BusPtr;

void usage(FILE* out) {
    std::fputs("Usage: rsmctl [OPTIONS] COMMAND ...\n"
               "Inspect and control rsm remote desktop sessions.\n\n"
               "Commands:\n"
               "  list                  List sessions (others' only with org.rsm.list-sessions)\n"
               "  status [ID...]        Show session status and processes (default: this session)\n"
               "  show [ID...]          Show properties of sessions, or of the manager without ID\n"
               "  terminate ID...       Terminate sessions\n"
               "  disconnect ID...      Disconnect the gateways from sessions (they keep running)\n"
               "  terminate-user USER...  Terminate all sessions of users (names or uids)\n"
               "  reload                Reload rsm-manager's configuration\n\n"
               "Options:\n"
               "  -h --help             Show this help\n"
               "     --version          Show the version\n"
               "     --json             JSON output (list, status, show)\n"
               "  -p --property=NAME    show: only this property (repeatable, or comma-separated)\n"
               "     --value            show: print values only\n"
               "  -a --all              show: include empty properties\n"
               "     --no-legend        list: no header and footer\n"
               "     --no-ask-password  Never ask for authentication\n\n"
               "Exit status: 0 success, 1 failure, 2 usage error, 3 no such session or user,\n"
               "4 access denied. See rsmctl(1).\n",
               out);
}

int run(int argc, char** argv) {
    enum { opt_version = 1000, opt_json, opt_value, opt_no_legend, opt_no_ask_password };
    static const option longopts[] = {
        {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, opt_version},
        {"json", no_argument, nullptr, opt_json},
        {"property", required_argument, nullptr, 'p'},
        {"value", no_argument, nullptr, opt_value},
        {"all", no_argument, nullptr, 'a'},
        {"no-legend", no_argument, nullptr, opt_no_legend},
        {"no-ask-password", no_argument, nullptr, opt_no_ask_password},
        {nullptr, 0, nullptr, 0},
    };
    Options o;
    int c;
    while ((c = getopt_long(argc, argv, "hp:a", longopts, nullptr)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return exit_ok;
        case opt_version: std::puts("rsmctl " RSM_VERSION); return exit_ok;
        case opt_json: o.json = true; break;
        case 'p': {
            std::string_view list = optarg;
            while (!list.empty()) {
                const auto comma = list.find(',');
                const auto name = list.substr(0, comma);
                if (!name.empty()) o.properties.emplace_back(name);
                if (comma == std::string_view::npos) break;
                list.remove_prefix(comma + 1);
            }
            break;
        }
        case opt_value: o.value_only = true; break;
        case 'a': o.all = true; break;
        case opt_no_legend: o.legend = false; break;
        case opt_no_ask_password: o.ask_password = false; break;
        default: usage(stderr); return exit_usage;
        }
    }
    if (optind >= argc) {
        std::fputs("rsmctl: missing command (see rsmctl --help)\n", stderr);
        return exit_usage;
    }
    const std::string verb = argv[optind];
    const std::vector<std::string> args(argv + optind + 1, argv + argc);

    struct Verb {
        std::size_t min_args, max_args;
    };
    static const std::map<std::string, Verb, std::less<>> verbs = {
        {"list", {0, 0}},      {"status", {0, SIZE_MAX}},         {"show", {0, SIZE_MAX}},
        {"terminate", {1, SIZE_MAX}}, {"disconnect", {1, SIZE_MAX}}, {"terminate-user", {1, SIZE_MAX}},
        {"reload", {0, 0}},
    };
    const auto it = verbs.find(verb);
    if (it == verbs.end()) {
        std::fprintf(stderr, "rsmctl: unknown command '%s' (see rsmctl --help)\n", verb.c_str());
        return exit_usage;
    }
    if (args.size() < it->second.min_args) {
        std::fprintf(stderr, "rsmctl: %s needs at least one argument\n", verb.c_str());
        return exit_usage;
    }
    if (args.size() > it->second.max_args) {
        std::fprintf(stderr, "rsmctl: %s takes no arguments\n", verb.c_str());
        return exit_usage;
    }

    sd_bus* raw = nullptr;
    if (const int r = sd_bus_open_system(&raw); r < 0) {
        std::fprintf(stderr, "rsmctl: cannot connect to the system bus: %s\n", std::strerror(-r));
        return exit_failure;
    }
    Client client{BusPtr{raw}, std::move(o)};
    if (verb == "list") return client.list();
    if (verb == "status") return client.status(args);
    if (verb == "show") return client.show(args);
    if (verb == "terminate") return client.act(args, "TerminateSession", "terminate");
    if (verb == "disconnect") return client.act(args, "DisconnectSession", "disconnect");
    if (verb == "terminate-user") return client.terminate_user(args);
    return client.reload();
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rsmctl: %s\n", e.what());
        return exit_failure;
    }
}

