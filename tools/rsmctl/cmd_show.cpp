// rsmctl show: properties of sessions, or of the manager, as NAME=value
// lines or JSON.
#include <cstdio>
#include <utility>

#include "client.hpp"

namespace rsm::ctl {

int Client::show(const std::vector<std::string>& ids) {
    std::vector<std::pair<std::string, std::string>> targets;  // (path, interface)
    int result = exit_ok;
    if (ids.empty()) {
        // NSessions counts what the caller may see; a property read cannot
        // wait for polkit, so look first (the manager remembers the answer).
        sd_bus_message* ignored = nullptr;
        (void)sd_bus_call_method(bus_.get(), manager_bus_name, manager_path, manager_interface, "ListSessions",
                                 nullptr, &ignored, "");
        MessagePtr{ignored}.reset();
        targets.emplace_back(manager_path, manager_interface);
    }
    for (const auto& id : ids) {
        std::string path;
        if (int code = session_path(id, path)) {
            merge_exit(result, code);
            continue;
        }
        targets.emplace_back(path, session_interface);
    }
    bool first = true;
    for (const auto& [path, interface] : targets) {
        std::vector<Property> props;
        if (int code = get_all(path.c_str(), interface.c_str(), props, "Could not read " + path)) {
            merge_exit(result, code);
            continue;
        }
        if (o_.json) {
            Json j = Json::object();
            for (const auto& p : props)
                if (wants_property(p.name)) j[p.name] = json_value(p.value);
            print_json(j);
            continue;
        }
        if (!first && !o_.value_only) std::putchar('\n');
        first = false;
        for (const auto& p : props) {
            if (!wants_property(p.name)) continue;
            // Empty values only when asked for by name or with --all.
            if (o_.properties.empty() && !o_.all && is_empty(p)) continue;
            if (o_.value_only)
                std::printf("%s\n", format_value(p).c_str());
            else
                std::printf("%s=%s\n", p.name.c_str(), format_value(p).c_str());
        }
    }
    return result;
}

}  // namespace rsm::ctl
