#include "session/record.hpp"

#include <ctime>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <glib.h>
#include <limits>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <variant>

#include "session/session_id.hpp"
#include "util/fd.hpp"

namespace rsm::session {
namespace {

// --- The fields, in file order ------------------------------------------

// What a value in the file means, by the member it fills.
using Member = std::variant<std::string Record::*, uint32_t Record::*, uint64_t Record::*,
                            int Record::*, State Record::*, bool Record::*>;

struct Field {
    std::string_view key;
    Member member;
    bool required = false;
};

const std::array fields = {
    Field{"ID", &Record::id, true},
    Field{"UID", &Record::uid, true},
    Field{"USER", &Record::user, true},
    Field{"TYPE", &Record::type, true},
    Field{"STATE", &Record::state},
    Field{"COMPLETE", &Record::complete},
    Field{"UNIT", &Record::unit},
    Field{"EXECUTOR_PID", &Record::executor_pid},
    Field{"LEADER_PID", &Record::leader_pid},
    Field{"LOGIND_SESSION", &Record::logind_session},
    Field{"DISPLAY", &Record::display},
    Field{"DISPLAY_NUMBER", &Record::display_number},
    Field{"WIDTH", &Record::width},
    Field{"HEIGHT", &Record::height},
    Field{"DEPTH", &Record::depth},
    Field{"DESKTOP", &Record::desktop},
    Field{"CLIENT_ADDRESS", &Record::client_address},
    Field{"CLIENT_NAME", &Record::client_name},
    Field{"CREATED_USEC", &Record::created_usec},
    Field{"CONNECTED_USEC", &Record::connected_usec},
    Field{"DISCONNECTED_USEC", &Record::disconnected_usec},
};

// Records are a few hundred bytes; anything this large is not one.
constexpr std::size_t max_record_size = 64 * 1024;

bool valid_utf8(std::string_view s) noexcept {
    // g_utf8_validate() with an explicit length also refuses embedded NULs.
    return s.empty() || g_utf8_validate(s.data(), static_cast<gssize>(s.size()), nullptr);
}

// Plain decimal digits without sign or leading zeros, at most `max`.
std::optional<uint64_t> parse_decimal(std::string_view s, uint64_t max) noexcept {
    if (s.empty() || (s.size() > 1 && s.front() == '0'))
        return std::nullopt;
    if (!std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    uint64_t value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc{} || end != s.data() + s.size() || value > max)
        return std::nullopt;
    return value;
}

// --- Parsing -------------------------------------------------------------

class Parser {
public:
    Parser(const std::string& origin) : origin_{origin} {}

    [[noreturn]] void fail(std::size_t line, std::string_view key, const std::string& message) const {
        std::string s = origin_;
        if (line > 0)
            s += ':' + std::to_string(line);
        s += ": ";
        if (!key.empty())
            s += std::string{key} + ": ";
        throw RecordError(s + message);
    }

    // Stores `value` in r through `member`, or fails naming line and key.
    void assign(Record& r, const Field& field, std::string_view value, std::size_t line) const {
        const auto number = [&](uint64_t max) {
            auto n = parse_decimal(value, max);
            if (!n)
                fail(line, field.key, "expected a decimal number from 0 to " + std::to_string(max) + ", got \"" +
                                          std::string{value} + "\"");
            return *n;
        };
        std::visit(
            [&](auto member) {
                using T = std::remove_reference_t<decltype(r.*member)>;
                if constexpr (std::is_same_v<T, std::string>) {
                    r.*member = std::string{value};
                } else if constexpr (std::is_same_v<T, uint32_t>) {
                    r.*member = static_cast<uint32_t>(number(std::numeric_limits<uint32_t>::max()));
                } else if constexpr (std::is_same_v<T, uint64_t>) {
                    r.*member = number(std::numeric_limits<uint64_t>::max());
                } else if constexpr (std::is_same_v<T, int>) {
                    // Empty = none (-1).
                    r.*member = value.empty() ? -1 : static_cast<int>(number(std::numeric_limits<int>::max()));
                } else if constexpr (std::is_same_v<T, State>) {
                    const auto state = state_from_string(value);
                    if (!state)
                        fail(line, field.key, "unknown state \"" + std::string{value} + "\"");
                    r.*member = *state;
                } else {
                    static_assert(std::is_same_v<T, bool>);
                    if (value != "0" && value != "1")
                        fail(line, field.key, "expected 0 or 1, got \"" + std::string{value} + "\"");
                    r.*member = value == "1";
                }
            },
            field.member);
    }

private:
    const std::string& origin_;
};

// --- Files -----------------------------------------------------------------

// Unlinks a temporary file unless dismissed.
class TempFile {
public:
    explicit TempFile(std::string path) : path_{std::move(path)} {}
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    ~TempFile() {
        if (!path_.empty())
            ::unlink(path_.c_str());
    }
    void dismiss() noexcept { path_.clear(); }

private:
    std::string path_;
};

[[noreturn]] void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

void write_all(int fd, std::string_view data, const std::string& path) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw_errno("cannot write " + path);
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

// One record file's content, or why it cannot be had.
struct FileContent {
    std::string text;
    std::string error;  // "path: what", empty on success
};

FileContent read_record_file(const std::string& path) {
    const auto error = [&](const std::string& message) { return FileContent{{}, path + ": " + message}; };
    // O_NONBLOCK: a FIFO planted here must not hang the manager.
    UniqueFd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK)};
    if (!fd)
        return error(errno == ELOOP ? "not a regular file" : std::string{"cannot open: "} + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0)
        return error(std::string{"cannot stat: "} + std::strerror(errno));
    if (!S_ISREG(st.st_mode))
        return error("not a regular file");
    FileContent content;
    std::array<char, 4096> buffer{};
    for (;;) {
        const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return error(std::string{"cannot read: "} + std::strerror(errno));
        }
        if (n == 0)
            break;
        content.text.append(buffer.data(), static_cast<std::size_t>(n));
        if (content.text.size() > max_record_size)
            return error("larger than " + std::to_string(max_record_size) + " bytes");
    }
    return content;
}

}  // namespace

const char* to_string(State s) noexcept {
    switch (s) {
    case State::starting: return "starting";
    case State::active: return "active";
    case State::disconnected: return "disconnected";
    case State::closing: return "closing";
    }
    return "unknown";
}

std::optional<State> state_from_string(std::string_view s) noexcept {
    for (const State state : {State::starting, State::active, State::disconnected, State::closing}) {
        if (s == to_string(state))
            return state;
    }
    return std::nullopt;
}

std::string serialize(const Record& r) {
    std::string out;
    for (const Field& field : fields) {
        std::string value = std::visit(
            [&](auto member) -> std::string {
                using T = std::remove_cvref_t<decltype(r.*member)>;
                if constexpr (std::is_same_v<T, std::string>) {
                    const std::string& s = r.*member;
                    if (s.find_first_of(std::string_view{"\n\0", 2}) != std::string::npos)
                        throw std::invalid_argument("record field " + std::string{field.key} +
                                                    ": contains a newline or NUL");
                    if (!valid_utf8(s))
                        throw std::invalid_argument("record field " + std::string{field.key} +
                                                    ": not valid UTF-8");
                    return s;
                } else if constexpr (std::is_same_v<T, int>) {
                    return r.*member < 0 ? std::string{} : std::to_string(r.*member);
                } else if constexpr (std::is_same_v<T, State>) {
                    return to_string(r.*member);
                } else if constexpr (std::is_same_v<T, bool>) {
                    return r.*member ? "1" : "0";
                } else {
                    return std::to_string(r.*member);
                }
            },
            field.member);
        out.append(field.key).append(1, '=').append(value).append(1, '\n');
    }
    return out;
}

Record parse(std::string_view text, const std::string& origin) {
    const Parser parser{origin};
    Record r;
    std::array<std::size_t, fields.size()> seen_at{};  // line of each field, 0 = absent

    std::size_t line_number = 0;
    while (!text.empty()) {
        ++line_number;
        const std::size_t end = text.find('\n');
        const std::string_view line = text.substr(0, end);
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
        if (line.empty())
            continue;

        const std::size_t eq = line.find('=');
        if (eq == std::string_view::npos)
            parser.fail(line_number, "", "expected KEY=value");
        const std::string_view key = line.substr(0, eq);
        const std::string_view value = line.substr(eq + 1);
        if (key.empty())
            parser.fail(line_number, "", "empty key");

        const auto field = std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return f.key == key; });
        if (field == fields.end())
            continue;  // a newer rsm's key
        const auto index = static_cast<std::size_t>(field - fields.begin());
        if (seen_at[index] != 0)
            parser.fail(line_number, key, "given twice (first on line " + std::to_string(seen_at[index]) + ")");
        seen_at[index] = line_number;
        if (!valid_utf8(value))
            parser.fail(line_number, key, "not valid UTF-8");
        parser.assign(r, *field, value, line_number);
    }

    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (fields[i].required && seen_at[i] == 0)
            parser.fail(0, fields[i].key, "missing");
    }
    // Required keys are fields[0..3]: ID, UID, USER, TYPE.
    if (!valid_session_id(r.id))
        parser.fail(seen_at[0], "ID", "not a session id (32 lower-case hex digits): \"" + r.id + "\"");
    if (r.user.empty())
        parser.fail(seen_at[2], "USER", "empty");
    if (r.type.empty())
        parser.fail(seen_at[3], "TYPE", "empty");
    return r;
}

void write_record(const std::string& dir, const Record& r) {
    if (!valid_session_id(r.id))
        throw std::invalid_argument("write_record: not a session id: \"" + r.id + "\"");
    const std::string text = serialize(r);
    const std::string path = dir + '/' + r.id;

    // The temporary name is not a valid id, so load_records() skips leftovers.
    std::string temp_path = dir + "/." + r.id + ".XXXXXX";
    UniqueFd fd{::mkostemp(temp_path.data(), O_CLOEXEC)};
    if (!fd)
        throw_errno("cannot create a temporary file in " + dir);
    TempFile temp{temp_path};
    if (::fchmod(fd.get(), 0644) < 0)
        throw_errno("cannot chmod " + temp_path);
    write_all(fd.get(), text, temp_path);
    if (::close(fd.release()) < 0)
        throw_errno("cannot write " + temp_path);
    if (::rename(temp_path.c_str(), path.c_str()) < 0)
        throw_errno("cannot rename " + temp_path + " to " + path);
    temp.dismiss();
}

void remove_record(const std::string& dir, const std::string& id) {
    if (!valid_session_id(id))
        throw std::invalid_argument("remove_record: not a session id: \"" + id + "\"");
    const std::string path = dir + '/' + id;
    if (::unlink(path.c_str()) < 0 && errno != ENOENT)
        throw_errno("cannot remove " + path);
}

LoadedRecords load_records(const std::string& dir) {
    LoadedRecords result;
    std::error_code ec;
    std::filesystem::directory_iterator it{dir, ec};
    if (ec) {
        if (ec != std::errc::no_such_file_or_directory)
            result.errors.push_back(dir + ": cannot list: " + ec.message());
        return result;
    }
    std::vector<std::string> names;
    for (; it != std::filesystem::directory_iterator{}; it.increment(ec)) {
        if (ec)
            break;
        std::string name = it->path().filename().string();
        if (valid_session_id(name))
            names.push_back(std::move(name));
    }
    if (ec)
        result.errors.push_back(dir + ": cannot list: " + ec.message());
    std::sort(names.begin(), names.end());

    for (const std::string& name : names) {
        const std::string path = dir + '/' + name;
        FileContent content = read_record_file(path);
        if (!content.error.empty()) {
            result.errors.push_back(std::move(content.error));
            continue;
        }
        try {
            Record r = parse(content.text, path);
            if (r.id != name) {
                result.errors.push_back(path + ": ID: \"" + r.id + "\" does not match the file name");
                continue;
            }
            result.records.push_back(std::move(r));
        } catch (const RecordError& e) {
            result.errors.push_back(e.what());
        }
    }
    return result;
}

uint64_t now_realtime_usec() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace rsm::session
