#include "executor.hpp"

#include <cerrno>
#include <string>
#include <unistd.h>
#include <vector>

#include "access/access_policy.hpp"
#include "bus/connection.hpp"
#include "bus/error.hpp"
#include "bus/names.hpp"
#include "login_conversation.hpp"
#include "pam/login_request.hpp"
#include "pam/pam_error.hpp"
#include "protocol/validate.hpp"
#include "util/log.hpp"

namespace rsm::session {
namespace {

using bus::BusError;
namespace err = names::error;

constexpr std::uint64_t default_conversation_timeout_usec = 120ULL * 1000 * 1000;

// Login's items (a{sv}); see dbus/org.rsm.Executor1.xml.
struct Items {
    std::string service;
    std::string rhost;
    std::string gateway;
    std::uint64_t conversation_timeout_usec = default_conversation_timeout_usec;
    std::optional<std::uint32_t> uid;  // "account" mode: the peer's uid
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

Items read_items(sd_bus_message* m) {
    Items items;
    if (sd_bus_message_enter_container(m, 'a', "{sv}") <= 0)
        throw BusError(err::invalid_argument, "expected items a{sv}");
    int r;
    while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
        const std::string key = bus::read_string(m);
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
        } else if (key == "allow_root") {
            int b = 0;
            if (sd_bus_message_enter_container(m, 'v', "b") <= 0 || sd_bus_message_read_basic(m, 'b', &b) <= 0)
                throw BusError(err::invalid_argument, "Item 'allow_root' must be a boolean (b)");
            bus::check(sd_bus_message_exit_container(m), "exit variant");
            items.access.allow_root = b;
        } else if (key == "allowed_users") {
            items.access.allowed_users = read_variant_names(m, key);
        } else if (key == "denied_users") {
            items.access.denied_users = read_variant_names(m, key);
        } else if (key == "allowed_groups") {
            items.access.allowed_groups = read_variant_names(m, key);
        } else if (key == "denied_groups") {
            items.access.denied_groups = read_variant_names(m, key);
        } else {
            throw BusError(err::invalid_argument, "Unknown item '" + key + "'");
        }
        bus::check(sd_bus_message_exit_container(m), "exit dict entry");
    }
    bus::check(r, "read items");
    bus::check(sd_bus_message_exit_container(m), "exit items");
    if (items.service.empty()) throw BusError(err::invalid_argument, "Item 'service' is required");
    if (!pam::valid_service_name(items.service))
        throw BusError(err::invalid_argument, "Invalid PAM service name '" + items.service + "'");
    return items;
}

// Throws LoginDenied when rsm's [access] rules refuse `user`.
void enforce_access(const config::Access& rules, const access::UserInfo& user, const log::Fields& fields) {
    if (auto why = access::check_login_allowed(rules, user)) {
        auto logged = fields;
        logged.push_back({"RSM_ERROR", *why});
        log::notice("Login refused by access rules: " + *why, logged);
        throw BusError(err::login_denied, *why);
    }
}

// Wipes the password argument's copy however Login ends.
struct WipeString {
    std::string& s;
    ~WipeString() { pam::wipe(s); }
};

}  // namespace

Executor::Executor(sd_bus* bus) : bus_{bus} {
    sd_bus_slot* slot = nullptr;
    bus::check(sd_bus_add_object_vtable(bus_, &slot, names::executor_path, names::executor_interface, vtable_, this),
               "sd_bus_add_object_vtable");
    slot_.reset(slot);
}

int Executor::method_login(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept {
    return bus::reply_errors(error, [&] { return static_cast<Executor*>(userdata)->login(m); });
}

int Executor::login(sd_bus_message* m) {
    // Read.
    const std::string mode_name = bus::read_string(m);
    std::string user = bus::read_string(m);
    std::string password = bus::read_string(m);
    WipeString wipe_password{password};
    const Items items = read_items(m);

    // Validate.
    if (login_called_) throw BusError(err::failed, "executor already serves a login");
    login_called_ = true;
    const auto mode = pam::login_mode_from_string(mode_name);
    if (!mode) throw BusError(err::invalid_argument, "Unknown login mode '" + mode_name + "'");
    // The account as NSS knows it (nullopt for an unknown name).
    std::optional<access::UserInfo> known;
    if (*mode == pam::LoginMode::account) {
        // Peer-credential login: the manager knows the uid; the name is ours to find.
        if (!items.uid || !user.empty())
            throw BusError(err::invalid_argument, "Mode 'account' takes item 'uid' and an empty user");
        known = access::lookup_user(static_cast<uid_t>(*items.uid));
        if (!known)
            throw BusError(err::no_such_user, "uid " + std::to_string(*items.uid) + " has no passwd entry");
        user = known->name;
    } else if (items.uid) {
        throw BusError(err::invalid_argument, "Item 'uid' is only for mode 'account'");
    }
    if (auto e = protocol::validate_user_name(user)) throw BusError(err::invalid_argument, "user: " + *e);
    if (auto e = protocol::validate_password(password)) throw BusError(err::invalid_argument, "password: " + *e);
    if (*mode != pam::LoginMode::password && !password.empty())
        throw BusError(err::invalid_argument, std::string("A password makes no sense in mode '") + mode_name + "'");

    log::Fields fields{{"RSM_USER", user},
                       {"RSM_PAM_SERVICE", items.service},
                       {"RSM_LOGIN_MODE", mode_name}};
    if (!items.rhost.empty()) fields.push_back({"RSM_CLIENT_ADDRESS", items.rhost});
    if (!items.gateway.empty()) fields.push_back({"RSM_GATEWAY", items.gateway});

    // Authorize: rsm's own rules before PAM, so a refused user's password
    // is never checked (no oracle). An unknown user goes on to PAM and fails
    // there exactly like a wrong password (no enumeration).
    if (!known) known = access::lookup_user(user);
    if (known) enforce_access(items.access, *known, fields);

    // Act: run the stack. The conversation lives for this call only; the
    // handle forgets it before it is kept.
    LoginConversation conv{*mode, std::move(password), bus_, items.conversation_timeout_usec};
    const bool conversing = *mode == pam::LoginMode::conversation;
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

    std::optional<pam::Handle> h;
    try {
        h.emplace(items.service, user, [&conv](const std::vector<pam::Prompt>& round) { return conv(round); });
    } catch (const std::runtime_error& e) {
        auto logged = fields;
        logged.push_back({"RSM_ERROR", e.what()});
        log::error("Cannot start PAM", logged);
        throw BusError(err::failed, e.what());
    }
    if (!items.rhost.empty())
        if (int r = h->set_item(PAM_RHOST, items.rhost); r != PAM_SUCCESS) throw failed(pam::Step::start, r);

    if (*mode != pam::LoginMode::account) {
        // A remote login never gets in on an empty password.
        if (int r = h->authenticate(PAM_DISALLOW_NULL_AUTHTOK); r != PAM_SUCCESS)
            throw failed(pam::Step::authenticate, r);
    }
    if (int r = h->acct_mgmt(); r != PAM_SUCCESS) {
        if (r != PAM_NEW_AUTHTOK_REQD || !conversing) throw failed(pam::Step::acct_mgmt, r);
        log::info("Password of user '" + user + "' expired, asking for a new one", fields);
        if (int c = h->chauthtok_expired(); c != PAM_SUCCESS) throw failed(pam::Step::chauthtok, c);
    }

    std::string canonical = h->user();
    if (canonical.empty()) canonical = user;
    if (protocol::validate_user_name(canonical))
        throw failed(pam::Step::authenticate, PAM_USER_UNKNOWN);  // a module renamed the user to garbage
    // A module may have mapped the name (PAM_USER): the rules apply to the
    // account really logged in.
    const auto account = access::lookup_user(canonical);
    if (!account) {
        log::error("Authenticated user has no passwd entry", fields);
        throw BusError(err::no_such_user, "User '" + canonical + "' has no passwd entry");
    }
    if (canonical != user) enforce_access(items.access, *account, fields);
    h->set_conversation(nullptr);
    pam_ = std::move(h);

    // Reply.
    fields.push_back({"RSM_UID", std::to_string(account->uid)});
    log::info("Login of user '" + canonical + "' succeeded", fields);
    sd_bus_message* raw = nullptr;
    bus::check(sd_bus_message_new_method_return(m, &raw), "sd_bus_message_new_method_return");
    MessagePtr reply{raw};
    bus::check(sd_bus_message_append(reply.get(), "us", static_cast<std::uint32_t>(account->uid), canonical.c_str()),
               "append reply");
    bus::check(sd_bus_message_open_container(reply.get(), 'a', "(us)"), "open a(us)");
    for (const auto& p : conv.messages())
        bus::check(sd_bus_message_append(reply.get(), "(us)", static_cast<std::uint32_t>(p.style), p.text.c_str()),
                   "append message");
    bus::check(sd_bus_message_close_container(reply.get()), "close a(us)");
    return sd_bus_send(bus_, reply.get(), nullptr);
}

const sd_bus_vtable Executor::vtable_[] = {
    SD_BUS_VTABLE_START(0),
    // SENSITIVE: call and reply are erased from memory when freed (the password).
    SD_BUS_METHOD_WITH_ARGS("Login",
                            SD_BUS_ARGS("s", mode, "s", user, "s", password, "a{sv}", items),
                            SD_BUS_RESULT("u", uid, "s", user, "a(us)", messages),
                            &Executor::method_login, SD_BUS_VTABLE_SENSITIVE),
    SD_BUS_VTABLE_END,
};

}  // namespace rsm::session
