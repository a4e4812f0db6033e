// The PAM conversation of one Login call: answers from the password, or
// rounds sent to the manager's Converse method over the executor link.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <systemd/sd-bus.h>
#include <vector>

#include "protocol/login_request.hpp"
#include "pam/pam_error.hpp"
#include "pam/pam_handle.hpp"
#include "util/secret_string.hpp"

namespace rsm::session {

class LoginConversation {
public:
    // `bus` (the executor link) is used in conversation mode only.
    LoginConversation(protocol::LoginMode mode, util::SecretString password, sd_bus* bus, std::uint64_t timeout_usec);
    ~LoginConversation();
    LoginConversation(const LoginConversation&) = delete;
    LoginConversation& operator=(const LoginConversation&) = delete;

    // One round; the pam::Conversation contract.
    std::optional<pam::Answers> operator()(const std::vector<pam::Prompt>& round);

    // ERROR_MSG/TEXT_INFO rounds not yet shown to anyone: Login returns them.
    const std::vector<pam::Prompt>& messages() const noexcept { return messages_; }
    // Why a round failed, when we know better than the module's status
    // (an unexpected prompt, the gateway timing out): it wins over map_failure.
    const std::optional<pam::Failure>& failure() const noexcept { return failure_; }

private:
    std::optional<pam::Answers> answer_from_password(const std::vector<pam::Prompt>& round);
    std::optional<pam::Answers> ask_manager(const std::vector<pam::Prompt>& round);
    void fail(const char* name, std::string message);

    protocol::LoginMode mode_;
    util::SecretString password_;
    bool password_used_ = false;
    sd_bus* bus_;
    std::uint64_t timeout_usec_;
    std::vector<pam::Prompt> messages_;
    std::optional<pam::Failure> failure_;
};

}  // namespace rsm::session
