// rsmctl list: ListSessions as a table or JSON.
#include <algorithm>
#include <cstdio>

#include "client.hpp"

namespace rsm::ctl {

int Client::list() {
    MessagePtr reply;
    int code = call(manager_bus_name, manager_path, manager_interface, "ListSessions", nullptr, &reply,
                    "Could not list sessions");
    if (code) return code;

    struct Row {
        std::string id;
        uint32_t uid;
        std::string user, state, type, display, path;
    };
    std::vector<Row> rows;
    int r = sd_bus_message_enter_container(reply.get(), 'a', "(susssso)");
    while (r >= 0) {
        const char *id, *user, *state, *type, *display, *path;
        uint32_t uid = 0;
        r = sd_bus_message_read(reply.get(), "(susssso)", &id, &uid, &user, &state, &type, &display, &path);
        if (r <= 0) break;
        rows.push_back({id, uid, user, state, type, display, path});
    }
    if (r < 0) {
        std::fprintf(stderr, "rsmctl: Could not list sessions: malformed reply\n");
        return exit_failure;
    }

    if (o_.json) {
        Json list = Json::array();
        for (const auto& row : rows)
            list.push_back({{"session", row.id},
                            {"uid", row.uid},
                            {"user", row.user},
                            {"state", row.state},
                            {"type", row.type},
                            {"display", row.display},
                            {"path", row.path}});
        print_json(list);
        return exit_ok;
    }

    const std::vector<std::string> head = {"SESSION", "UID", "USER", "STATE", "TYPE", "DISPLAY"};
    std::vector<std::vector<std::string>> table;
    if (o_.legend) table.push_back(head);
    for (const auto& row : rows)
        table.push_back({row.id, std::to_string(row.uid), row.user, row.state, row.type, row.display});
    std::vector<std::size_t> width(head.size(), 0);
    for (const auto& line : table)
        for (std::size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], line[i].size());
    for (const auto& line : table) {
        std::string out;
        for (std::size_t i = 0; i < line.size(); ++i) {
            // UID right-aligned, the rest left-aligned; no trailing blanks.
            const std::string pad(width[i] - line[i].size(), ' ');
            out += i == 1 ? pad + line[i] : line[i];
            if (i + 1 < line.size()) out += (i == 1 ? "" : pad) + " ";
        }
        std::puts(out.c_str());
    }
    if (o_.legend) std::printf("\n%zu session%s listed.\n", rows.size(), rows.size() == 1 ? "" : "s");
    return exit_ok;
}

}  // namespace rsm::ctl
