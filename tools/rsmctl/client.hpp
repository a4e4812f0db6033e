// rsmctl: the client of org.rsm.Manager1 every command runs on, the options,
// exit codes and error helpers the commands share. One file per command:
// cmd_list.cpp, cmd_status.cpp, cmd_show.cpp, cmd_actions.cpp (terminate,
// disconnect, terminate-user, reload); main.cpp parses the command line.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <systemd/sd-bus.h>
#include <unistd.h>
#include <vector>

#include "bus/error_buffer.hpp"
#include "bus/names.hpp"
#include "polkit_agent.hpp"
#include "properties.hpp"
#include "util/handles.hpp"

namespace rsm::ctl {

using rsm::bus::ErrorBuffer;
using rsm::names::manager_bus_name;
using rsm::names::manager_interface;
using rsm::names::manager_path;
using rsm::names::session_interface;

// Exit codes (rsmctl(1), EXIT STATUS).
enum Exit : int {
    exit_ok = 0,
    exit_failure = 1,
    exit_usage = 2,
    exit_no_such = 3,
    exit_access_denied = 4,
};

struct Options {
    bool json = false;
    bool ask_password = true;
    bool legend = true;
    bool value_only = false;
    bool all = false;
    std::vector<std::string> properties;
};

// What a failed call means for the exit code.
int exit_code_for(const sd_bus_error& e);
std::string error_text(const sd_bus_error& e, int r);
// The worse of two exit codes: the first failure wins.
void merge_exit(int& into, int code);
bool valid_session_id(std::string_view id);
// One line of JSON.
void print_json(const Json& j);

class Client {
public:
    Client(BusPtr bus, Options options) : bus_{std::move(bus)}, o_{std::move(options)} {
        interactive_ = o_.ask_password && isatty(STDIN_FILENO);
        (void)sd_bus_set_allow_interactive_authorization(bus_.get(), interactive_);
    }

    int list();
    int status(const std::vector<std::string>& ids);
    int show(const std::vector<std::string>& ids);
    int act(const std::vector<std::string>& ids, const char* method, const char* doing);
    int terminate_user(const std::vector<std::string>& users);
    int reload();

private:
    // Calls a method; on failure prints "rsmctl: <what>: <error>" and
    // returns the exit code, else 0 with *reply set.
    int call(const char* destination, const char* path, const char* interface, const char* member,
             const std::function<int(sd_bus_message*)>& append, MessagePtr* reply, const std::string& what,
             bool may_prompt = false);
    int session_path(const std::string& id, std::string& path);
    int get_all(const char* path, const char* interface, std::vector<Property>& props, const std::string& what);
    void print_status(const std::vector<Property>& props, Json* json);
    void print_processes(const std::string& unit, Json* json);
    bool wants_property(std::string_view name) const {
        return o_.properties.empty() ||
               std::find(o_.properties.begin(), o_.properties.end(), name) != o_.properties.end();
    }
    void prepare_prompting() {
        if (interactive_) agent_.start();
    }

    BusPtr bus_;
    Options o_;
    bool interactive_ = false;
    PolkitAgent agent_;
};

}  // namespace rsm::ctl
