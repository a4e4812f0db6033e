#include "broker/profiles_ini.hpp"

#include <algorithm>
#include <charconv>
#include <glib.h>
#include <map>
#include <memory>
#include <vector>

namespace rsm::broker {

namespace {

using KeyFilePtr = std::unique_ptr<GKeyFile, decltype(&g_key_file_unref)>;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

std::string lower(std::string_view s) {
    std::string out{s};
    for (char& c : out) c = g_ascii_tolower(c);
    return out;
}

// Where each (section, key) is, for error messages: GKeyFile does not say.
struct LineIndex {
    std::map<std::string, int> sections;
    std::map<std::pair<std::string, std::string>, int> keys;
    int line_of(const std::string& section, const std::string& key) const {
        if (auto it = keys.find({section, key}); it != keys.end()) return it->second;
        if (auto it = sections.find(section); it != sections.end()) return it->second;
        return 0;
    }
};

struct Scan {
    std::string normalized;  // what GKeyFile reads: ';' comments made '#'
    LineIndex index;
    std::string error;
};

// Classifies every line as GKeyFile would, so a syntax error names its line.
Scan scan(std::string_view text, std::string_view source) {
    Scan s;
    std::string section;
    int line = 0;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t nl = std::min(text.find('\n', start), text.size());
        std::string_view raw = text.substr(start, nl - start);
        ++line;
        const std::string_view t = trim(raw);
        auto fail = [&](const std::string& why) {
            s.error = std::string(source) + ":" + std::to_string(line) + ": " + why;
        };
        if (t.empty() || t.front() == '#' || t.front() == ';') {
            s.normalized += "#\n";
        } else if (t.front() == '[') {
            if (t.back() != ']' || t.size() < 3) return fail("malformed section header"), s;
            section = std::string(t.substr(1, t.size() - 2));
            if (s.index.sections.contains(section)) return fail("section [" + section + "] given twice"), s;
            s.index.sections[section] = line;
            s.normalized += std::string(t) + "\n";
        } else {
            if (raw.front() == ' ' || raw.front() == '\t')
                return fail("indented line (continuation lines are not supported)"), s;
            const std::size_t eq = t.find('=');
            if (eq == std::string_view::npos || eq == 0)
                return fail("not a [section], key=value line or comment"), s;
            if (section.empty()) return fail("key=value before the first [section]"), s;
            const std::string key = lower(trim(t.substr(0, eq)));
            if (key.find_first_of("[]") != std::string::npos) return fail("invalid key '" + key + "'"), s;
            if (!s.index.keys.emplace(std::pair{section, key}, line).second)
                return fail("[" + section + "] " + key + ": given twice"), s;
            s.normalized += key + "=" + std::string(trim(t.substr(eq + 1))) + "\n";
        }
        if (nl == text.size()) break;
        start = nl + 1;
    }
    return s;
}

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

class ProfileBuilder {
public:
    ProfileBuilder(std::string_view source, const LineIndex& index) : source_{source}, index_{index} {}

    // Applies one key of `section` (the profile's own or [DEFAULT]).
    bool apply(Profile& p, const std::string& section, const std::string& key, const std::string& value) {
        auto fail = [&](const std::string& why) {
            error = std::string(source_) + ":" + std::to_string(index_.line_of(section, key)) + ": [" + section +
                    "] " + key + ": " + why;
            return false;
        };
        if (trim(value) == "not-set") {
            p.options.erase(key);
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
    bool finish(Profile& p) {
        const std::string section = p.id;
        auto fail = [&](const std::string& key, const std::string& why) {
            int line = index_.line_of(section, key);
            if (!index_.keys.contains({section, key})) line = index_.line_of("DEFAULT", key);
            error = std::string(source_) + ":" + std::to_string(line) + ": [" + section + "] " + key + ": " + why;
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

    std::string_view source_;
    const LineIndex& index_;
    std::string acl_error_;
};

std::vector<std::string> keys_of(GKeyFile* kf, const char* group) {
    std::vector<std::string> out;
    gsize n = 0;
    gchar** keys = g_key_file_get_keys(kf, group, &n, nullptr);
    for (gsize i = 0; keys && i < n; ++i) out.emplace_back(keys[i]);
    g_strfreev(keys);
    return out;
}

std::string value_of(GKeyFile* kf, const std::string& group, const std::string& key) {
    gchar* v = g_key_file_get_value(kf, group.c_str(), key.c_str(), nullptr);
    std::string out = v ? v : "";
    g_free(v);
    return out;
}

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

ProfilesResult parse_profiles(std::string_view text, std::string_view source) {
    ProfilesResult result;
    Scan s = scan(text, source);
    if (!s.error.empty()) {
        result.error = std::move(s.error);
        return result;
    }
    KeyFilePtr kf{g_key_file_new(), &g_key_file_unref};
    GError* err = nullptr;
    if (!g_key_file_load_from_data(kf.get(), s.normalized.data(), s.normalized.size(), G_KEY_FILE_NONE, &err)) {
        result.error = std::string(source) + ": " + (err ? err->message : "unreadable");
        if (err) g_error_free(err);
        return result;
    }
    ProfileBuilder builder{source, s.index};
    ProfileSet set;
    gsize n = 0;
    gchar** groups = g_key_file_get_groups(kf.get(), &n);
    std::vector<std::string> names;
    for (gsize i = 0; i < n; ++i) names.emplace_back(groups[i]);
    g_strfreev(groups);
    const std::vector<std::string> default_keys = keys_of(kf.get(), "DEFAULT");
    for (const auto& name : names) {
        if (name == "DEFAULT") continue;
        Profile p;
        p.id = name;
        p.options = builtin_defaults();
        for (const auto& key : default_keys)
            if (!builder.apply(p, "DEFAULT", key, value_of(kf.get(), "DEFAULT", key))) return result.error = builder.error, result;
        for (const auto& key : keys_of(kf.get(), name.c_str()))
            if (!builder.apply(p, name, key, value_of(kf.get(), name, key))) return result.error = builder.error, result;
        if (!builder.finish(p)) return result.error = builder.error, result;
        set.profiles.push_back(std::move(p));
    }
    std::sort(set.profiles.begin(), set.profiles.end(), [](const Profile& a, const Profile& b) { return a.id < b.id; });
    result.set = std::move(set);
    return result;
}

ProfilesResult load_profiles_file(const std::string& path) {
    ProfilesResult result;
    gchar* data = nullptr;
    gsize size = 0;
    GError* err = nullptr;
    if (!g_file_get_contents(path.c_str(), &data, &size, &err)) {
        result.error = path + ": " + (err ? err->message : "unreadable");
        if (err) g_error_free(err);
        return result;
    }
    const std::unique_ptr<gchar, decltype(&g_free)> owned{data, &g_free};
    if (size > 16 * 1024 * 1024) {
        result.error = path + ": larger than 16 MiB";
        return result;
    }
    return parse_profiles(std::string_view(data, size), path);
}

}  // namespace rsm::broker
