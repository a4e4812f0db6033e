#include "session/companion.hpp"

#include <algorithm>
#include <stdexcept>
#include <sys/un.h>

namespace rsm::session {

namespace {

constexpr std::size_t max_companions = 8;

int append_strv(sd_bus_message* m, const std::vector<std::string>& v) {
    int r = sd_bus_message_open_container(m, 'a', "s");
    for (std::size_t i = 0; r >= 0 && i < v.size(); ++i) r = sd_bus_message_append(m, "s", v[i].c_str());
    if (r >= 0) r = sd_bus_message_close_container(m);
    return r;
}

std::vector<std::string> read_strv(sd_bus_message* m) {
    if (sd_bus_message_enter_container(m, 'a', "s") <= 0) throw std::invalid_argument("expected as");
    std::vector<std::string> v;
    const char* s = nullptr;
    int r;
    while ((r = sd_bus_message_read(m, "s", &s)) > 0) {
        if (v.size() >= 256) throw std::invalid_argument("too many strings");
        v.emplace_back(s);
    }
    if (r < 0 || sd_bus_message_exit_container(m) < 0) throw std::invalid_argument("malformed as");
    return v;
}

bool valid_name(const std::string& n) {
    return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
}

bool valid_env_entry(const std::string& e) {
    const auto eq = e.find('=');
    if (eq == std::string::npos || eq == 0) return false;
    return std::all_of(e.begin(), e.begin() + static_cast<std::ptrdiff_t>(eq), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
}

}  // namespace

int append_companions_entry(sd_bus_message* m, const std::vector<CompanionCommand>& companions) {
    int r = sd_bus_message_open_container(m, 'e', "sv");
    if (r >= 0) r = sd_bus_message_append(m, "s", "companions");
    if (r >= 0) r = sd_bus_message_open_container(m, 'v', companions_signature);
    if (r >= 0) r = sd_bus_message_open_container(m, 'a', "(sasasst)");
    for (std::size_t i = 0; r >= 0 && i < companions.size(); ++i) {
        const auto& c = companions[i];
        r = sd_bus_message_open_container(m, 'r', "sasasst");
        if (r >= 0) r = sd_bus_message_append(m, "s", c.name.c_str());
        if (r >= 0) r = append_strv(m, c.argv);
        if (r >= 0) r = append_strv(m, c.environment);
        if (r >= 0) r = sd_bus_message_append(m, "st", c.ready_socket.c_str(), c.ready_timeout_usec);
        if (r >= 0) r = sd_bus_message_close_container(m);
    }
    if (r >= 0) r = sd_bus_message_close_container(m);
    if (r >= 0) r = sd_bus_message_close_container(m);
    if (r >= 0) r = sd_bus_message_close_container(m);
    return r;
}

std::vector<CompanionCommand> read_companions_variant(sd_bus_message* m) {
    if (sd_bus_message_enter_container(m, 'v', companions_signature) <= 0)
        throw std::invalid_argument(std::string("expected ") + companions_signature);
    if (sd_bus_message_enter_container(m, 'a', "(sasasst)") <= 0) throw std::invalid_argument("expected an array");
    std::vector<CompanionCommand> out;
    int r;
    while ((r = sd_bus_message_enter_container(m, 'r', "sasasst")) > 0) {
        if (out.size() >= max_companions) throw std::invalid_argument("more than 8 companions");
        CompanionCommand c;
        const char* s = nullptr;
        if (sd_bus_message_read(m, "s", &s) < 0) throw std::invalid_argument("malformed companion");
        c.name = s;
        c.argv = read_strv(m);
        c.environment = read_strv(m);
        std::uint64_t t = 0;
        if (sd_bus_message_read(m, "st", &s, &t) < 0) throw std::invalid_argument("malformed companion");
        c.ready_socket = s;
        c.ready_timeout_usec = t;
        if (sd_bus_message_exit_container(m) < 0) throw std::invalid_argument("malformed companion");
        if (!valid_name(c.name)) throw std::invalid_argument("invalid companion name");
        if (c.argv.empty() || c.argv.front().empty())
            throw std::invalid_argument("companion " + c.name + ": empty argv");
        for (const auto& e : c.environment)
            if (!valid_env_entry(e)) throw std::invalid_argument("companion " + c.name + ": environment entry not NAME=value");
        if (!c.ready_socket.empty() &&
            (c.ready_socket.front() != '/' || c.ready_socket.size() >= sizeof(sockaddr_un::sun_path)))
            throw std::invalid_argument("companion " + c.name + ": ready_socket must be an absolute path that fits sockaddr_un");
        if (c.ready_timeout_usec > 600'000'000ULL)
            throw std::invalid_argument("companion " + c.name + ": ready_timeout_usec above 600 s");
        out.push_back(std::move(c));
    }
    if (r < 0 || sd_bus_message_exit_container(m) < 0 || sd_bus_message_exit_container(m) < 0)
        throw std::invalid_argument("malformed companions");
    return out;
}

std::vector<std::string> merge_environment(std::vector<std::string> base, const std::vector<std::string>& extra) {
    for (const auto& e : extra) {
        const auto eq = e.find('=');
        const std::string name = e.substr(0, eq + 1);  // "NAME="
        auto it = std::find_if(base.begin(), base.end(), [&](const std::string& b) { return b.starts_with(name); });
        if (it != base.end())
            *it = e;
        else
            base.push_back(e);
    }
    return base;
}

}  // namespace rsm::session
