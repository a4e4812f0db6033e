// Which existing session a new request reconnects to (xrdp's Policy= letters).
//
//   U  same user (always implied, whatever the policy)
//   B  same colour depth (bits per pixel)
//   D  same initial geometry (width x height)
//   I  same client address (both known: a request or session without an
//      address never matches on I)
//   C  never reconnect: every request gets a new session (xrdp's "separate")
// "Default" means "UB". Letters may come in any order, each at most once; C
// stands alone. Sessions always match on display type too.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "session/record.hpp"

namespace rsm::session {

struct ReconnectPolicy {
    bool depth = false;
    bool geometry = false;
    bool client_address = false;
    bool never = false;

    // Throws std::invalid_argument with a message saying which letter is wrong
    // (the reason only, e.g. "letter 'B' given twice"; callers add context).
    static ReconnectPolicy parse(std::string_view text);
    std::string to_string() const;  // canonical letters, e.g. "UBD"
};

// What the gateway asked for.
struct SessionRequest {
    uint32_t uid = 0;
    std::string type;
    uint32_t width = 0, height = 0, depth = 0;
    std::string client_address;
};

// The session to reconnect to, or nullopt for a new one. Candidates must be
// complete (ready), active or disconnected (not starting, not closing), same
// uid and type, and match the policy's keys; null pointers are skipped. Disconnected sessions are preferred over active ones; among equals, the
// most recently disconnected (then the most recently created, then the
// smallest id, so the choice never depends on the candidates' order) wins.
std::optional<std::string> choose_session(const std::vector<const Record*>& candidates,
                                          const SessionRequest& request, const ReconnectPolicy& policy);

}  // namespace rsm::session
