// One session as the registry holds it (SessionRegistry::Entry): its record,
// the live link to its executor, and what is in flight for it: the scope
// being created, CreateSession calls waiting for it, the sweep at its end.
// Private to the registry's files (session_*.cpp), with the helpers they share.
#pragma once

#include <cstdint>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "executor_link.hpp"
#include "session/record.hpp"
#include "session_registry.hpp"
#include "session_sweep.hpp"
#include "start_deadline.hpp"
#include "systemd_scope.hpp"
#include "util/handles.hpp"
#include "util/log.hpp"

namespace rsm::manager {

struct SessionRegistry::Entry {
    session::Record record;
    std::unique_ptr<ExecutorLink> link;
    std::unique_ptr<ScopeStarter::Pending> scope_job;
    // CreateSession calls answered when the session is ready (or failed).
    std::vector<MessagePtr> waiting;
    // Set when the start failed: the reason given to late waiters.
    std::string failure;
    StartSessionParams params;
    // The bound of the step the start waits for (start_deadline.hpp); off
    // once the session is ready, failed or ending.
    std::unique_ptr<StartDeadline> start_deadline;
    // The end: the session's processes being swept (sweep()).
    std::unique_ptr<SessionSweeper::Sweep> sweep;
    // Display numbers of this session's shadowing nxagents (session_shadow.cpp),
    // reserved until the executor says each is gone or the session is buried.
    std::vector<unsigned> shadow_displays;
    bool shadow_asking = false;  // a Shadow call is out (one at a time per session)
};

// The name of a session's executor link in systemd's fd store.
std::string executor_fd_name(const std::string& id);

// Answers `call` (ConnectSession, ShadowSession) with the executor's reply
// (a{sh} fds, a{sv} details) as it is. Returns sd-bus's result.
int pass_reply_on(sd_bus_message* call, sd_bus_message* executor_reply);

// The journal fields that name a session.
log::Fields session_fields(const session::Record& r);

// Copies the record fields the executor owns from `from` into `into`;
// returns the record-file KEYs of those that differed.
std::vector<std::string> merge_from_executor(session::Record& into, const session::Record& from);

inline uint64_t usec(std::chrono::seconds s) { return static_cast<uint64_t>(s.count()) * 1'000'000u; }

}  // namespace rsm::manager
