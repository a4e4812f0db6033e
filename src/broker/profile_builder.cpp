#include "broker/profile_builder.hpp"

#include <algorithm>
#include <charconv>
#include <glib.h>

#include "broker/authkey.hpp"

namespace rsm::broker {

std::string_view trim_blanks(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

namespace {

std::string_view trim(std::string_view s) { return trim_blanks(s); }
std::string lower(std::string_view s) { return ascii_lower(s); }

std::optional<long long> parse_int(std::string_view v) {
    v = trim(v);
    if (!v.empty() && v.front() == '+') v.remove_prefix(1);
    long long n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc{} || end != v.data() + v.size()) return std::nullopt;
    return n;
}

// configparser's getboolean().
std::optional<bool> parse_bool(std::string_view v) {
    const std::string l = lower(trim(v));
    if (l == "1" || l == "yes" || l == "true" || l == "on") return true;
    if (l == "0" || l == "no" || l == "false" || l == "off") return false;
    return std::nullopt;
}

std::vector<std::string> parse_list(std::string_view v) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= v.size()) {
        const std::size_t comma = std::min(v.find(',', start), v.size());
        const std::string_view item = trim(v.substr(start, comma - start));
        if (!item.empty()) out.emplace_back(item);
        start = comma + 1;
    }
    return out;
}

bool valid_host_name(std::string_view s) {
    if (s.empty() || s.size() > 253) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return g_ascii_isalnum(c) || c == '-' || c == '.' || c == '_'; });
}

const SourceEntry* entry_of(const SourceSection* s, std::string_view key) {
    if (!s) return nullptr;
    for (const auto& e : s->entries)
        if (e.key == key) return &e;
    return nullptr;
}

class ProfileBuilder {
public:
    // Applies one key of `section` (the profile's own or [DEFAULT]).
    bool apply(Profile& p, const SourceSection& section, const SourceEntry& e) {
        auto fail = [&](const std::string& why) {
            error = e.where + ": [" + section.id + "] " + e.key + ": " + why;
            return false;
        };
        const std::string& key = e.key;
        const std::string& value = e.value;
        if (trim(value) == "not-set") {
            p.options.erase(key);
            return true;
        }
        if (key == "broker-session-autologin") {
            const auto b = parse_bool(value);
            if (!b) return fail("'" + value + "' is not a boolean (true/false, yes/no, on/off, 1/0)");
            p.autologin = *b;
            return true;
        }
        if (key == "broker-authorized-keys") {
            const std::string path{trim(value)};
            if (!valid_authorized_keys_path(path))
                return fail("'" + path + "' is not a path of [A-Za-z0-9._/-] and %h %u %U %G %%, without '..'");
            p.authorized_keys = path;
            return true;
        }
        if (key == "default" || key.starts_with("broker-")) return true;  // not sent (x2gobroker drops them)
        if (key.starts_with("acl-")) return apply_acl(p.acl, key, value) || fail(acl_error_);
        switch (value_type_of(key)) {
        case ValueType::boolean:
            if (auto b = parse_bool(value)) p.options[key] = ProfileValue::of_bool(*b);
            else return fail("'" + value + "' is not a boolean (true/false, yes/no, on/off, 1/0)");
            break;
        case ValueType::integer:
            if (auto n = parse_int(value)) p.options[key] = ProfileValue::of_int(*n);
            else return fail("'" + value + "' is not an integer");
            break;
        case ValueType::list: p.options[key] = ProfileValue::of_list(parse_list(value)); break;
        case ValueType::text: p.options[key] = ProfileValue::of_text(std::string(trim(value))); break;
        }
        return true;
    }

    // host= and sshport= once every key is in: the hosts' ports depend on sshport.
    bool finish(Profile& p, const SourceSection& section, const SourceSection* defaults) {
        auto fail = [&](const std::string& key, const std::string& why) {
            const SourceEntry* e = entry_of(&section, key);
            if (!e) e = entry_of(defaults, key);
            error = (e ? e->where : section.where) + ": [" + section.id + "] " + key + ": " + why;
            return false;
        };
        // sshport=not-set or host=not-set drop the key: port 22 (as
        // x2gobroker falls back to), no servers (selection says none).
        const auto port = p.options.find("sshport");
        const long long n = port == p.options.end() ? 22 : port->second.integer;
        if (n < 1 || n > 65535) return fail("sshport", "not a TCP port (1-65535)");
        p.sshport = static_cast<std::uint16_t>(n);
        const auto listed = p.options.find("host");
        if (listed == p.options.end()) return true;
        std::vector<std::string> names;
        for (const auto& entry : listed->second.list) {
            auto host = parse_host_entry(entry, p.sshport);
            if (!host) return fail("host", "'" + entry + "' is not 'name' or 'name (address[:port])'");
            names.push_back(host->name);
            p.hosts.push_back(std::move(*host));
        }
        p.options["host"] = ProfileValue::of_list(std::move(names));
        return true;
    }

    std::string error;

private:
    bool apply_acl(Acl& acl, const std::string& key, const std::string& value) {
        std::vector<std::string>* names = key == "acl-users-allow"    ? &acl.users_allow
                                          : key == "acl-users-deny"   ? &acl.users_deny
                                          : key == "acl-groups-allow" ? &acl.groups_allow
                                          : key == "acl-groups-deny"  ? &acl.groups_deny
                                                                      : nullptr;
        if (names) {
            *names = parse_list(value);
            return true;
        }
        std::vector<Network>* nets = key == "acl-clients-allow"  ? &acl.clients_allow
                                     : key == "acl-clients-deny" ? &acl.clients_deny
                                                                 : nullptr;
        if (nets) {
            nets->clear();
            for (const auto& item : parse_list(value)) {
                if (item == "ALL") {
                    nets->push_back(*parse_network("0.0.0.0/0"));
                    nets->push_back(*parse_network("::/0"));
                } else if (auto n = parse_network(item)) {
                    nets->push_back(*n);
                } else {
                    acl_error_ = "'" + item + "' is not an address, a network (CIDR) or ALL";
                    return false;
                }
            }
            return true;
        }
        std::optional<AclOrder>* order = key == "acl-users-order"    ? &acl.users_order
                                         : key == "acl-groups-order" ? &acl.groups_order
                                         : key == "acl-clients-order" ? &acl.clients_order
                                                                       : nullptr;
        const std::string v{trim(value)};
        if (order || key == "acl-any-order") {
            if (v.empty() && order) {
                order->reset();
                return true;
            }
            const auto o = acl_order_from_string(v);
            if (!o) {
                acl_error_ = "'" + v + "' is not deny-allow or allow-deny";
                return false;
            }
            if (order) *order = *o;
            else acl.any_order = *o;
            return true;
        }
        acl_error_ = "unknown ACL key";
        return false;
    }

    std::string acl_error_;
};

}  // namespace

std::optional<Host> parse_host_entry(std::string_view entry, std::uint16_t default_port) {
    entry = trim(entry);
    Host h;
    h.port = default_port;
    const std::size_t open = entry.find(" (");
    if (open == std::string_view::npos) {
        if (!valid_host_name(entry) && !parse_address(entry)) return std::nullopt;
        h.name = h.address = std::string(entry);
        return h;
    }
    if (entry.back() != ')') return std::nullopt;
    h.name = std::string(trim(entry.substr(0, open)));
    std::string_view addr = entry.substr(open + 2, entry.size() - open - 3);
    std::string_view port;
    if (addr.starts_with('[')) {
        const std::size_t close = addr.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        const std::string_view after = addr.substr(close + 1);
        if (!after.empty() && !after.starts_with(':')) return std::nullopt;
        if (!after.empty()) port = after.substr(1);
        addr = addr.substr(1, close - 1);
        if (!parse_address(addr)) return std::nullopt;
    } else if (std::count(addr.begin(), addr.end(), ':') == 1) {
        port = addr.substr(addr.find(':') + 1);
        addr = addr.substr(0, addr.find(':'));
    }
    if (!valid_host_name(h.name) || !(valid_host_name(addr) || parse_address(addr))) return std::nullopt;
    if (!port.empty()) {
        const auto n = parse_int(port);
        if (!n || *n < 1 || *n > 65535) return std::nullopt;
        h.port = static_cast<std::uint16_t>(*n);
    }
    h.address = std::string(addr);
    return h;
}

ProfilesResult build_profiles(const std::vector<SourceSection>& sections) {
    ProfilesResult result;
    const SourceSection* defaults = nullptr;
    for (const auto& s : sections)
        if (s.id == "DEFAULT") defaults = &s;
    ProfileBuilder builder;
    ProfileSet set;
    for (const auto& section : sections) {
        if (&section == defaults) continue;
        Profile p;
        p.id = section.id;
        p.options = builtin_defaults();
        if (defaults)
            for (const auto& e : defaults->entries)
                if (!builder.apply(p, *defaults, e)) return result.error = builder.error, result;
        for (const auto& e : section.entries)
            if (!builder.apply(p, section, e)) return result.error = builder.error, result;
        if (!builder.finish(p, section, defaults)) return result.error = builder.error, result;
        set.profiles.push_back(std::move(p));
    }
    std::sort(set.profiles.begin(), set.profiles.end(), [](const Profile& a, const Profile& b) { return a.id < b.id; });
    result.set = std::move(set);
    return result;
}

ProfilesResult merge_profiles(ProfileSet a, std::string_view a_source, ProfileSet b, std::string_view b_source) {
    ProfilesResult result;
    for (const auto& p : b.profiles)
        if (a.find(p.id)) {
            result.error = std::string(b_source) + ": profile '" + p.id + "' is also defined in " + std::string(a_source);
            return result;
        }
    for (auto& p : b.profiles) a.profiles.push_back(std::move(p));
    std::sort(a.profiles.begin(), a.profiles.end(), [](const Profile& x, const Profile& y) { return x.id < y.id; });
    result.set = std::move(a);
    return result;
}

}  // namespace rsm::broker
