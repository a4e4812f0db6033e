#include "broker/replies.hpp"

#include <nlohmann/json.hpp>

namespace rsm::broker {

namespace {

std::string header(const std::optional<std::string>& authid) {
    std::string out;
    if (authid) out += "AUTHID:" + *authid + "\n";
    out += "Access granted\n";
    return out;
}

nlohmann::json json_value(const ProfileValue& v) {
    switch (v.type) {
    case ValueType::boolean: return v.boolean;
    case ValueType::integer: return v.integer;
    case ValueType::list: return v.list;
    case ValueType::text: break;
    }
    return v.text;
}

nlohmann::json json_header(std::string_view task, const std::optional<std::string>& authid) {
    nlohmann::json j = {{"task", task}, {"auth-status", "Access granted"}};
    if (authid) j["next-authid"] = *authid;
    return j;
}

// x2gobroker: json.dumps(payload, indent=4, sort_keys=True); nlohmann's
// objects are sorted. Non-UTF-8 text is replaced, never an exception.
std::string dump(const nlohmann::json& j) {
    return j.dump(4, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string plain_list(const std::optional<std::string>& authid, const VisibleProfiles& profiles) {
    std::string out = header(authid);
    if (profiles.empty()) return out;
    out += "START_USER_SESSIONS\n\n";
    for (const auto& [id, options] : profiles) {
        out += "[" + id + "]\n";
        for (const auto& [key, value] : options) out += key + "=" + plain_value(value) + "\n";
        out += "\n";
    }
    out += "END_USER_SESSIONS\n";
    return out;
}

std::string plain_select(const std::optional<std::string>& authid, const Selection& s) {
    std::string out = header(authid);
    out += "SERVER:" + s.server + ":" + std::to_string(s.port) + "\n";
    if (!s.session_info.empty()) out += "SESSION_INFO:" + s.session_info + "\n";
    return out;
}

std::string plain_header(const std::optional<std::string>& authid) { return header(authid); }

std::string plain_testcon() { return "OK"; }

std::string json_header_only(std::string_view task, const std::optional<std::string>& authid) {
    return dump(json_header(task, authid));
}

std::string json_list(const std::optional<std::string>& authid, const VisibleProfiles& profiles) {
    nlohmann::json j = json_header("listprofiles", authid);
    nlohmann::json list = nlohmann::json::object();
    for (const auto& [id, options] : profiles) {
        nlohmann::json p = nlohmann::json::object();
        for (const auto& [key, value] : options) p[key] = json_value(value);
        list[id] = std::move(p);
    }
    j["profiles"] = std::move(list);
    return dump(j);
}

std::string json_select(const std::optional<std::string>& authid, const std::optional<Selection>& s) {
    nlohmann::json j = json_header("selectsession", authid);
    nlohmann::json selected = nlohmann::json::object();
    if (s) {
        selected["server"] = s->server;
        selected["port"] = std::to_string(s->port);  // x2gobroker sends the port as a string
        if (!s->session_info.empty()) selected["session_info"] = s->session_info;
        if (s->pubkey_accepted) selected["authentication_pubkey"] = "ACCEPTED";
    }
    j["selected_session"] = std::move(selected);
    return dump(j);
}

}  // namespace rsm::broker
