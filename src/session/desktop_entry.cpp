#include "session/desktop_entry.hpp"

#include <glib.h>
#include <memory>
#include <stdexcept>

#include "util/handles.hpp"

namespace rsm::session {
namespace {

using KeyFilePtr = std::unique_ptr<GKeyFile, Deleter<g_key_file_unref>>;
using ErrorPtr = std::unique_ptr<GError, Deleter<g_error_free>>;
using StrvPtr = std::unique_ptr<gchar*, Deleter<g_strfreev>>;
using CharPtr = std::unique_ptr<gchar, Deleter<g_free>>;

constexpr const char* group = G_KEY_FILE_DESKTOP_GROUP;

// Reads one desktop entry file and answers its questions; every problem is a
// std::runtime_error naming the file.
class EntryFile {
public:
    explicit EntryFile(std::string path) : path_{std::move(path)}, file_{g_key_file_new()} {}

    // false if the file does not exist.
    bool load() {
        GError* raw = nullptr;
        if (g_key_file_load_from_file(file_.get(), path_.c_str(), G_KEY_FILE_NONE, &raw))
            return true;
        const ErrorPtr error{raw};
        if (g_error_matches(error.get(), G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return false;
        fail(error->message);
    }

    [[noreturn]] void fail(const std::string& message) const {
        throw std::runtime_error(path_ + ": " + message);
    }

    bool has_group() const { return g_key_file_has_group(file_.get(), group); }

    std::optional<std::string> string(const char* key) const {
        GError* raw = nullptr;
        const CharPtr value{g_key_file_get_string(file_.get(), group, key, &raw)};
        check_absent_only(raw, key);
        if (!value)
            return std::nullopt;
        return std::string{value.get()};
    }

    // false when absent.
    bool boolean(const char* key) const {
        GError* raw = nullptr;
        const gboolean value = g_key_file_get_boolean(file_.get(), group, key, &raw);
        check_absent_only(raw, key);
        return value != FALSE;
    }

    std::vector<std::string> string_list(const char* key) const {
        GError* raw = nullptr;
        const StrvPtr values{g_key_file_get_string_list(file_.get(), group, key, nullptr, &raw)};
        check_absent_only(raw, key);
        std::vector<std::string> out;
        for (gchar** v = values.get(); v && *v; ++v)
            out.emplace_back(*v);
        return out;
    }

private:
    // Takes `raw`; fails unless it is null or says the key is missing.
    void check_absent_only(GError* raw, const char* key) const {
        const ErrorPtr error{raw};
        if (error && !g_error_matches(error.get(), G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND))
            fail(std::string{key} + "=: " + error->message);
    }

    std::string path_;
    KeyFilePtr file_;
};

bool program_available(const std::string& program) {
    // Handles absolute paths too: they must name an executable.
    const CharPtr found{g_find_program_in_path(program.c_str())};
    return found != nullptr;
}

// Exec= as argv: shell-word split, field codes refused, "%%" unescaped.
std::vector<std::string> exec_argv(const EntryFile& entry, const std::string& exec) {
    gint argc = 0;
    gchar** raw_argv = nullptr;
    GError* raw_error = nullptr;
    const bool ok = g_shell_parse_argv(exec.c_str(), &argc, &raw_argv, &raw_error);
    const StrvPtr parsed{raw_argv};
    const ErrorPtr error{raw_error};
    if (!ok)
        entry.fail("Exec=: " + std::string{error->message});

    std::vector<std::string> argv;
    for (gchar** word = parsed.get(); *word; ++word) {
        const std::string_view in{*word};
        std::string arg;
        for (std::size_t i = 0; i < in.size(); ++i) {
            if (in[i] != '%') {
                arg += in[i];
            } else if (i + 1 < in.size() && in[i + 1] == '%') {
                arg += '%';
                ++i;
            } else if (i + 1 < in.size()) {
                entry.fail("Exec=: field code %" + std::string(1, in[i + 1]) +
                           " is not supported in a session entry");
            } else {
                entry.fail("Exec=: '%' at the end of an argument (write %% for a literal '%')");
            }
        }
        argv.push_back(std::move(arg));
    }
    return argv;
}

std::string join(const std::vector<std::string>& parts, char separator) {
    std::string out;
    for (const auto& part : parts) {
        if (!out.empty())
            out += separator;
        out += part;
    }
    return out;
}

bool is_wayland_dir(std::string_view dir) {
    while (dir.size() > 1 && dir.back() == '/')
        dir.remove_suffix(1);
    const auto slash = dir.rfind('/');
    return dir.substr(slash == std::string_view::npos ? 0 : slash + 1) == "wayland-sessions";
}

}  // namespace

bool valid_desktop_name(const std::string& name) noexcept {
    if (name.empty() || name.size() > 255)
        return false;
    for (const char c : name) {
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

std::optional<DesktopSession> find_desktop_session(const std::string& name, const std::vector<std::string>& dirs) {
    if (!valid_desktop_name(name))
        throw std::invalid_argument("invalid desktop session name \"" + name + "\"");

    for (const std::string& dir : dirs) {
        EntryFile entry{dir + '/' + name + ".desktop"};
        if (!entry.load())
            continue;
        // From here on this file decides.
        if (!entry.has_group())
            entry.fail("no [Desktop Entry] group");
        if (entry.boolean("Hidden") || entry.boolean("NoDisplay"))
            return std::nullopt;
        if (const auto try_exec = entry.string("TryExec"); try_exec && !program_available(*try_exec))
            return std::nullopt;

        const auto exec = entry.string("Exec");
        if (!exec || exec->empty())
            entry.fail("no Exec=");
        DesktopSession session;
        session.name = name;
        session.display_name = entry.string("Name").value_or(name);
        session.argv = exec_argv(entry, *exec);
        session.desktop_names = join(entry.string_list("DesktopNames"), ':');
        session.wayland = is_wayland_dir(dir);
        return session;
    }
    return std::nullopt;
}

}  // namespace rsm::session
