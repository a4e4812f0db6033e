// rsmctl: pkttyagent, so that a password can be typed on this terminal (as
// loginctl does): started before calls that may ask, stopped at exit.
#pragma once

#include <sys/types.h>

namespace rsm::ctl {

class PolkitAgent {
public:
    PolkitAgent() = default;
    PolkitAgent(const PolkitAgent&) = delete;
    PolkitAgent& operator=(const PolkitAgent&) = delete;
    ~PolkitAgent() { stop(); }

    // Starts the agent (if installed) and waits, boundedly, until it has
    // registered with polkit. Does nothing if it runs already.
    void start();
    void stop();

private:
    pid_t pid_ = -1;
};

}  // namespace rsm::ctl
