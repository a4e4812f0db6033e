// From a failing PAM status to the org.rsm.Error.* a client sees.
//
// The message never tells an unknown user from a wrong password; the PAM
// detail (pam_strerror) goes to the journal through `detail`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rsm::pam {

// The PAM call that failed; logged as RSM_PAM_STEP=.
enum class Step { start, authenticate, acct_mgmt, chauthtok, setcred, open_session, close_session };
const char* to_string(Step s) noexcept;
std::optional<Step> step_from_string(std::string_view s) noexcept;

struct Failure {
    const char* name;     // rsm::names::error::*
    std::string message;  // for the client
    std::string detail;   // for the journal: step and pam_strerror
};

// `status` is what the PAM call at `step` returned (not PAM_SUCCESS).
// `conversation` is true when a conversation (not a bare password) answered
// the stack: then PAM_CONV_ERR is not "needs a conversation".
Failure map_failure(Step step, int status, std::string_view user, bool conversation);

}  // namespace rsm::pam
