// Executor1.Login: who the user is and whether they may have a desktop.
//
// The order matters (docs/design-notes.md, "Logins run in rsm-session"):
//   password, conversation   pam_authenticate first; rsm's access rules
//                            (access_policy.hpp) only once it succeeded,
//                            then pam_acct_mgmt. A refusal by the rules is
//                            answered exactly like a wrong password (same
//                            error, same text; the manager pads the timing)
//                            and its reason goes only to the journal: no
//                            password oracle and no account enumeration.
//   account                  the uid is known (peer credentials, or the
//                            manager starting a new session for a connection
//                            that already logged in): the rules first, with
//                            LoginDenied naming the reason, then
//                            pam_acct_mgmt. Only purpose "peer-credentials"
//                            needs access.allow_peer_credentials.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "access/access_policy.hpp"
#include "access/system_accounts.hpp"
#include "bus/connection.hpp"
#include "bus/error.hpp"
#include "bus/names.hpp"
#include "executor.hpp"
#include "login_conversation.hpp"
#include "protocol/login_request.hpp"
#include "pam/pam_error.hpp"
#include "protocol/validate.hpp"
#include "util/log.hpp"
#include "util/secret_string.hpp"

namespace rsm::session {
namespace {

using bus::BusError;
namespace err = names::error;

constexpr std::uint64_t default_conversation_timeout_usec = 120ULL * 1000 * 1000;

using Purpose = protocol::LoginPurpose;

// Login's items (a{sv}); see dbus/org.rsm.Executor1.xml.
struct Items {
    std::string service;
    std::string rhost;
    std::string gateway;
    std::uint64_t conversation_timeout_usec = default_conversation_timeout_usec;
    std::optional<std::uint32_t> uid;  // "account" mode: the peer's uid
    std::optional<Purpose> purpose;    // "account" mode only; absent means peer_credentials
    config::Access access;             // rsm's access rules, applied here (NSS runs here, not in the manager)
};

// Free text that ends up in PAM items and logs: printable ASCII, bounded.
bool valid_text_item(std::string_view s) {
    if (s.empty() || s.size() > 255) return false;
    for (char c : s)
        if (c < 0x21 || c > 0x7e) return false;
    return true;
}

std::string read_variant_string(sd_bus_message* m, const std::string& key) {
    if (sd_bus_message_enter_container(m, 'v', "s") <= 0)
        throw BusError(err::invalid_argument, "Item '" + key + "' must be a string");
    std::string v = bus::read_string(m);
    bus::check(sd_bus_message_exit_container(m), "exit variant");
    if (!valid_text_item(v))
        throw BusError(err::invalid_argument, "Item '" + key + "' must be 1-255 printable ASCII characters");
    return v;
}

bool read_variant_bool(sd_bus_message* m, const std::string& key) {
    int b = 0;
    if (sd_bus_message_enter_container(m, 'v', "b") <= 0 || sd_bus_message_read_basic(m, 'b', &b) <= 0)
        throw BusError(err::invalid_argument, "Item '" + key + "' must be a boolean (b)");
    bus::check(sd_bus_message_exit_container(m), "exit variant");
    return b != 0;
}

std::vector<std::string> read_variant_names(sd_bus_message* m, const std::string& key) {
    if (sd_bus_message_enter_container(m, 'v', "as") <= 0)
        throw BusError(err::invalid_argument, "Item '" + key + "' must be a string array");
    char** raw = nullptr;
    if (sd_bus_message_read_strv(m, &raw) < 0) throw BusError(err::invalid_argument, "Item '" + key + "' unreadable");
    std::vector<std::string> out;
    for (char** p = raw; p && *p; ++p) {
        out.emplace_back(*p);
        free(*p);
    }
    free(raw);
    bus::check(sd_bus_message_exit_container(m), "exit variant");
    // User and group names from rsm.toml, already validated by the config
    // loader; group names are the more liberal rule and cover both.
    for (const auto& n : out)
        if (auto e = protocol::validate_group_name(n))
            throw BusError(err::invalid_argument, "Item '" + key + "': " + *e);
    return out;
}

Purpose read_purpose(sd_bus_message* m) {
    const std::string v = read_variant_string(m, "purpose");
    if (auto p = protocol::login_purpose_from_string(v)) return *p;
    throw BusError(err::invalid_argument, "Item 'purpose' must be \"peer-credentials\" or \"session\"");
}

Items read_items(sd_bus_message* m) {
    Items items;
    if (sd_bus_message_enter_container(m, 'a', "{sv}") <= 0)
        throw BusError(err::invalid_argument, "expected items a{sv}");
    int r;
    while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
        const std::string key = bus::read_string(m);
        config::Access& a = items.access;
        if (key == "service") {
            items.service = read_variant_string(m, key);
        } else if (key == "rhost") {
            items.rhost = read_variant_string(m, key);
        } else if (key == "gateway") {
            items.gateway = read_variant_string(m, key);
        } else if (key == "conversation_timeout_usec") {
            if (sd_bus_message_enter_container(m, 'v', "t") <= 0 ||
                sd_bus_message_read_basic(m, 't', &items.conversation_timeout_usec) <= 0)
                throw BusError(err::invalid_argument, "Item '" + key + "' must be a uint64 (t)");
            bus::check(sd_bus_message_exit_container(m), "exit variant");
            if (items.conversation_timeout_usec == 0) items.conversation_timeout_usec = default_conversation_timeout_usec;
        } else if (key == "uid") {
            std::uint32_t uid = 0;
            if (sd_bus_message_enter_container(m, 'v', "u") <= 0 || sd_bus_message_read_basic(m, 'u', &uid) <= 0)
                throw BusError(err::invalid_argument, "Item 'uid' must be a uint32 (u)");
            bus::check(sd_bus_message_exit_container(m), "exit variant");
            items.uid = uid;
        } else if (key == "purpose") {
            items.purpose = read_purpose(m);
        } else if (key == "allow_root") {
            a.allow_root = read_variant_bool(m, key);
        } else if (key == "allowed_users") {
            a.allowed_users = read_variant_names(m, key);
        } else if (key == "denied_users") {
            a.denied_users = read_variant_names(m, key);
        } else if (key == "allowed_groups") {
            a.allowed_groups = read_variant_names(m, key);
        } else if (key == "denied_groups") {
            a.denied_groups = read_variant_names(m, key);
        } else if (key == "allow_peer_credentials") {
            a.allow_peer_credentials = read_variant_bool(m, key);
        } else if (key == "peer_credential_groups") {
            a.peer_credential_groups = read_variant_names(m, key);
        } else if (key == "allow_system_accounts") {
            a.allow_system_accounts = read_variant_bool(m, key);
        } else if (key == "allow_any_shell") {
            a.allow_any_shell = read_variant_bool(m, key);
        } else {
            throw BusError(err::invalid_argument, "Unknown item '" + key + "'");
        }
        bus::check(sd_bus_message_exit_container(m), "exit dict entry");
    }
    bus::check(r, "read items");
    bus::check(sd_bus_message_exit_container(m), "exit items");
    if (items.service.empty()) throw BusError(err::invalid_argument, "Item 'service' is required");
    if (!protocol::valid_service_name(items.service))
        throw BusError(err::invalid_argument, "Invalid PAM service name '" + items.service + "'");
    return items;
}

// A refusal of an "account"-mode login: the caller knows the uid, so the
// reason is no secret (LoginDenied naming it).
BusError denied(const std::string& why, const log::Fields& fields) {
    auto logged = fields;
    logged.push_back({"RSM_ERROR", why});
    logged.push_back({"RSM_REASON", why});
    log::notice("Login refused by access rules: " + why, logged);
    return BusError(err::login_denied, why);
}

// A refusal after a successful pam_authenticate (password, conversation):
// the reply is the very one a wrong password gets (name and text from the
// same map_failure); only the journal learns the reason.
BusError refused_like_wrong_password(const std::string& user, bool conversing, const std::string& why,
                                     const log::Fields& fields) {
    const pam::Failure f = pam::map_failure(pam::Step::authenticate, PAM_AUTH_ERR, user, conversing);
    auto logged = fields;
    logged.push_back({"RSM_ERROR", why});
    logged.push_back({"RSM_REASON", why});
    logged.push_back({"RSM_ERROR_NAME", f.name});
    log::notice("Login of user '" + user + "' refused by access rules after authentication: " + why, logged);
    return BusError(f.name, f.message);
}

access::SystemAccounts system_accounts(const log::Fields& fields) {
    try {
        return access::read_system_accounts();
    } catch (const std::system_error& e) {
        auto logged = fields;
        logged.push_back({"RSM_ERROR", e.what()});
        log::error("Cannot read the system's account settings", logged);
        throw BusError(err::failed, std::string("cannot read the system's account settings: ") + e.what());
    }
}

}  // namespace

int Executor::method_login(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept {
    return bus::reply_errors(error, [&] { return static_cast<Executor*>(userdata)->login(m); });
}

int Executor::login(sd_bus_message* m) {
    // The call carries the password. Login is SD_BUS_VTABLE_SENSITIVE
    // (executor.cpp's vtable), so sd-bus marked it sensitive before calling
    // us: its buffers are erased when it is freed. Every copy made here is
    // a util::SecretString.

    // Read.
    const std::string mode_name = bus::read_string(m);
    std::string user = bus::read_string(m);
    util::SecretString password{bus::read_string(m)};
    const Items items = read_items(m);

    // Validate.
    if (login_called_) throw BusError(err::failed, "executor already serves a login");
    login_called_ = true;
    const auto mode = protocol::login_mode_from_string(mode_name);
    if (!mode) throw BusError(err::invalid_argument, "Unknown login mode '" + mode_name + "'");
    const bool by_account = *mode == protocol::LoginMode::account;
    // The account as NSS knows it (nullopt for an unknown name).
    std::optional<access::UserInfo> known;
    if (by_account) {
        // The manager knows the uid; the name is ours to find.
        if (!items.uid || !user.empty())
            throw BusError(err::invalid_argument, "Mode 'account' takes item 'uid' and an empty user");
        known = access::lookup_user(static_cast<uid_t>(*items.uid));
        if (!known)
            throw BusError(err::no_such_user, "uid " + std::to_string(*items.uid) + " has no passwd entry");
        user = known->name;
    } else if (items.uid || items.purpose) {
        throw BusError(err::invalid_argument, "Items 'uid' and 'purpose' are only for mode 'account'");
    }
    if (auto e = protocol::validate_user_name(user)) throw BusError(err::invalid_argument, "user: " + *e);
    if (auto e = protocol::validate_password(password.view()))
        throw BusError(err::invalid_argument, "password: " + *e);
    if (*mode != protocol::LoginMode::password && !password.empty())
        throw BusError(err::invalid_argument, std::string("A password makes no sense in mode '") + mode_name + "'");
    const Purpose purpose = items.purpose.value_or(Purpose::peer_credentials);

    log::Fields fields{{"RSM_USER", user},
                       {"RSM_PAM_SERVICE", items.service},
                       {"RSM_LOGIN_MODE", mode_name}};
    if (by_account)
        fields.push_back({"RSM_LOGIN_PURPOSE", protocol::to_string(purpose)});
    // PAM_RHOST as the manager set it: a trusted gateway's client address,
    // else the placeholder 127.0.0.1, which is not a client address.
    if (!items.rhost.empty()) fields.push_back({"RSM_PAM_RHOST", items.rhost});
    if (!items.gateway.empty()) fields.push_back({"RSM_GATEWAY", items.gateway});
    const access::SystemAccounts system = system_accounts(fields);
    const bool conversing = *mode == protocol::LoginMode::conversation;

    // The rules, for the account finally logged in (`name`): LoginDenied for
    // an account-mode login, a wrong password's reply for the others.
    auto authorize = [&](const std::string& name) -> access::UserInfo {
        auto account = access::lookup_user(name);
        std::optional<std::string> why;
        if (!account)
            why = "authenticated user '" + name + "' has no passwd entry";
        else if (by_account && purpose == Purpose::peer_credentials)
            why = access::check_peer_credentials_allowed(items.access, *account);
        if (!why && account) why = access::check_login_allowed(items.access, *account, system);
        if (why) throw by_account ? denied(*why, fields) : refused_like_wrong_password(user, conversing, *why, fields);
        return *account;
    };

    // Authorize (account mode): the uid is no secret to the caller.
    std::optional<access::UserInfo> authorized;
    if (by_account) authorized = authorize(user);

    // Act: run the stack. The conversation lives for this call only; the
    // handle forgets it before it is kept.
    LoginConversation conv{*mode, std::move(password), sd_bus_message_get_bus(m), items.conversation_timeout_usec};
    auto failed = [&](pam::Step step, int status) {
        pam::Failure f = pam::map_failure(step, status, user, conversing);
        if (conv.failure()) {
            std::string detail = std::move(f.detail);
            f = *conv.failure();
            f.detail = std::move(detail);
        }
        auto logged = fields;
        logged.push_back({"RSM_PAM_STEP", pam::to_string(step)});
        logged.push_back({"RSM_ERROR", f.detail});
        logged.push_back({"RSM_ERROR_NAME", f.name});
        log::notice("Login of user '" + user + "' failed at pam_" + pam::to_string(step) + ": " + f.detail, logged);
        return BusError(f.name, f.message);
    };
    // PAM_USER as the stack left it, checked like the name we gave it (a
    // module may map names, but never to garbage).
    auto pam_user = [&](pam::Handle& h) {
        std::string name = h.user();
        if (name.empty()) name = user;
        if (protocol::validate_user_name(name)) throw failed(pam::Step::authenticate, PAM_USER_UNKNOWN);
        return name;
    };

    std::optional<pam::Handle> h;
    try {
        h.emplace(items.service, user, [&conv](const std::vector<pam::Prompt>& round) { return conv(round); });
    } catch (const std::runtime_error& e) {
        auto logged = fields;
        logged.push_back({"RSM_ERROR", e.what()});
        log::error("Cannot start PAM", logged);
        throw BusError(err::failed, e.what());
    }
    // No sleeping in modules after a failure: the manager pads every failed
    // reply to one fixed delay, whatever failed.
    if (int r = h->disable_fail_delay(); r != PAM_SUCCESS) throw failed(pam::Step::start, r);
    if (!items.rhost.empty())
        if (int r = h->set_item(PAM_RHOST, items.rhost); r != PAM_SUCCESS) throw failed(pam::Step::start, r);

    if (!by_account) {
        // A remote login never gets in on an empty password.
        if (int r = h->authenticate(PAM_DISALLOW_NULL_AUTHTOK); r != PAM_SUCCESS)
            throw failed(pam::Step::authenticate, r);
        // Authorize, only now that the password was right (see the top).
        authorized = authorize(pam_user(*h));
    }
    if (int r = h->acct_mgmt(); r != PAM_SUCCESS) {
        if (r != PAM_NEW_AUTHTOK_REQD || !conversing) throw failed(pam::Step::acct_mgmt, r);
        log::info("Password of user '" + user + "' expired, asking for a new one", fields);
        if (int c = h->chauthtok_expired(); c != PAM_SUCCESS) throw failed(pam::Step::chauthtok, c);
    }
    // A module may have mapped the name (PAM_USER) since: the rules apply to
    // the account really logged in.
    const std::string canonical = pam_user(*h);
    const access::UserInfo account = canonical == authorized->name ? *authorized : authorize(canonical);
    h->set_conversation(nullptr);
    pam_ = std::move(h);
    uid_ = static_cast<std::uint32_t>(account.uid);
    user_ = canonical;

    // Reply.
    fields.push_back({"RSM_UID", std::to_string(account.uid)});
    log::info("Login of user '" + canonical + "' succeeded", fields);
    sd_bus_message* raw = nullptr;
    bus::check(sd_bus_message_new_method_return(m, &raw), "sd_bus_message_new_method_return");
    MessagePtr reply{raw};
    bus::check(sd_bus_message_append(reply.get(), "us", static_cast<std::uint32_t>(account.uid), canonical.c_str()),
               "append reply");
    bus::check(sd_bus_message_open_container(reply.get(), 'a', "(us)"), "open a(us)");
    for (const auto& p : conv.messages())
        bus::check(sd_bus_message_append(reply.get(), "(us)", static_cast<std::uint32_t>(p.style), p.text.c_str()),
                   "append message");
    bus::check(sd_bus_message_close_container(reply.get()), "close a(us)");
    return sd_bus_send(nullptr, reply.get(), nullptr);
}

}  // namespace rsm::session
