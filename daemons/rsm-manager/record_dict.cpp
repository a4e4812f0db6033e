#include "record_dict.hpp"

#include <stdexcept>
#include <string>
#include <string_view>

#include "bus/dict_reader.hpp"

namespace rsm::manager {

namespace {

[[noreturn]] void malformed_record(const std::string& what) {
    throw std::runtime_error("malformed session record: " + what);
}

}  // namespace

void read_record_dict(sd_bus_message* m, session::Record& r) {
    bus::DictFailure failure;
    const int result = bus::read_dict(
        m,
        [&](std::string_view key, std::string_view contents) {
            const std::string k{key};
            auto read_s = [&](std::string& out) {
                const char* v = nullptr;
                if (contents != "s" || sd_bus_message_read(m, "v", "s", &v) < 0) malformed_record(k + ": expected s");
                out = v;
            };
            auto read_u = [&](uint32_t& out) {
                if (contents != "u" || sd_bus_message_read(m, "v", "u", &out) < 0) malformed_record(k + ": expected u");
            };
            auto read_t = [&](uint64_t& out) {
                if (contents != "t" || sd_bus_message_read(m, "v", "t", &out) < 0) malformed_record(k + ": expected t");
            };
            if (k == "session_id") read_s(r.id);
            else if (k == "uid") read_u(r.uid);
            else if (k == "user") read_s(r.user);
            else if (k == "type") read_s(r.type);
            else if (k == "state") {
                std::string st;
                read_s(st);
                auto parsed = session::state_from_string(st);
                if (!parsed) malformed_record("state: unknown state '" + st + "'");
                r.state = *parsed;
            } else if (k == "display") read_s(r.display);
            else if (k == "display_number") {
                uint32_t n = 0;
                read_u(n);
                r.display_number = static_cast<int>(n);
            } else if (k == "leader_pid") read_u(r.leader_pid);
            else if (k == "executor_pid") read_u(r.executor_pid);
            else if (k == "logind_session") read_s(r.logind_session);
            else if (k == "desktop") read_s(r.desktop);
            else if (k == "width") read_u(r.width);
            else if (k == "height") read_u(r.height);
            else if (k == "depth") read_u(r.depth);
            else if (k == "client_address") read_s(r.client_address);
            else if (k == "client_name") read_s(r.client_name);
            else if (k == "created_usec") read_t(r.created_usec);
            else if (k == "connected_usec") read_t(r.connected_usec);
            else if (k == "disconnected_usec") read_t(r.disconnected_usec);
            else if (sd_bus_message_skip(m, "v") < 0) malformed_record(k + ": cannot skip");
            return 0;
        },
        &failure);
    if (result < 0) {
        switch (failure.step) {
        case bus::DictStep::dictionary: malformed_record("expected a{sv}");
        case bus::DictStep::entry: malformed_record("bad entry");
        case bus::DictStep::key: malformed_record("bad key");
        case bus::DictStep::value: malformed_record("bad variant");
        case bus::DictStep::entry_end: malformed_record("bad entry end");
        case bus::DictStep::dictionary_end: malformed_record("bad dictionary end");
        }
    }
}

int append_strings_dict_entry(sd_bus_message* m, const char* key, const std::vector<std::string>& values) {
    int r = sd_bus_message_open_container(m, 'e', "sv");
    if (r >= 0) r = sd_bus_message_append_basic(m, 's', key);
    if (r >= 0) r = sd_bus_message_open_container(m, 'v', "as");
    if (r >= 0) r = sd_bus_message_open_container(m, 'a', "s");
    for (const auto& v : values)
        if (r >= 0) r = sd_bus_message_append_basic(m, 's', v.c_str());
    if (r >= 0) r = sd_bus_message_close_container(m);
    if (r >= 0) r = sd_bus_message_close_container(m);
    if (r >= 0) r = sd_bus_message_close_container(m);
    return r;
}

}  // namespace rsm::manager
