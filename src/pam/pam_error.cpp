#include "pam/pam_error.hpp"

#include <array>
#include <security/pam_appl.h>
#include <utility>

#include "bus/names.hpp"

namespace rsm::pam {
namespace {

constexpr std::array<std::pair<Step, const char*>, 7> step_names{{
    {Step::start, "start"},
    {Step::authenticate, "authenticate"},
    {Step::acct_mgmt, "acct_mgmt"},
    {Step::chauthtok, "chauthtok"},
    {Step::setcred, "setcred"},
    {Step::open_session, "open_session"},
    {Step::close_session, "close_session"},
}};

bool one_of(int status, std::initializer_list<int> codes) {
    for (int c : codes)
        if (status == c) return true;
    return false;
}

}  // namespace

const char* to_string(Step s) noexcept {
    for (const auto& [step, name] : step_names)
        if (step == s) return name;
    return "unknown";
}

std::optional<Step> step_from_string(std::string_view s) noexcept {
    for (const auto& [step, name] : step_names)
        if (s == name) return step;
    return std::nullopt;
}

Failure map_failure(Step step, int status, std::string_view user, bool conversation) {
    namespace err = names::error;
    const std::string u = "'" + std::string(user) + "'";
    // Linux-PAM's pam_strerror ignores the handle, so this stays pure.
    std::string detail = std::string("pam_") + to_string(step) + ": " + pam_strerror(nullptr, status);

    if (status == PAM_CONV_ERR && !conversation)
        return {err::conversation_required,
                "The PAM stack asks user " + u + " for more than a password; log in with a conversation",
                std::move(detail)};
    if (status == PAM_NEW_AUTHTOK_REQD)
        return {err::password_expired,
                "The password of user " + u + " has expired and must be changed; log in with a conversation",
                std::move(detail)};

    switch (step) {
    case Step::authenticate:
        // One answer for unknown user, wrong password and unreachable
        // directory alike, so the reply does not enumerate accounts.
        if (one_of(status, {PAM_AUTH_ERR, PAM_USER_UNKNOWN, PAM_MAXTRIES, PAM_CRED_INSUFFICIENT,
                            PAM_AUTHINFO_UNAVAIL}))
            return {err::authentication_failed, "Authentication failed for user " + u, std::move(detail)};
        break;
    case Step::acct_mgmt:
        // After a successful authentication the account's state is no secret
        // to the user; pam_nologin answers PAM_AUTH_ERR here.
        if (one_of(status, {PAM_ACCT_EXPIRED, PAM_PERM_DENIED, PAM_AUTHTOK_EXPIRED, PAM_AUTH_ERR,
                            PAM_USER_UNKNOWN}))
            return {err::account_unavailable,
                    "The account of user " + u + " is not available: " + pam_strerror(nullptr, status),
                    std::move(detail)};
        break;
    case Step::chauthtok:
        // The password is still expired: the change did not go through.
        if (one_of(status, {PAM_AUTHTOK_ERR, PAM_AUTHTOK_RECOVERY_ERR, PAM_AUTHTOK_LOCK_BUSY,
                            PAM_AUTHTOK_DISABLE_AGING, PAM_PERM_DENIED, PAM_TRY_AGAIN, PAM_MAXTRIES,
                            PAM_AUTH_ERR}))
            return {err::password_expired,
                    "The expired password of user " + u + " was not changed: " + pam_strerror(nullptr, status),
                    std::move(detail)};
        break;
    case Step::start:
    case Step::setcred:
    case Step::open_session:
    case Step::close_session:
        break;
    }
    return {err::failed,
            std::string("PAM ") + to_string(step) + " failed for user " + u + ": " + pam_strerror(nullptr, status),
            std::move(detail)};
}

}  // namespace rsm::pam
