#include "broker/profiles_ini.hpp"

#include <algorithm>
#include <glib.h>
#include <map>
#include <memory>
#include <vector>

namespace rsm::broker {

namespace {

using KeyFilePtr = std::unique_ptr<GKeyFile, decltype(&g_key_file_unref)>;

std::string_view trim(std::string_view s) { return trim_blanks(s); }
std::string lower(std::string_view s) { return ascii_lower(s); }

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
    gsize n = 0;
    gchar** groups = g_key_file_get_groups(kf.get(), &n);
    std::vector<std::string> names;
    for (gsize i = 0; i < n; ++i) names.emplace_back(groups[i]);
    g_strfreev(groups);
    auto where = [&](int line) { return std::string(source) + ":" + std::to_string(line); };
    std::vector<SourceSection> sections;
    for (const auto& name : names) {
        SourceSection section{name, where(s.index.line_of(name, {})), {}};
        for (const auto& key : keys_of(kf.get(), name.c_str()))
            section.entries.push_back(SourceEntry{key, value_of(kf.get(), name, key), where(s.index.line_of(name, key))});
        sections.push_back(std::move(section));
    }
    return build_profiles(sections);
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
