// rsmctl status: a session's properties for people, and the processes of its
// units (systemd's GetUnitProcesses), as loginctl session-status shows them.
#include <algorithm>
#include <cstdio>

#include "client.hpp"

namespace rsm::ctl {

namespace {

constexpr const char* systemd_bus_name = "org.freedesktop.systemd1";
constexpr const char* systemd_path = "/org/freedesktop/systemd1";
constexpr const char* systemd_interface = "org.freedesktop.systemd1.Manager";

}  // namespace

// GetUnitProcesses of one unit: (cgroup, pid, command line) for each process.
// With `json`, appends one object per process to that array instead.
void Client::print_processes(const std::string& unit, Json* json) {
    sd_bus_message* raw = nullptr;
    ErrorBuffer error;
    int r = sd_bus_call_method(bus_.get(), systemd_bus_name, systemd_path, systemd_interface, "GetUnitProcesses",
                               &error.e, &raw, "s", unit.c_str());
    MessagePtr reply{raw};
    if (r < 0) {
        // A unit that is not loaded has no processes; anything else is worth a note.
        if (!json && !sd_bus_error_has_name(&error.e, "org.freedesktop.systemd1.NoSuchUnit"))
            std::printf("%17s(processes of %s unavailable: %s)\n", "", unit.c_str(), error_text(error.e, r).c_str());
        return;
    }
    struct Proc {
        std::string cgroup;
        uint32_t pid;
        std::string cmd;
    };
    std::vector<Proc> procs;
    r = sd_bus_message_enter_container(reply.get(), 'a', "(sus)");
    while (r >= 0) {
        const char *cgroup, *cmd;
        uint32_t pid;
        r = sd_bus_message_read(reply.get(), "(sus)", &cgroup, &pid, &cmd);
        if (r <= 0) break;
        procs.push_back({cgroup, pid, cmd});
    }
    if (json) {
        for (const auto& p : procs)
            json->push_back({{"unit", unit}, {"cgroup", p.cgroup}, {"pid", p.pid}, {"command", p.cmd}});
        return;
    }
    std::printf("%17s%s\n", "", unit.c_str());
    std::string last_cgroup = procs.empty() ? "" : procs.front().cgroup;
    const bool several = std::any_of(procs.begin(), procs.end(), [&](const Proc& p) { return p.cgroup != last_cgroup; });
    last_cgroup.clear();
    for (std::size_t i = 0; i < procs.size(); ++i) {
        const auto& p = procs[i];
        if (several && p.cgroup != last_cgroup) {
            std::printf("%17s├─%s\n", "", p.cgroup.c_str());
            last_cgroup = p.cgroup;
        }
        const char* branch = i + 1 == procs.size() ? "└─" : "├─";
        std::string cmd = p.cmd;
        if (cmd.size() > 200) cmd = cmd.substr(0, 197) + "...";
        std::printf("%17s%s%s%u %s\n", "", several ? "│ " : "", branch, p.pid, cmd.c_str());
    }
}

// With `json`, fills that object instead of printing.
void Client::print_status(const std::vector<Property>& props, Json* json) {
    const std::string unit = prop_string(props, "Unit");
    const std::string logind = prop_string(props, "LogindSession");
    std::vector<std::string> units;
    if (!unit.empty()) units.push_back(unit);
    // With pam_systemd the user's processes live in logind's session scope.
    if (!logind.empty()) units.push_back("session-" + logind + ".scope");

    if (json) {
        *json = Json::object();
        for (const auto& p : props) (*json)[p.name] = json_value(p.value);
        Json processes = Json::array();
        for (const auto& u : units) print_processes(u, &processes);
        (*json)["Processes"] = std::move(processes);
        return;
    }

    const auto line = [](const char* label, const std::string& value) {
        if (!value.empty()) std::printf("%15s: %s\n", label, value.c_str());
    };
    std::printf("%s - %s (%llu)\n", prop_string(props, "Id").c_str(), prop_string(props, "User").c_str(),
                static_cast<unsigned long long>(prop_number(props, "UID")));
    const uint64_t since = prop_number(props, "Timestamp");
    if (since) line("Since", format_timestamp(since) + "; " + format_ago(since));
    line("State", prop_string(props, "State"));
    std::string display = prop_string(props, "Display");
    std::string detail = prop_string(props, "Type");
    if (const uint64_t w = prop_number(props, "Width"); w)
        detail += ", " + std::to_string(w) + "x" + std::to_string(prop_number(props, "Height")) + "x" +
                  std::to_string(prop_number(props, "Depth"));
    line("Display", display.empty() ? "(none, " + detail + ")" : display + " (" + detail + ")");
    line("Desktop", prop_string(props, "Desktop"));
    std::string remote = prop_string(props, "RemoteHost");
    const std::string client = prop_string(props, "ClientName");
    if (!client.empty()) remote = remote.empty() ? client : remote + " (" + client + ")";
    line("Remote", remote);
    if (const uint64_t t = prop_number(props, "ConnectedTimestamp"); t)
        line("Connected", format_timestamp(t) + "; " + format_ago(t));
    if (const uint64_t t = prop_number(props, "DisconnectedTimestamp"); t)
        line("Disconnected", format_timestamp(t) + "; " + format_ago(t));
    if (const uint64_t leader = prop_number(props, "Leader"); leader) line("Leader", std::to_string(leader));
    line("Logind session", logind);
    line("Unit", unit);
    if (const Property* idle = find_property(props, "IdleHint")) line("Idle", idle->value.b ? "yes" : "no");
    for (const auto& u : units) print_processes(u, nullptr);
}

int Client::status(const std::vector<std::string>& ids) {
    std::vector<std::string> targets = ids;
    if (targets.empty()) targets.emplace_back();  // the caller's own session
    int result = exit_ok;
    bool first = true;
    for (const auto& id : targets) {
        std::string path;
        int code = session_path(id, path);
        std::vector<Property> props;
        if (!code) code = get_all(path.c_str(), session_interface, props, "Could not read session " + id);
        if (code) {
            merge_exit(result, code);
            continue;
        }
        if (o_.json) {
            Json j;
            print_status(props, &j);
            print_json(j);
        } else {
            if (!first) std::putchar('\n');
            print_status(props, nullptr);
        }
        first = false;
    }
    return result;
}

}  // namespace rsm::ctl
