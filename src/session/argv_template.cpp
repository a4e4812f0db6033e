#include "session/argv_template.hpp"

#include <stdexcept>
#include <string_view>

namespace rsm::session {
namespace {

// The letters after '%' that mean something (see the header).
constexpr std::string_view placeholder_letters = "dDwhgbasuiop%";

std::optional<std::string> check_argument(std::size_t index, const std::string& arg) {
    const std::string name = "argument " + std::to_string(index);
    if (arg.find('\0') != std::string::npos)
        return name + ": contains a NUL byte";
    if (index == 0 && arg.empty())
        return name + ": the program is empty";
    const std::string where = name + " \"" + arg + "\": ";
    for (std::size_t i = 0; i < arg.size(); ++i) {
        if (arg[i] != '%')
            continue;
        if (i + 1 == arg.size())
            return where + "'%' at the end (write %% for a literal '%')";
        const char letter = arg[++i];
        if (placeholder_letters.find(letter) == std::string_view::npos)
            return where + "unknown placeholder %" + letter;
        if (index == 0 && letter != '%')
            return where + "the program may not contain placeholders";
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> validate_template(const std::vector<std::string>& argv) {
    for (std::size_t i = 0; i < argv.size(); ++i) {
        if (auto error = check_argument(i, argv[i]))
            return error;
    }
    return std::nullopt;
}

std::vector<std::string> expand_template(const std::vector<std::string>& argv, const TemplateValues& values) {
    if (auto error = validate_template(argv))
        throw std::invalid_argument("display server template: " + *error);

    std::vector<std::string> out;
    out.reserve(argv.size());
    for (const std::string& arg : argv) {
        std::string expanded;
        for (std::size_t i = 0; i < arg.size(); ++i) {
            if (arg[i] != '%') {
                expanded += arg[i];
                continue;
            }
            // validate_template() guarantees a known letter follows.
            switch (arg[++i]) {
            case 'd': expanded += std::to_string(values.display); break;
            case 'D': expanded += ':' + std::to_string(values.display); break;
            case 'w': expanded += std::to_string(values.width); break;
            case 'h': expanded += std::to_string(values.height); break;
            case 'g': expanded += std::to_string(values.width) + 'x' + std::to_string(values.height); break;
            case 'b': expanded += std::to_string(values.depth); break;
            case 'a': expanded += values.xauthority; break;
            case 's': expanded += values.display_socket; break;
            case 'u': expanded += values.user; break;
            case 'i': expanded += values.session_id; break;
            case 'o': expanded += values.nx_options_file; break;
            case 'p': expanded += std::to_string(values.port); break;
            default: expanded += '%'; break;  // "%%"
            }
        }
        out.push_back(std::move(expanded));
    }
    return out;
}

}  // namespace rsm::session
