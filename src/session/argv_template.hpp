// Display-server command lines from templates in rsm.toml, e.g.
//   ["Xvnc", ":%d", "-displayfd", "3", "-auth", "%a", "-geometry", "%g", ...]
// Placeholders (anywhere inside an argument):
//   %d display number   %D ":<n>"   %w width   %h height   %g "<w>x<h>"
//   %b depth            %a Xauthority file      %s display socket path
//   %u user name        %i session id           %% a literal '%'
//   %o nxagent's options file                   %p nxagent's listen port
// Expansion never splits or joins arguments (no shell is involved).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace rsm::session {

struct TemplateValues {
    unsigned display = 0;
    unsigned width = 0, height = 0, depth = 0;
    std::string xauthority;
    std::string display_socket;
    std::string user;
    std::string session_id;
    std::string nx_options_file;  // nxagent only
    unsigned port = 0;            // nxagent only
};

// nullopt if every argument is valid, else a message naming the argument and
// the bad placeholder ("argument 3 \"-x%q\": unknown placeholder %q"). Arguments
// are counted from 0, the program. An empty template (the null type) is
// valid; a template whose program (argv[0]) is empty or contains a
// placeholder (other than %%) is not, nor is a lone '%' at the end of an
// argument or an argument holding a NUL byte.
std::optional<std::string> validate_template(const std::vector<std::string>& argv);

// Throws std::invalid_argument for what validate_template() rejects.
std::vector<std::string> expand_template(const std::vector<std::string>& argv, const TemplateValues& values);

}  // namespace rsm::session
