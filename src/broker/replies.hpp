// The broker's answers, byte for byte as X2Go clients parse them and as
// python-x2gobroker 0.0.4.3 writes them (x2gobroker/web/plain.py, json.py).
//
// Plain text (x2goclient):
//   [AUTHID:<cookie>]             when cookies are on
//   Access granted
//   START_USER_SESSIONS           listsessions, if any profile
//   <blank>
//   [<id>]  key=value ...  <blank>
//   END_USER_SESSIONS
//   SERVER:<host>:<port>          selectsession
//   [SESSION_INFO:<line>]
// JSON (python-x2go): {"auth-status":"Access granted","next-authid":...,
//   "task":"listprofiles","profiles":{id:{...}}} or
//   {"task":"selectsession","selected_session":{"server":...,"port":"22"
//    [,"session_info":...][,"authentication_pubkey":"ACCEPTED"]}}
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/profiles.hpp"

namespace rsm::broker {

struct Selection {
    std::string server;  // address, or "no-server-available" / "no-X2Go-Server-available"
    std::uint16_t port = 22;
    std::string session_info;  // an x2golistsessions line, "" if none
    // Broker autologin: the client's public key is on the server (JSON's
    // authentication_pubkey "ACCEPTED"; the plain reply has no such line).
    bool pubkey_accepted = false;
};

std::string plain_list(const std::optional<std::string>& authid, const VisibleProfiles& profiles);
std::string plain_select(const std::optional<std::string>& authid, const Selection& s);
// A request without a task: only the header lines.
std::string plain_header(const std::optional<std::string>& authid);
// testcon: x2gobroker answers only "OK" (its reply drops the header lines).
std::string plain_testcon();

// {"auth-status": "Access granted", "task": <task>[, "next-authid"]}.
std::string json_header_only(std::string_view task, const std::optional<std::string>& authid);
std::string json_list(const std::optional<std::string>& authid, const VisibleProfiles& profiles);
std::string json_select(const std::optional<std::string>& authid, const std::optional<Selection>& s);

}  // namespace rsm::broker
