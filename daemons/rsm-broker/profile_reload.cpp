#include "profile_reload.hpp"

#include <csignal>
#include <systemd/sd-daemon.h>
#include <system_error>
#include <utility>

#include "profile_sources.hpp"
#include "util/log.hpp"

namespace rsm::broker {

ProfileReload::ProfileReload(sd_event* event, BrokerCore& core, std::string config_path)
    : core_{core}, config_path_{std::move(config_path)} {
    sd_event_source* s = nullptr;
    if (const int r = sd_event_add_signal(event, &s, SIGHUP, &ProfileReload::on_sighup, this); r < 0)
        throw std::system_error(-r, std::generic_category(), "sd_event_add_signal(SIGHUP)");
    signal_.reset(s);
}

int ProfileReload::on_sighup(sd_event_source*, const signalfd_siginfo*, void* self) {
    auto* me = static_cast<ProfileReload*>(self);
    if (me->running_) {
        me->again_ = true;
        return 0;
    }
    me->reload();
    return 0;
}

void ProfileReload::reload() {
    sd_notify(0, "RELOADING=1");
    const auto done = [this](bool ok) {
        running_ = false;
        sd_notify(0, ok ? "READY=1\nSTATUS=Serving X2Go clients" : "READY=1\nSTATUS=Serving X2Go clients (last reload refused)");
        if (std::exchange(again_, false)) reload();
    };
    // Small local files: read on the loop.
    const auto config = load_broker_config(config_path_);
    ProfilesResult profiles = config.config ? load_profiles(*config.config, config_path_) : ProfilesResult{};
    if (!config.config || !profiles.set) {
        log::error("Profile reload refused; the old profiles stay",
                   {{"RSM_ERROR", config.config ? profiles.error : config.error}});
        return done(false);
    }
    running_ = true;
    auto set = std::make_shared<ProfileSet>(std::move(*profiles.set));
    std::vector<std::string> names;
    for (const auto& p : set->profiles)
        for (const auto& h : p.hosts) names.push_back(h.address);
    core_.blocking().run<HostDirectory>(
        [names = std::move(names)] {
            HostDirectory hosts;
            for (const auto& n : names) hosts.add(n);
            return hosts;
        },
        [this, set, done](HostDirectory hosts) {
            const std::size_t count = set->profiles.size();
            core_.replace_profiles(std::move(*set), std::move(hosts));
            log::info("Profiles reloaded", {{"RSM_BROKER_PROFILES", std::to_string(count)}});
            done(true);
        });
}

}  // namespace rsm::broker
