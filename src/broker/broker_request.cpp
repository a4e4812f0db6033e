#include "broker/broker_request.hpp"

#include <array>
#include <cctype>
#include <utility>

namespace rsm::broker {

namespace {

constexpr std::array<std::pair<Frontend, std::string_view>, 2> frontend_names{{
    {Frontend::plain, "plain"},
    {Frontend::json, "json"},
}};

constexpr std::array<std::pair<Task, std::string_view>, 6> task_names{{
    {Task::listsessions, "listsessions"},
    {Task::listprofiles, "listprofiles"},
    {Task::selectsession, "selectsession"},
    {Task::testcon, "testcon"},
    {Task::setpass, "setpass"},
    {Task::checkaccess, "checkaccess"},
}};

template <class E, std::size_t N>
std::optional<E> lookup(const std::array<std::pair<E, std::string_view>, N>& table, std::string_view s) {
    for (const auto& [value, name] : table)
        if (name == s) return value;
    return std::nullopt;
}

template <class E, std::size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& table, E e) {
    for (const auto& [value, name] : table)
        if (value == e) return name;
    return "?";
}

bool printable(std::string_view s) {
    for (const unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return false;
    return true;
}

const std::string* field(const http::FormFields& form, std::string_view name) {
    const auto it = form.find(name);
    return it == form.end() ? nullptr : &it->second;
}

}  // namespace

std::string_view to_string(Frontend f) { return name_of(frontend_names, f); }
std::optional<Frontend> frontend_from_string(std::string_view s) { return lookup(frontend_names, s); }
std::string_view to_string(Task t) { return name_of(task_names, t); }
std::optional<Task> task_from_string(std::string_view s) { return lookup(task_names, s); }

std::optional<Route> parse_route(std::string_view path) {
    if (!path.starts_with('/')) return std::nullopt;
    path.remove_prefix(1);
    const std::size_t slash = path.find('/');
    const auto frontend = frontend_from_string(path.substr(0, slash));
    if (!frontend) return std::nullopt;
    Route route{*frontend, {}};
    if (slash == std::string_view::npos) return route;
    std::string_view rest = path.substr(slash + 1);
    // x2gobroker: the backend is the first path element after the frontend.
    route.backend = std::string(rest.substr(0, rest.find('/')));
    for (const char c : route.backend)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return std::nullopt;
    return route;
}

bool valid_user_name(std::string_view name) {
    return !name.empty() && name.size() <= 256 && printable(name) && name.find_first_of("/:") == std::string_view::npos;
}

bool valid_profile_id(std::string_view id) {
    return !id.empty() && id.size() <= 256 && printable(id) && id.find_first_of("[]") == std::string_view::npos;
}

RequestResult parse_request(Frontend frontend, const http::FormFields& form) {
    RequestResult result;
    BrokerRequest req;
    const std::string* task = field(form, "task");
    const auto t = !task || task->empty() ? std::optional{Task::checkaccess} : task_from_string(*task);
    if (!t) {
        result.error = "unknown task '" + (task && printable(*task) && task->size() < 64 ? *task : std::string("?")) + "'";
        return result;
    }
    req.task = *t;
    // python-x2go's JSON front end: listsessions is the old name of listprofiles.
    if (frontend == Frontend::json && req.task == Task::listsessions) req.task = Task::listprofiles;
    if (frontend == Frontend::plain && req.task == Task::listprofiles) {
        result.error = "task 'listprofiles' is for /json/ (plain text has 'listsessions')";
        return result;
    }
    if (const auto* u = field(form, "user")) req.user = *u;
    if (const auto* l = field(form, "login")) req.login = *l;
    if (const auto* p = field(form, "password")) req.password = *p;
    if (const auto* a = field(form, "authid")) req.authid = *a;
    if (const auto* k = field(form, "pubkey")) req.pubkey = *k;
    const std::string* sid = field(form, "sid");
    if (!sid && frontend == Frontend::json) sid = field(form, "profile-id");
    if (sid) req.profile_id = *sid;

    if (!valid_user_name(req.user)) {
        result.error = req.user.empty() ? "no user given" : "invalid user name";
        return result;
    }
    if (!req.login.empty() && !valid_user_name(req.login)) {
        result.error = "invalid login name";
        return result;
    }
    if (req.password.size() > 4096) {
        result.error = "password longer than 4096 bytes";
        return result;
    }
    if (req.authid.size() > 128 || !printable(req.authid)) {
        result.error = "invalid authid";
        return result;
    }
    if (req.pubkey.size() > 16384) {
        result.error = "pubkey longer than 16384 bytes";
        return result;
    }
    if (req.task == Task::selectsession && !valid_profile_id(req.profile_id)) {
        result.error = req.profile_id.empty() ? "selectsession without a profile id (sid)" : "invalid profile id";
        return result;
    }
    result.request = std::move(req);
    return result;
}

}  // namespace rsm::broker
