// One broker request, protocol-neutral: what an X2Go client asks (from the
// HTTP form fields of /plain/ and /json/, or the SSH front end's options),
// validated at the edge with an error that says what was wrong.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "http/http_types.hpp"

namespace rsm::broker {

// The two wire formats: x2goclient's plain text, python-x2go's JSON.
enum class Frontend { plain, json };
std::string_view to_string(Frontend f);
std::optional<Frontend> frontend_from_string(std::string_view s);

// checkaccess: a request without a task (x2goclient sends one to check the
// credentials): answered with the header lines only, as x2gobroker does.
enum class Task { listsessions, listprofiles, selectsession, testcon, setpass, checkaccess };
std::string_view to_string(Task t);
std::optional<Task> task_from_string(std::string_view s);

// "/plain/", "/plain/inifile/", "/json/inifile" -> frontend and backend
// ("" when the URL names none).
struct Route {
    Frontend frontend;
    std::string backend;
};
std::optional<Route> parse_route(std::string_view path);

struct BrokerRequest {
    Task task = Task::listsessions;
    std::string user;       // the broker user (authenticated)
    std::string login;      // the user on the X2Go server ("" = user)
    std::string password;   // wiped by whoever consumes it
    std::string authid;     // the client's cookie, "" if none
    std::string profile_id; // selectsession: "sid" (plain) or "profile-id" (json)
    std::string pubkey;     // selectsession: the client's public key (autologin)

    const std::string& server_user() const { return login.empty() ? user : login; }
};

struct RequestResult {
    std::optional<BrokerRequest> request;
    std::string error;
};
RequestResult parse_request(Frontend frontend, const http::FormFields& form);

// A user or login name as rsm accepts one: 1..256 bytes, no control
// characters, no '/' or ':' (they would break the reply lines).
bool valid_user_name(std::string_view name);
// A profile id: the INI section name; printable, no ']' or newline.
bool valid_profile_id(std::string_view id);

}  // namespace rsm::broker
