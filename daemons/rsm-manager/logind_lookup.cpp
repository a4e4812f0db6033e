#include "logind_lookup.hpp"

#include <cstring>
#include <string_view>
#include <system_error>


namespace rsm::manager {
namespace {

constexpr const char* logind_service = "org.freedesktop.login1";

}  // namespace

LogindLeaderLookup::LogindLeaderLookup(sd_bus* system_bus, pid_t leader, uid_t uid,
                                       std::function<void(std::string id)> found)
    : bus_{system_bus}, leader_{leader}, uid_{uid}, found_{std::move(found)} {
    sd_bus_slot* slot = nullptr;
    const int r = sd_bus_call_method_async(bus_, &slot, logind_service, "/org/freedesktop/login1",
                                           "org.freedesktop.login1.Manager", "GetSessionByPID",
                                           &LogindLeaderLookup::on_session, this, "u", static_cast<uint32_t>(leader));
    if (r < 0) throw std::system_error(-r, std::generic_category(), "GetSessionByPID");
    call_.reset(slot);
}

void LogindLeaderLookup::finish(std::string id) {
    call_.reset();
    if (auto found = std::move(found_)) found(std::move(id));  // may destroy *this
}

int LogindLeaderLookup::on_session(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* self = static_cast<LogindLeaderLookup*>(userdata);
    const char* path = nullptr;
    if (sd_bus_message_is_method_error(m, nullptr) || sd_bus_message_read(m, "o", &path) < 0 || !path) {
        self->finish({});
        return 0;
    }
    sd_bus_slot* slot = nullptr;
    if (sd_bus_call_method_async(self->bus_, &slot, logind_service, path, "org.freedesktop.DBus.Properties", "GetAll",
                                 &LogindLeaderLookup::on_properties, self, "s", "org.freedesktop.login1.Session") < 0) {
        self->finish({});
        return 0;
    }
    self->call_.reset(slot);
    return 0;
}

int LogindLeaderLookup::on_properties(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* self = static_cast<LogindLeaderLookup*>(userdata);
    std::string id;
    uint32_t leader = 0, user = UINT32_MAX;
    bool ok = !sd_bus_message_is_method_error(m, nullptr) && sd_bus_message_enter_container(m, 'a', "{sv}") > 0;
    while (ok && sd_bus_message_enter_container(m, 'e', "sv") > 0) {
        const char* name = nullptr;
        ok = sd_bus_message_read(m, "s", &name) >= 0 && name;
        if (!ok) break;
        const std::string_view n{name};
        if (n == "Id") {
            const char* v = nullptr;
            ok = sd_bus_message_read(m, "v", "s", &v) >= 0 && v;
            if (ok) id = v;
        } else if (n == "Leader") {
            ok = sd_bus_message_read(m, "v", "u", &leader) >= 0;
        } else if (n == "User") {
            const char* object = nullptr;
            ok = sd_bus_message_read(m, "v", "(uo)", &user, &object) >= 0;
        } else {
            ok = sd_bus_message_skip(m, "v") >= 0;
        }
        if (ok) ok = sd_bus_message_exit_container(m) >= 0;
    }
    const bool ours = ok && !id.empty() && leader == static_cast<uint32_t>(self->leader_) &&
                      user == static_cast<uint32_t>(self->uid_);
    self->finish(ours ? id : std::string{});
    return 0;
}

}  // namespace rsm::manager
