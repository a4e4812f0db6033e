// CreateSession's "companions" (names of [companion.<name>] tables) turned
// into the commands the executor runs (session/companion.hpp).
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"
#include "session/argv_template.hpp"
#include "session/companion.hpp"

namespace rsm::manager {

// Throws BusError(InvalidArgument) for a name the configuration lacks.
void check_companion_names(const config::Companions& config, const std::vector<std::string>& names);

// The enabled companions among `names` (a table with an empty argv is
// disabled and skipped), their templates expanded with `values`, each name
// once. Throws BusError(Failed) if a template does not expand.
std::vector<session::CompanionCommand> expand_companions(const config::Companions& config,
                                                         const std::vector<std::string>& names,
                                                         const session::TemplateValues& values);

}  // namespace rsm::manager
