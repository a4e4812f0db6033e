#include "ssh_frontend.hpp"

#include <cstdio>
#include <pwd.h>
#include <unistd.h>

#include "broker_core.hpp"
#include "profile_sources.hpp"
#include "util/log.hpp"

namespace rsm::broker {

namespace {

std::string own_user_name() {
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* found = nullptr;
    if (getpwuid_r(getuid(), &pw, buf.data(), buf.size(), &found) != 0 || !found) return {};
    return pw.pw_name;
}

// The remote end of the SSH connection, for client ACLs.
std::string ssh_client_address() {
    const char* c = std::getenv("SSH_CLIENT");  // "addr port port"
    if (!c) return {};
    std::string s = c;
    return s.substr(0, s.find(' '));
}

int fail(const std::string& why) {
    std::fprintf(stderr, "rsm-broker: %s\n", why.c_str());
    return 2;
}

}  // namespace

int run_ssh_frontend(const std::string& config_path, const std::vector<std::string>& args) {
    http::FormFields form;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string a = args[i], value;
        if (const auto eq = a.find('='); eq != std::string::npos) {
            value = a.substr(eq + 1);
            a.resize(eq);
        } else if (i + 1 < args.size()) {
            value = args[++i];
        } else {
            return fail("option " + a + " needs a value");
        }
        const std::string name = a == "--task" ? "task" : a == "--user" ? "user" : a == "--sid" ? "sid"
                               : a == "--authid" ? "authid" : "";
        if (name.empty()) return fail("unknown option " + a);
        form[name] = value;
    }
    const std::string self = own_user_name();
    if (self.empty()) return fail("cannot find the calling user's account");
    if (!form.contains("user")) form["user"] = self;
    if (form["user"] != self && getuid() != 0) return fail("--user may only name the calling user (" + self + ")");

    const auto parsed = parse_request(Frontend::plain, form);
    if (!parsed.request) return fail(parsed.error);
    const auto config = load_broker_config(config_path);
    if (!config.config) return fail(config.error);
    auto profiles = load_profiles(*config.config, config_path);
    if (!profiles.set) return fail(profiles.error);

    HostDirectory hosts;
    if (parsed.request->task == Task::selectsession)
        if (const Profile* p = profiles.set->find(parsed.request->profile_id))
            for (const auto& h : p->hosts) hosts.add(h.address);

    sd_event* e = nullptr;
    if (sd_event_new(&e) < 0) return fail("sd_event_new failed");
    EventPtr event{e};
    BrokerCore core{e, *config.config, std::move(*profiles.set), std::move(hosts)};
    std::optional<http::Response> answer;
    core.serve(Frontend::plain, *parsed.request, ssh_client_address(), std::nullopt, [&](http::Response r) {
        answer = std::move(r);
        sd_event_exit(e, 0);
    });
    if (!answer && sd_event_loop(e) < 0) return fail("event loop failed");
    if (!answer) return fail("no answer");
    std::FILE* out = answer->status == 200 ? stdout : stderr;
    std::fwrite(answer->body.data(), 1, answer->body.size(), out);
    std::fflush(out);
    return answer->status == 200 ? 0 : 1;
}

}  // namespace rsm::broker
