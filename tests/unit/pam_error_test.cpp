// Tests src/pam/pam_error.* and src/pam/login_request.*: the pure parts of
// the executor's PAM handling.
#include <catch2/catch.hpp>
#include <security/pam_appl.h>
#include <string>

#include "bus/names.hpp"
#include "protocol/login_request.hpp"
#include "pam/pam_error.hpp"
#include "pam/pam_handle.hpp"

using namespace rsm;
namespace err = rsm::names::error;

TEST_CASE("authentication failures do not tell unknown users from wrong passwords", "[pam]") {
    for (int status : {PAM_AUTH_ERR, PAM_USER_UNKNOWN, PAM_MAXTRIES, PAM_CRED_INSUFFICIENT, PAM_AUTHINFO_UNAVAIL}) {
        for (bool conv : {false, true}) {
            auto f = pam::map_failure(pam::Step::authenticate, status, "alice", conv);
            CHECK(std::string(f.name) == err::authentication_failed);
            CHECK(f.message == "Authentication failed for user 'alice'");
            CHECK(f.detail.find("pam_authenticate: ") == 0);
        }
    }
}

TEST_CASE("account refusals are AccountUnavailable with PAM's reason", "[pam]") {
    for (int status : {PAM_ACCT_EXPIRED, PAM_PERM_DENIED, PAM_AUTHTOK_EXPIRED, PAM_AUTH_ERR, PAM_USER_UNKNOWN}) {
        auto f = pam::map_failure(pam::Step::acct_mgmt, status, "bob", false);
        CHECK(std::string(f.name) == err::account_unavailable);
        CHECK(f.message.find(pam_strerror(nullptr, status)) != std::string::npos);
    }
}

TEST_CASE("expired passwords and conversation errors", "[pam]") {
    CHECK(std::string(pam::map_failure(pam::Step::acct_mgmt, PAM_NEW_AUTHTOK_REQD, "u", false).name) ==
          err::password_expired);
    CHECK(std::string(pam::map_failure(pam::Step::chauthtok, PAM_AUTHTOK_ERR, "u", true).name) ==
          err::password_expired);
    // Password mode: the stack wanted more than a password.
    CHECK(std::string(pam::map_failure(pam::Step::authenticate, PAM_CONV_ERR, "u", false).name) ==
          err::conversation_required);
    // Conversation mode: nothing a client can change by itself.
    CHECK(std::string(pam::map_failure(pam::Step::authenticate, PAM_CONV_ERR, "u", true).name) == err::failed);
}

TEST_CASE("everything else is Failed with the step and PAM's text", "[pam]") {
    auto f = pam::map_failure(pam::Step::open_session, PAM_SESSION_ERR, "carol", false);
    CHECK(std::string(f.name) == err::failed);
    CHECK(f.message.find("open_session") != std::string::npos);
    CHECK(std::string(pam::map_failure(pam::Step::authenticate, PAM_ABORT, "u", false).name) == err::failed);
    CHECK(std::string(pam::map_failure(pam::Step::acct_mgmt, PAM_SYSTEM_ERR, "u", false).name) == err::failed);
}

TEST_CASE("step, mode and purpose string tables round-trip", "[pam]") {
    for (auto s : {pam::Step::start, pam::Step::authenticate, pam::Step::acct_mgmt, pam::Step::chauthtok,
                   pam::Step::setcred, pam::Step::open_session, pam::Step::close_session})
        CHECK(pam::step_from_string(pam::to_string(s)) == s);
    for (auto m : {protocol::LoginMode::password, protocol::LoginMode::conversation, protocol::LoginMode::account})
        CHECK(protocol::login_mode_from_string(protocol::to_string(m)) == m);
    for (auto p : {protocol::LoginPurpose::peer_credentials, protocol::LoginPurpose::session})
        CHECK(protocol::login_purpose_from_string(protocol::to_string(p)) == p);
    CHECK(std::string(protocol::to_string(protocol::LoginPurpose::peer_credentials)) == "peer-credentials");
    CHECK_FALSE(protocol::login_purpose_from_string("Session"));
    CHECK_FALSE(protocol::login_mode_from_string("Password"));
    CHECK_FALSE(protocol::login_mode_from_string(""));
    for (int i : {PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, PAM_ERROR_MSG, PAM_TEXT_INFO})
        CHECK(static_cast<int>(*pam::style_from_int(i)) == i);
    CHECK_FALSE(pam::style_from_int(PAM_BINARY_PROMPT));
}

TEST_CASE("service names", "[pam]") {
    for (const char* ok : {"rsm", "login", "rsm-test_1.d"}) CHECK(protocol::valid_service_name(ok));
    for (const char* bad : {"", ".", "..", "../passwd", ".hidden", "Rsm", "a/b", "a b"})
        CHECK_FALSE(protocol::valid_service_name(bad));
    CHECK(protocol::valid_service_name(std::string(64, 'a')));
    CHECK_FALSE(protocol::valid_service_name(std::string(65, 'a')));
}


TEST_CASE("disable_fail_delay installs a PAM_FAIL_DELAY function", "[pam]") {
    // No module runs: pam_start only reads the stack (/etc/pam.d/other).
    pam::Handle h{"other", "nobody", nullptr};
    const void* before = nullptr;
    REQUIRE(pam_get_item(h.get(), PAM_FAIL_DELAY, &before) == PAM_SUCCESS);
    CHECK(before == nullptr);
    REQUIRE(h.disable_fail_delay() == PAM_SUCCESS);
    const void* after = nullptr;
    REQUIRE(pam_get_item(h.get(), PAM_FAIL_DELAY, &after) == PAM_SUCCESS);
    CHECK(after != nullptr);
}
