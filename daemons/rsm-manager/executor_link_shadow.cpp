// Executor1.Shadow and its ShadowEnded signal (ExecutorLink,
// executor_link.hpp; docs/nx.md "Shadowing").
#include <string>
#include <vector>

#include "bus/names.hpp"
#include "executor_link.hpp"
#include "record_dict.hpp"

namespace rsm::manager {
namespace {

int append_string(sd_bus_message* m, const char* key, const std::string& value) {
    return sd_bus_message_append(m, "{sv}", key, "s", value.c_str());
}

}  // namespace

void ExecutorLink::shadow(const ShadowParams& p, std::function<void(ExecutorReply)> done) {
    // The owner's answer and nxagent's start both come before the reply.
    const uint64_t timeout = p.consent_timeout_usec + p.startup_timeout_usec + 10'000'000;
    call("Shadow", [&](sd_bus_message* m) {
        int r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0) r = append_string(m, "requester", p.requester);
        if (r >= 0 && !p.client_address.empty()) r = append_string(m, "client_address", p.client_address);
        if (r >= 0) r = sd_bus_message_append(m, "{sv}", "ask_consent", "b", static_cast<int>(p.ask_consent));
        if (r >= 0) r = append_strings_dict_entry(m, "consent_argv", p.consent_argv);
        if (r >= 0) r = sd_bus_message_append(m, "{sv}", "consent_timeout_usec", "t", p.consent_timeout_usec);
        if (r >= 0) r = append_strings_dict_entry(m, "argv", p.argv);
        if (r >= 0) r = sd_bus_message_append(m, "{sv}", "display_number", "u", p.display_number);
        if (r >= 0) r = sd_bus_message_append(m, "{sv}", "port", "u", p.port);
        if (r >= 0) r = append_string(m, "nx_options", p.nx_options);
        if (r >= 0) r = append_string(m, "nx_options_file", p.nx_options_file);
        if (r >= 0) r = append_string(m, "xauthority", p.xauthority);
        if (r >= 0) r = append_string(m, "ready_line", p.ready_line);
        if (r >= 0) r = sd_bus_message_append(m, "{sv}", "startup_timeout_usec", "t", p.startup_timeout_usec);
        if (r >= 0) r = sd_bus_message_close_container(m);
        return r;
    }, timeout, false, std::move(done));
}

int ExecutorLink::on_shadow_ended_signal(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* self = static_cast<ExecutorLink*>(userdata);
    uint32_t display = 0;
    if (sd_bus_message_read(m, "u", &display) < 0) return 0;
    if (self->callbacks_.on_shadow_ended) self->callbacks_.on_shadow_ended(display);
    return 0;
}

}  // namespace rsm::manager
