#include "dialogue.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>

#include "util/ascii.hpp"

namespace rsm::nx {
namespace {

constexpr const char* session_type = "unix-desktop";  // what NX clients call a full desktop
constexpr std::size_t max_echo = 256;

// Neatx echoes `line.lstrip().capitalize()` (Python: first letter upper,
// the rest lower). Control characters become ' ' and the echo is bounded:
// the client reads "NX> " at a line start as a reply.
std::string echo(std::string_view line) {
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    std::string out;
    for (char c : line.substr(0, max_echo)) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        out.push_back(c);
    }
    if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') out[0] = static_cast<char>(out[0] - 'a' + 'A');
    return out + "\n";
}

std::string printable(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 64)) out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c);
    return out;
}

bool valid_user(std::string_view u) {
    if (u.empty() || u.size() > 64 || u.starts_with("NX>")) return false;
    for (char c : u)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == ':' || c == '/') return false;
    return true;
}

bool valid_session_id(std::string_view id) {
    if (id.size() != 32) return false;
    for (char c : id)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

// The first "WxH" of an NX geometry ("1024x768", "1024x768+0+0",
// "1280x1024x24+render"); false for anything else or sizes out of range.
bool parse_geometry(std::string_view g, unsigned& w, unsigned& h) {
    const char* end = g.data() + g.size();
    auto r = std::from_chars(g.data(), end, w);
    if (r.ec != std::errc{} || r.ptr == end || *r.ptr != 'x') return false;
    const char* p = r.ptr + 1;
    r = std::from_chars(p, end, h);
    if (r.ec != std::errc{} || r.ptr == p) return false;
    return w >= 64 && h >= 64 && w <= 8192 && h <= 8192;
}

const std::string* find(const Parameters& ps, std::string_view name) {
    for (const auto& [n, v] : ps)
        if (n == name) return &v;
    return nullptr;
}

// "a,B,,c" -> {"a", "b", "c"}: a quoted list parameter's words, lower case.
std::vector<std::string> words(std::string_view rest) {
    std::vector<std::string> out;
    while (!rest.empty()) {
        const auto comma = rest.find(',');
        std::string word = util::ascii_lower(rest.substr(0, comma));
        if (!word.empty()) out.push_back(std::move(word));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
    return out;
}

std::string status_text(std::string_view rsm_state) {
    if (rsm_state == "active") return "Running";
    if (rsm_state == "disconnected") return "Suspended";
    std::string s{printable(rsm_state)};
    if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
    return s;
}

// One row of Neatx's table (utils.FormatTable): columns joined by ' ',
// left-aligned to their width except Depth (right), the last unpadded.
std::string table_row(const std::array<std::string, 8>& cells) {
    static constexpr std::array<int, 7> widths{7, 16, 32, 8, -5, 14, 11};
    std::string out;
    for (std::size_t i = 0; i < widths.size(); ++i) {
        const std::size_t w = static_cast<std::size_t>(widths[i] < 0 ? -widths[i] : widths[i]);
        const std::string& c = cells[i];
        const std::string pad(c.size() < w ? w - c.size() : 0, ' ');
        out += widths[i] < 0 ? pad + c : c + pad;
        out += ' ';
    }
    return out + cells[7] + "\n";
}

}  // namespace

std::string Dialogue::greeting() const {
    return std::string{"HELLO NXSERVER - Version "} + server_version + " - GPL\n" + reply(105, {}, false);
}

Output Dialogue::prompt(Output out) const {
    if (!out.quit && state_ != State::waiting && state_ != State::user_prompt && state_ != State::password_prompt &&
        state_ != State::parameters_prompt)
        out.text += reply(105, {}, false);
    return out;
}

Output Dialogue::error(int code, std::string_view message, bool fatal) {
    Output out;
    out.text = reply(code, message);
    if (fatal) {
        out.text += reply(999, "Bye.");
        out.quit = true;
        state_ = State::done;
    }
    return prompt(std::move(out));
}

Output Dialogue::on_line(std::string_view line) {
    Output out;
    switch (state_) {
    case State::done:
    case State::waiting: return out;
    case State::user_prompt: {
        if (!valid_user(line)) {
            out.text = reply(500, "ERROR: Username is not in the expected format.") + reply(999, "Bye.");
            out.quit = true;
            state_ = State::done;
            return out;
        }
        user_ = std::string{line};
        state_ = State::password_prompt;
        out.text = user_ + "\n" + reply(102, "Password: ", false);
        return out;
    }
    case State::password_prompt: {
        // Never written back: a line of stars, as Neatx does.
        out.text = "**********\n";
        if (line.empty()) {
            out.text += reply(500, "ERROR: an empty password is not accepted.") + reply(999, "Bye.");
            out.quit = true;
            state_ = State::done;
            return out;
        }
        state_ = State::waiting;
        pending_ = RequestKind::login;
        out.request.kind = RequestKind::login;
        out.request.user = user_;
        out.request.password = std::string{line};
        return out;
    }
    case State::parameters_prompt: {
        // Neatx ends the prompt's line once the answer came.
        state_ = State::logged_in;
        CommandLine c = std::move(asked_);
        c.args = std::string{line};
        out = after_login(c, false);
        out.text = "\n" + out.text;
        return out;
    }
    case State::greeting:
    case State::logged_in: break;
    }
    const auto c = split_command(line);
    if (!c) return prompt(std::move(out));  // blank lines are ignored
    return logged_in_ ? after_login(*c) : before_login(*c);
}

Output Dialogue::before_login(const CommandLine& c) {
    Output out;
    if (c.command != Command::set) out.text = echo(c.word + (c.args.empty() ? "" : " " + c.args));
    switch (c.command) {
    case Command::hello: {
        const auto v = hello_version(c.args);
        if (!v || !version_compatible(*v, server_version)) {
            // Neatx: 500, not 552, "otherwise client ignores this error".
            auto e = error(500, "Protocol you requested is not supported, please upgrade your client to latest version",
                           true);
            e.text = out.text + e.text;
            return e;
        }
        out.text += reply(134, "Accepted protocol: " + *v);
        return prompt(std::move(out));
    }
    case Command::login:
        state_ = State::user_prompt;
        out.text += reply(101, "User: ", false);
        return out;
    case Command::set: {
        // "set auth_mode password", "set shell_mode shell": the only values
        // NoMachine's clients send and Neatx accepts.
        const std::size_t sp = c.args.find(' ');
        const std::string var = util::ascii_lower(c.args.substr(0, sp));
        const std::string value = sp == std::string::npos ? "" : util::ascii_lower(c.args.substr(c.args.find_first_not_of(' ', sp)));
        out.text = "Set " + printable(var) + ": " + printable(value) + "\n";
        std::string bad;
        if (var.empty()) bad = "ERROR: missing parameter 'variable'";
        else if (var == "auth_mode" && value != "password") bad = "ERROR: unknown auth mode '" + printable(value) + "'";
        else if (var == "shell_mode" && value != "shell") bad = "ERROR: unknown shell mode '" + printable(value) + "'";
        else if (var != "auth_mode" && var != "shell_mode") bad = "ERROR: unknown variable '" + printable(var) + "'";
        if (!bad.empty()) out.text += reply(500, bad);
        return prompt(std::move(out));
    }
    case Command::quit:
        out.text += reply(999, "Bye.");
        out.quit = true;
        state_ = State::done;
        return out;
    case Command::bye:
    case Command::listsession:
    case Command::startsession:
    case Command::attachsession:
    case Command::restoresession:
    case Command::terminate:
        out.text += reply(554, "Error: the command '" + c.word + "' cannot be called before to login");
        return prompt(std::move(out));
    case Command::unknown: break;
    }
    out.text += reply(503, "Error: undefined command: '" + printable(c.word) + "'");
    return prompt(std::move(out));
}

Output Dialogue::after_login(const CommandLine& c, bool confirm) {
    Output out;
    if (confirm)
        out.text = c.command == Command::startsession ? "Start session with: " + printable(c.args) + "\n"
                                                      : echo(c.word + (c.args.empty() ? "" : " " + c.args));
    // Neatx's _GetParameters: these commands ask for their parameters when
    // sent without.
    const bool asks = c.command == Command::listsession || c.command == Command::startsession ||
                      c.command == Command::restoresession || c.command == Command::attachsession;
    const bool refused = have_session_ && c.command != Command::listsession;  // answered below without asking
    if (asks && !refused && confirm && c.args.find_first_not_of(" \t") == std::string::npos) {
        asked_ = c;
        state_ = State::parameters_prompt;
        out.text += reply(106, "Parameters: ", false);
        return out;
    }
    auto fail = [&](int code, std::string_view message) {
        out.text += reply(code, message);
        return prompt(std::move(out));
    };
    auto bad_parameters = [&] {
        return fail(597, "Error: Parsing parameters: string \"" + printable(c.args) + "\" has invalid format");
    };
    std::optional<Parameters> params;
    switch (c.command) {
    case Command::listsession:
    case Command::startsession:
    case Command::restoresession:
    case Command::attachsession:
    case Command::terminate:
        params = parse_parameters(c.args);
        if (!params) return bad_parameters();
        break;
    default: break;
    }
    switch (c.command) {
    case Command::hello:
    case Command::login:
    case Command::set:
        return fail(554, "Error: the command '" + c.word + "' cannot be called after login");
    case Command::bye:
    case Command::quit:
        out.text += reply(999, "Bye.");
        out.quit = true;
        out.relay = have_session_ && c.command == Command::bye;
        state_ = State::done;
        return out;
    case Command::listsession: {
        // --user is ignored, as by Neatx and NoMachine's server: a user
        // lists their own sessions only.
        list_statuses_.clear();
        list_types_.clear();
        for (auto [name, filter] : {std::pair{"status", &list_statuses_}, std::pair{"type", &list_types_}}) {
            const auto* given = find(*params, name);
            if (!given) continue;
            const auto value = unquote(*given);
            if (!value) return bad_parameters();
            *filter = words(*value);
        }
        state_ = State::waiting;
        pending_ = out.request.kind = RequestKind::list;
        return out;
    }
    case Command::startsession: {
        if (have_session_) return fail(500, "Error: a session is ready already: send bye to connect to it");
        unsigned w = settings_.default_width, h = settings_.default_height;
        if (const auto* g = find(*params, "geometry")) {
            const auto value = unquote(*g);
            unsigned gw = 0, gh = 0;
            if (value && parse_geometry(*value, gw, gh)) w = gw, h = gh;
        }
        state_ = State::waiting;
        pending_ = out.request.kind = RequestKind::start;
        out.request.width = w;
        out.request.height = h;
        return out;
    }
    case Command::restoresession: {
        if (have_session_) return fail(500, "Error: a session is ready already: send bye to connect to it");
        const auto* id = find(*params, "id");
        if (!id) return fail(500, "Restore session requested, but no session specified");
        const std::string sid = util::ascii_lower(*id);
        if (!valid_session_id(sid)) return fail(500, "Failed to load session");
        state_ = State::waiting;
        pending_ = out.request.kind = RequestKind::restore;
        out.request.session_id = sid;
        return out;
    }
    case Command::terminate: {
        const auto* id = find(*params, "sessionid");
        if (!id) return fail(500, "Error: terminate needs --sessionid");
        const std::string sid = util::ascii_lower(*id);
        if (!valid_session_id(sid)) return fail(500, "Error: no such session: '" + printable(*id) + "'");
        state_ = State::waiting;
        pending_ = out.request.kind = RequestKind::terminate;
        out.request.session_id = sid;
        return out;
    }
    case Command::attachsession: {
        // Shadowing (docs/nx.md): rsm asks the session's owner when the
        // session is someone else's.
        if (have_session_) return fail(500, "Error: a session is ready already: send bye to connect to it");
        const auto* id = find(*params, "id");
        if (!id) return fail(500, "Shadow session requested, but no session specified");
        const std::string sid = util::ascii_lower(*id);
        if (!valid_session_id(sid)) return fail(500, "Failed to load session");
        state_ = State::waiting;
        pending_ = out.request.kind = RequestKind::shadow;
        out.request.session_id = sid;
        return out;
    }
    case Command::unknown: break;
    }
    return fail(503, "Error: undefined command: '" + printable(c.word) + "'");
}

Output Dialogue::on_login(LoginResult result) {
    Output out;
    if (pending_ != RequestKind::login) return out;
    pending_ = RequestKind::none;
    if (result != LoginResult::ok) {
        // Neatx ends quietly after these (no 999).
        out.text = result == LoginResult::refused ? reply(404, "ERROR: wrong password or login.")
                                                  : reply(503, "ERROR: Internal error.");
        out.quit = true;
        state_ = State::done;
        return out;
    }
    logged_in_ = true;
    state_ = State::logged_in;
    out.text = reply(103, "Welcome to: " + printable(settings_.host_name) + " user: " + user_);
    return prompt(std::move(out));
}

Output Dialogue::on_list(const std::vector<SessionRow>& sessions) {
    Output out;
    if (pending_ != RequestKind::list) return out;
    pending_ = RequestKind::none;
    state_ = State::logged_in;
    out.text = session_table(user_, sessions, list_statuses_, list_types_);
    return prompt(std::move(out));
}

Output Dialogue::on_session(const SessionInfo& info) {
    Output out;
    if (pending_ != RequestKind::start && pending_ != RequestKind::restore && pending_ != RequestKind::shadow)
        return out;
    pending_ = RequestKind::none;
    state_ = State::logged_in;
    have_session_ = true;
    out.text = session_info(info) + reply(710, "Session status: running");
    return prompt(std::move(out));
}

Output Dialogue::on_failure(std::string_view message) {
    Output out;
    if (pending_ == RequestKind::none || pending_ == RequestKind::login) return out;
    pending_ = RequestKind::none;
    state_ = State::logged_in;
    out.text = reply(500, message);
    return prompt(std::move(out));
}

Output Dialogue::on_terminated(std::string_view session_id) {
    Output out;
    if (pending_ != RequestKind::terminate) return out;
    pending_ = RequestKind::none;
    state_ = State::logged_in;
    out.text = reply(716, "Terminating session " + printable(session_id) + " on user request.");
    return prompt(std::move(out));
}

std::string Dialogue::session_table(std::string_view user, const std::vector<SessionRow>& sessions,
                                    const std::vector<std::string>& statuses,
                                    const std::vector<std::string>& types) {
    // Neatx: a list for shadowing shows the running sessions. rsm starts
    // the configured desktop whatever unix-* type a client asks for
    // (unix-gnome, unix-kde, unix-desktop...), so any of them lists the
    // desktops; other types (windows, vnc, unix-application) none.
    const bool for_shadow = !types.empty() && types.front() == "shadow";
    const bool desktops = types.empty() || for_shadow ||
                          std::any_of(types.begin(), types.end(), [](const std::string& t) {
                              return t.starts_with("unix-") && t != "unix-application" && t != "unix-console";
                          });
    std::string out = reply(127, "Session list of user '" + printable(user) + "':");
    out += table_row({"Display", "Type", "Session ID", "Options", "Depth", "Screen", "Status", "Session Name"});
    out += table_row({std::string(7, '-'), std::string(16, '-'), std::string(32, '-'), std::string(8, '-'),
                      std::string(5, '-'), std::string(14, '-'), std::string(11, '-'), std::string(30, '-')});
    for (const auto& s : sessions) {
        if (s.type != "nxagent") continue;
        const std::string status = status_text(s.state);
        if (!desktops || (for_shadow && status != "Running")) continue;
        if (!for_shadow && !statuses.empty() &&
            std::find(statuses.begin(), statuses.end(), util::ascii_lower(status)) == statuses.end())
            continue;
        out += table_row({std::to_string(s.display), session_type, printable(s.id), "--D--PSA", std::to_string(s.depth),
                          std::to_string(s.width) + "x" + std::to_string(s.height), status, "rsm"});
    }
    out += "\n";
    out += reply(148, "Server capacity: not reached for user: " + printable(user));
    return out;
}

std::string Dialogue::session_info(const SessionInfo& info) {
    const std::string display = std::to_string(info.display);
    return reply(700, "Session id: " + printable(info.id)) + reply(705, "Session display: " + display) +
           reply(703, std::string{"Session type: "} + (info.shadow ? "shadow" : session_type)) + reply(701, "Proxy cookie: " + printable(info.cookie)) +
           reply(706, "Agent cookie: " + printable(info.cookie)) +
           reply(704, std::string{"Session cache: "} + session_type) +
           reply(728, "Session caption: NX - " + printable(info.id)) + reply(707, "SSL tunneling: 1") +
           reply(708, "Subscription: GPL");
}

}  // namespace rsm::nx
