#include "session_companions.hpp"

#include <algorithm>

#include "bus/error.hpp"
#include "bus/names.hpp"
#include "protocol/validate.hpp"

namespace rsm::manager {

namespace err = names::error;
using bus::BusError;

void check_companion_names(const config::Companions& config, const std::vector<std::string>& names) {
    for (const auto& name : names)
        if (!config::find_companion(config, name))
            throw BusError(err::invalid_argument,
                           "companions: no [companion." + protocol::quote_untrusted(name) + "] in the configuration");
}

std::vector<session::CompanionCommand> expand_companions(const config::Companions& config,
                                                         const std::vector<std::string>& names,
                                                         const session::TemplateValues& values) {
    std::vector<session::CompanionCommand> out;
    for (const auto& name : names) {
        const config::Companion* c = config::find_companion(config, name);
        if (!c || c->argv.empty()) continue;
        if (std::any_of(out.begin(), out.end(), [&](const auto& o) { return o.name == name; })) continue;
        session::CompanionCommand cmd;
        cmd.name = name;
        cmd.environment = c->environment;
        cmd.ready_timeout_usec = static_cast<std::uint64_t>(c->ready_timeout.count()) * 1'000'000ULL;
        try {
            cmd.argv = session::expand_template(c->argv, values);
            // As an argument: argv[0] of a template holds no placeholder.
            if (!c->ready_socket.empty())
                cmd.ready_socket = session::expand_template({"socket", c->ready_socket}, values).at(1);
        } catch (const std::exception& e) {
            throw BusError(err::failed, "companion." + name + " template: " + e.what());
        }
        out.push_back(std::move(cmd));
    }
    return out;
}

}  // namespace rsm::manager
