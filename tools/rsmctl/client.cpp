#include "client.hpp"

#include <cstdio>
#include <cstring>

namespace rsm::ctl {

namespace {

// A call that may wait for a human typing a password into a polkit agent.
constexpr uint64_t interactive_timeout_usec = 25ULL * 60 * 1000 * 1000;
constexpr uint64_t plain_timeout_usec = 25ULL * 1000 * 1000;

}  // namespace

// One line of JSON. Strings from the bus are UTF-8 (sd-bus checks), but a
// session's command line need not be: replace, never throw.
void print_json(const Json& j) { std::puts(j.dump(-1, ' ', false, Json::error_handler_t::replace).c_str()); }

int exit_code_for(const sd_bus_error& e) {
    if (!e.name) return exit_failure;
    const std::string_view n = e.name;
    if (n == "org.rsm.Error.NoSuchSession" || n == "org.rsm.Error.NoSessionForPID" ||
        n == "org.rsm.Error.NoSuchUser")
        return exit_no_such;
    if (n == SD_BUS_ERROR_ACCESS_DENIED || n == SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED ||
        n == "org.freedesktop.DBus.Error.AuthFailed")
        return exit_access_denied;
    if (n == "org.rsm.Error.InvalidArgument" || n == SD_BUS_ERROR_INVALID_ARGS) return exit_usage;
    return exit_failure;
}

std::string error_text(const sd_bus_error& e, int r) {
    if (e.message && *e.message) return e.message;
    if (e.name) return e.name;
    return std::strerror(r < 0 ? -r : r);
}

// The worse of two exit codes: the first failure wins.
void merge_exit(int& into, int code) {
    if (into == exit_ok) into = code;
}

bool valid_session_id(std::string_view id) {
    return id.size() == 32 &&
           std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

int Client::call(const char* destination, const char* path, const char* interface, const char* member,
                 const std::function<int(sd_bus_message*)>& append, MessagePtr* reply, const std::string& what,
                 bool may_prompt) {
    sd_bus_message* raw = nullptr;
    int r = sd_bus_message_new_method_call(bus_.get(), &raw, destination, path, interface, member);
    MessagePtr m{raw};
    if (r >= 0 && append) r = append(m.get());
    if (r < 0) {
        std::fprintf(stderr, "rsmctl: %s: cannot build the call: %s\n", what.c_str(), std::strerror(-r));
        return exit_failure;
    }
    ErrorBuffer error;
    sd_bus_message* answer = nullptr;
    r = sd_bus_call(bus_.get(), m.get(), may_prompt && interactive_ ? interactive_timeout_usec : plain_timeout_usec,
                    &error.e, &answer);
    MessagePtr owned{answer};
    if (r < 0) {
        std::fprintf(stderr, "rsmctl: %s: %s\n", what.c_str(), error_text(error.e, r).c_str());
        return sd_bus_error_is_set(&error.e) ? exit_code_for(error.e) : exit_failure;
    }
    if (reply) *reply = std::move(owned);
    return exit_ok;
}

int Client::session_path(const std::string& id, std::string& path) {
    if (!id.empty() && !valid_session_id(id)) {
        std::fprintf(stderr, "rsmctl: '%s' is not a session id (32 lower-case hex digits)\n", id.c_str());
        return exit_usage;
    }
    MessagePtr reply;
    const std::string what = id.empty() ? std::string{"Could not find the session of this process"}
                                        : "Could not get session " + id;
    int code = call(
        manager_bus_name, manager_path, manager_interface, "GetSession",
        [&](sd_bus_message* m) { return sd_bus_message_append(m, "s", id.c_str()); }, &reply, what);
    if (code) return code;
    const char* p = nullptr;
    if (sd_bus_message_read(reply.get(), "o", &p) < 0) {
        std::fprintf(stderr, "rsmctl: %s: malformed reply\n", what.c_str());
        return exit_failure;
    }
    path = p;
    return exit_ok;
}

int Client::get_all(const char* path, const char* interface, std::vector<Property>& props, const std::string& what) {
    MessagePtr reply;
    int code = call(
        manager_bus_name, path, "org.freedesktop.DBus.Properties", "GetAll",
        [&](sd_bus_message* m) { return sd_bus_message_append(m, "s", interface); }, &reply, what);
    if (code) return code;
    if (read_properties(reply.get(), props) < 0) {
        std::fprintf(stderr, "rsmctl: %s: malformed reply\n", what.c_str());
        return exit_failure;
    }
    return exit_ok;
}

}  // namespace rsm::ctl
