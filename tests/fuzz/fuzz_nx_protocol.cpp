// Fuzz target: rsm-nxserver's wire format (daemons/rsm-nxserver/nx_protocol.*),
// which reads what any NX client sends before it has logged in.
//
// Input: byte 0 sets the size of the pieces the stream arrives in (1-64
// bytes); the rest is the stream, cut into lines by LineReader and each line
// taken apart as a command with parameters and a hello version. Checked: no
// line is longer than max_line, nothing is buffered beyond max_line plus a
// piece, a line never holds '\n', a parsed command word has no blank, an
// unquoted value has no control character, a hello version is compatible
// with itself, and a reply is one line ending in '\n'.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "nx_protocol.hpp"

namespace nx = rsm::nx;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::size_t piece = 1 + (data[0] & 63);
    std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
    nx::LineReader reader;
    while (!rest.empty()) {
        const auto chunk = rest.substr(0, piece);
        rest.remove_prefix(chunk.size());
        if (!reader.feed(chunk)) {
            FUZZ_CHECK(reader.overflowed() && reader.buffered() == 0);
            break;
        }
        FUZZ_CHECK(reader.buffered() <= nx::max_line + piece + rest.size() + chunk.size());
        while (auto line = reader.next()) {
            FUZZ_CHECK(line->size() <= nx::max_line);
            FUZZ_CHECK(line->find('\n') == std::string::npos);
            const auto cmd = nx::split_command(*line);
            if (!cmd) continue;
            FUZZ_CHECK(!cmd->word.empty());
            FUZZ_CHECK(cmd->word.find(' ') == std::string::npos && cmd->word.find('\t') == std::string::npos);
            if (auto params = nx::parse_parameters(cmd->args))
                for (const auto& [name, value] : *params) {
                    FUZZ_CHECK(!name.empty());
                    FUZZ_CHECK(value.find('"') == std::string::npos);
                    if (auto v = nx::unquote(value))
                        FUZZ_CHECK(std::none_of(v->begin(), v->end(),
                                                [](char c) { return static_cast<unsigned char>(c) < 0x20; }));
                }
            if (auto v = nx::hello_version(cmd->args)) FUZZ_CHECK(nx::version_compatible(*v, *v));
            const std::string r = nx::reply(500, *line);
            FUZZ_CHECK(r.back() == '\n' || line->empty());
            FUZZ_CHECK(std::count(r.begin(), r.end(), '\n') <= 1);
        }
    }
    return 0;
}
