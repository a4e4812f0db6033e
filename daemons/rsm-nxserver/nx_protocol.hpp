// The nxserver dialogue's wire format, as NoMachine 3's nxserver and Neatx
// (lib/protocol.py, lib/app/nxserver_login.py) speak it on the SSH channel
// of the `nx` account: the parts without I/O, for rsm-nxserver's dialogue
// (dialogue.*, docs/nx.md), its unit tests and its libFuzzer target.
//
//   server: "HELLO NXSERVER - Version 3.5.0 - GPL\n", then "NX> 105 " (the
//           prompt, no newline) before every command
//   client: one command a line, e.g. "hello NXCLIENT - Version 3.5.0",
//           "login", "listsession --type=\"unix-gnome\"", "bye"
//   server: echoes the command, then "NX> <code> <message>\n" lines
//
// Commands are case-insensitive words; parameters are --name="value" pairs
// (values %XX-quoted, no '"' inside). Every input is bounded: a line longer
// than max_line is an error, never a buffer that grows.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rsm::nx {

inline constexpr std::size_t max_line = 4096;

enum class Command {
    hello,
    login,
    set,
    listsession,
    startsession,
    attachsession,
    restoresession,
    terminate,
    bye,
    quit,
    unknown,
};
const char* to_string(Command c) noexcept;
Command command_from_string(std::string_view word) noexcept;  // case-insensitive; unknown otherwise

// A command line split on its first run of blanks: the command (lower
// case) and the rest (leading blanks removed). nullopt for a blank line.
struct CommandLine {
    Command command = Command::unknown;
    std::string word;  // as sent, lower-cased (for "undefined command: '...'")
    std::string args;
};
std::optional<CommandLine> split_command(std::string_view line);

// --name="value" pairs, in order. nullopt (code 597) when the text is not
// only such pairs separated by blanks; names are [A-Za-z][A-Za-z0-9_-]*.
using Parameters = std::vector<std::pair<std::string, std::string>>;
std::optional<Parameters> parse_parameters(std::string_view text);

// %XX-decoding of a parameter value; nullopt for a '%' not followed by two
// hex digits, or a decoded control character (NUL, newline...).
std::optional<std::string> unquote(std::string_view value);

// The version in hello's arguments: "NXCLIENT - Version 3.5.0" (any case,
// blanks around '-') -> "3.5.0"; nullopt when the text is anything else.
std::optional<std::string> hello_version(std::string_view args);

// True when the first two numbers of `client` and `server` ("3.5.0",
// "3.5.2-9") are equal: the rule for accepting a client.
bool version_compatible(std::string_view client, std::string_view server) noexcept;

// "NX> <code> <message>\n", or the bare prompt "NX> <code> " without a
// message (105, 101 User:, 102 Password: carry theirs without newline:
// pass newline=false). Control characters in the message become ' '.
std::string reply(int code, std::string_view message = {}, bool newline = true);

// Bytes -> lines ('\n', a trailing '\r' dropped), at most max_line each.
class LineReader {
public:
    // Appends; false when the current line passed max_line (the dialogue
    // then ends with an error: the reader keeps nothing more).
    bool feed(std::string_view data);
    // The next complete line, if any.
    std::optional<std::string> next();
    bool overflowed() const noexcept { return overflow_; }
    std::size_t buffered() const noexcept { return buffer_.size(); }
    // What is buffered and not a line yet (after "bye": the first bytes of
    // the NX transport), emptying the reader.
    std::string take_rest() { return std::exchange(buffer_, {}); }

private:
    std::string buffer_;
    bool overflow_ = false;
};

}  // namespace rsm::nx
