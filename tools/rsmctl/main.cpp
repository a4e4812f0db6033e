// rsmctl: inspect and control rsm sessions through org.rsm.Manager1 on the
// system bus, in the manner of loginctl. See rsmctl(1).
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <functional>
#include <getopt.h>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <string>
#include <string_view>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <unistd.h>
#include <vector>

#include "bus/names.hpp"
#include "rsm-build-config.h"
#include "util/fd.hpp"
#include "util/handles.hpp"

namespace {

using namespace rsm;
// nlohmann's ordered_json keeps keys in the order we add them (bus order).
using Json = nlohmann::ordered_json;

// One line of JSON. Strings from the bus are UTF-8 (sd-bus checks), but a
// session's command line need not be: replace, never throw.
void print_json(const Json& j) { std::puts(j.dump(-1, ' ', false, Json::error_handler_t::replace).c_str()); }

using rsm::names::manager_bus_name;
using rsm::names::manager_interface;
using rsm::names::manager_path;
using rsm::names::session_interface;

constexpr const char* systemd_bus_name = "org.freedesktop.systemd1";
constexpr const char* systemd_path = "/org/freedesktop/systemd1";
constexpr const char* systemd_interface = "org.freedesktop.systemd1.Manager";
constexpr const char* polkit_agent_path = "/usr/bin/pkttyagent";

// Exit codes (rsmctl(1), EXIT STATUS).
enum Exit : int {
    exit_ok = 0,
    exit_failure = 1,
    exit_usage = 2,
    exit_no_such = 3,
    exit_access_denied = 4,
};

// A call that may wait for a human typing a password into a polkit agent.
constexpr uint64_t interactive_timeout_usec = 25ULL * 60 * 1000 * 1000;
constexpr uint64_t plain_timeout_usec = 25ULL * 1000 * 1000;

struct Options {
    bool json = false;
    bool ask_password = true;
    bool legend = true;
    bool value_only = false;
    bool all = false;
    std::vector<std::string> properties;
};

// An sd_bus_error that frees itself.
struct ErrorBuffer {
    sd_bus_error e = SD_BUS_ERROR_NULL;
    ErrorBuffer() = default;
    ErrorBuffer(const ErrorBuffer&) = delete;
    ErrorBuffer& operator=(const ErrorBuffer&) = delete;
    ~ErrorBuffer() { sd_bus_error_free(&e); }
};

// What a failed call means for the exit code.
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

// ---------------------------------------------------------------------------
// Property values as read from a{sv}

struct Value {
    char type = 0;  // the D-Bus type code; 0 = not a basic type (skipped)
    std::string s;  // s, o, g
    uint64_t u = 0; // y, q, u, t
    int64_t i = 0;  // n, i, x
    double d = 0;
    bool b = false;
};

struct Property {
    std::string name;
    Value value;
};

int read_variant(sd_bus_message* m, Value& v) {
    char type = 0;
    const char* contents = nullptr;
    int r = sd_bus_message_peek_type(m, &type, &contents);
    if (r <= 0) return r < 0 ? r : -EBADMSG;
    if (type != 'v') return -EBADMSG;
    r = sd_bus_message_enter_container(m, 'v', contents);
    if (r < 0) return r;
    v.type = contents && std::strlen(contents) == 1 ? contents[0] : 0;
    switch (v.type) {
    case 's':
    case 'o':
    case 'g': {
        const char* s = nullptr;
        r = sd_bus_message_read_basic(m, v.type, &s);
        if (r >= 0) v.s = s;
        break;
    }
    case 'y': {
        uint8_t x = 0;
        r = sd_bus_message_read_basic(m, 'y', &x);
        v.u = x;
        break;
    }
    case 'q': {
        uint16_t x = 0;
        r = sd_bus_message_read_basic(m, 'q', &x);
        v.u = x;
        break;
    }
    case 'u': {
        uint32_t x = 0;
        r = sd_bus_message_read_basic(m, 'u', &x);
        v.u = x;
        break;
    }
    case 't': r = sd_bus_message_read_basic(m, 't', &v.u); break;
    case 'n': {
        int16_t x = 0;
        r = sd_bus_message_read_basic(m, 'n', &x);
        v.i = x;
        break;
    }
    case 'i': {
        int32_t x = 0;
        r = sd_bus_message_read_basic(m, 'i', &x);
        v.i = x;
        break;
    }
    case 'x': r = sd_bus_message_read_basic(m, 'x', &v.i); break;
    case 'd': r = sd_bus_message_read_basic(m, 'd', &v.d); break;
    case 'b': {
        int x = 0;
        r = sd_bus_message_read_basic(m, 'b', &x);
        v.b = x != 0;
        break;
    }
    default:
        v.type = 0;
        r = sd_bus_message_skip(m, contents);
    }
    if (r < 0) return r;
    return sd_bus_message_exit_container(m);
}

int read_properties(sd_bus_message* m, std::vector<Property>& out) {
    int r = sd_bus_message_enter_container(m, 'a', "{sv}");
    if (r < 0) return r;
    while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
        const char* name = nullptr;
        Property p;
        r = sd_bus_message_read_basic(m, 's', &name);
        if (r < 0) return r;
        p.name = name;
        r = read_variant(m, p.value);
        if (r < 0) return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0) return r;
        if (p.value.type) out.push_back(std::move(p));
    }
    if (r < 0) return r;
    return sd_bus_message_exit_container(m);
}

const Property* find_property(const std::vector<Property>& props, std::string_view name) {
    for (const auto& p : props)
        if (p.name == name) return &p;
    return nullptr;
}

std::string prop_string(const std::vector<Property>& props, std::string_view name) {
    const Property* p = find_property(props, name);
    return p ? p->value.s : std::string{};
}

uint64_t prop_number(const std::vector<Property>& props, std::string_view name) {
    const Property* p = find_property(props, name);
    return p ? p->value.u : 0;
}

bool is_timestamp(const Property& p) {
    return p.value.type == 't' && p.name.size() >= 9 && p.name.ends_with("Timestamp");
}

// "Mon 2024-05-06 10:00:00 CEST", as systemd prints timestamps; "" for 0.
std::string format_timestamp(uint64_t usec) {
    if (usec == 0) return {};
    const time_t t = static_cast<time_t>(usec / 1000000);
    tm tm_local{};
    if (!localtime_r(&t, &tm_local)) return std::to_string(usec);
    char buf[128];
    if (strftime(buf, sizeof buf, "%a %Y-%m-%d %H:%M:%S %Z", &tm_local) == 0) return std::to_string(usec);
    return buf;
}

// "3min 5s ago", roughly as systemd says it.
std::string format_ago(uint64_t usec) {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    const uint64_t now_usec = static_cast<uint64_t>(now.tv_sec) * 1000000 + static_cast<uint64_t>(now.tv_nsec) / 1000;
    if (usec == 0 || usec > now_usec) return {};
    uint64_t s = (now_usec - usec) / 1000000;
    const uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
    s %= 60;
    std::string out;
    if (d) out += std::to_string(d) + "d ";
    if (d || h) out += std::to_string(h) + "h ";
    if (!d && (h || m)) out += std::to_string(m) + "min ";
    if (!d && !h) out += std::to_string(s) + "s ";
    return out + "ago";
}

std::string format_value(const Property& p) {
    const Value& v = p.value;
    switch (v.type) {
    case 's':
    case 'o':
    case 'g': return v.s;
    case 'b': return v.b ? "yes" : "no";
    case 'n':
    case 'i':
    case 'x': return std::to_string(v.i);
    case 'd': {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%g", v.d);
        return buf;
    }
    default: return is_timestamp(p) ? format_timestamp(v.u) : std::to_string(v.u);
    }
}

bool is_empty(const Property& p) {
    return ((p.value.type == 's' || p.value.type == 'o' || p.value.type == 'g') && p.value.s.empty()) ||
           (is_timestamp(p) && p.value.u == 0);
}

Json json_value(const Value& v) {
    switch (v.type) {
    case 's':
    case 'o':
    case 'g': return v.s;
    case 'b': return v.b;
    case 'n':
    case 'i':
    case 'x': return v.i;
    case 'd': return v.d;
    default: return v.u;
    }
}

// ---------------------------------------------------------------------------
// pkttyagent, so that a password can be typed on this terminal (as loginctl
// does): started before calls that may ask, stopped at exit.

class PolkitAgent {
public:
    PolkitAgent() = default;
    PolkitAgent(const PolkitAgent&) = delete;
    PolkitAgent& operator=(const PolkitAgent&) = delete;
    ~PolkitAgent() { stop(); }

    void start() {
        if (pid_ > 0 || access(polkit_agent_path, X_OK) < 0) return;
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0) return;
        UniqueFd readable{fds[0]}, writable{fds[1]};
        const pid_t parent = getpid();
        const pid_t pid = fork();
        if (pid < 0) return;
        if (pid == 0) {
            // The agent tells us it is registered by closing this fd.
            (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != parent) _exit(EXIT_FAILURE);
            const int notify = dup(writable.get());  // without O_CLOEXEC
            if (notify < 0) _exit(EXIT_FAILURE);
            const std::string fd_arg = std::to_string(notify);
            // Registered for our process rather than for a login session:
            // the password is asked here even where the caller has no logind
            // session (su, nsenter, a container shell).
            const std::string process_arg = std::to_string(parent);
            execl(polkit_agent_path, polkit_agent_path, "--notify-fd", fd_arg.c_str(), "--fallback", "--process",
                  process_arg.c_str(), static_cast<char*>(nullptr));
            _exit(EXIT_FAILURE);
        }
        pid_ = pid;
        writable.reset();
        // Wait (boundedly) until the agent has registered with polkit.
        pollfd p{readable.get(), POLLIN, 0};
        (void)poll(&p, 1, 5000);
    }

    void stop() {
        if (pid_ <= 0) return;
        (void)kill(pid_, SIGTERM);
        (void)kill(pid_, SIGCONT);
        int status = 0;
        while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
    }

private:
    pid_t pid_ = -1;
};

// ---------------------------------------------------------------------------

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

int Client::act(const std::vector<std::string>& ids, const char* method, const char* doing) {
    prepare_prompting();
    int result = exit_ok;
    for (const auto& id : ids) {
        if (!valid_session_id(id)) {
            std::fprintf(stderr, "rsmctl: '%s' is not a session id (32 lower-case hex digits)\n", id.c_str());
            merge_exit(result, exit_usage);
            continue;
        }
        merge_exit(result, call(
                               manager_bus_name, manager_path, manager_interface, method,
                               [&](sd_bus_message* m) { return sd_bus_message_append(m, "s", id.c_str()); },
                               nullptr, std::string("Could not ") + doing + " session " + id, true));
    }
    return result;
}

int Client::terminate_user(const std::vector<std::string>& users) {
    prepare_prompting();
    int result = exit_ok;
    for (const auto& user : users) {
        uint32_t uid = 0;
        if (const passwd* pw = getpwnam(user.c_str())) {
            uid = pw->pw_uid;
        } else {
            char* end = nullptr;
            errno = 0;
            const unsigned long n = std::strtoul(user.c_str(), &end, 10);
            if (user.empty() || !std::isdigit(static_cast<unsigned char>(user[0])) || errno || *end ||
                n >= UINT32_MAX) {
                std::fprintf(stderr, "rsmctl: no such user: %s\n", user.c_str());
                merge_exit(result, exit_no_such);
                continue;
            }
            uid = static_cast<uint32_t>(n);
        }
        merge_exit(result, call(
                               manager_bus_name, manager_path, manager_interface, "TerminateUser",
                               [&](sd_bus_message* m) { return sd_bus_message_append(m, "u", uid); }, nullptr,
                               "Could not terminate the sessions of " + user, true));
    }
    return result;
}

int Client::reload() {
    prepare_prompting();
    return call(manager_bus_name, manager_path, manager_interface, "Reload", nullptr, nullptr,
                "Could not reload the configuration", true);
}

// ---------------------------------------------------------------------------

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
