#include "properties.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "bus/dict_reader.hpp"

namespace rsm::ctl {

namespace {

int read_variant(sd_bus_message* m, Value& v) {
    char type = 0;
    const char* contents = nullptr;
    int r = sd_bus_message_peek_type(m, &type, &contents);
    if (r <= 0) return r < 0 ? r : -EBADMSG;
    if (type != 'v') return -EBADMSG;
    r = sd_bus_message_enter_container(m, 'v', contents);
    if (r < 0) return r;
    v.type = contents && std::strlen(contents) == 1 ? contents[0] : 0;
    switch (v.type) {
    case 's':
    case 'o':
    case 'g': {
        const char* s = nullptr;
        r = sd_bus_message_read_basic(m, v.type, &s);
        if (r >= 0) v.s = s;
        break;
    }
    case 'y': {
        uint8_t x = 0;
        r = sd_bus_message_read_basic(m, 'y', &x);
        v.u = x;
        break;
    }
    case 'q': {
        uint16_t x = 0;
        r = sd_bus_message_read_basic(m, 'q', &x);
        v.u = x;
        break;
    }
    case 'u': {
        uint32_t x = 0;
        r = sd_bus_message_read_basic(m, 'u', &x);
        v.u = x;
        break;
    }
    case 't': r = sd_bus_message_read_basic(m, 't', &v.u); break;
    case 'n': {
        int16_t x = 0;
        r = sd_bus_message_read_basic(m, 'n', &x);
        v.i = x;
        break;
    }
    case 'i': {
        int32_t x = 0;
        r = sd_bus_message_read_basic(m, 'i', &x);
        v.i = x;
        break;
    }
    case 'x': r = sd_bus_message_read_basic(m, 'x', &v.i); break;
    case 'd': r = sd_bus_message_read_basic(m, 'd', &v.d); break;
    case 'b': {
        int x = 0;
        r = sd_bus_message_read_basic(m, 'b', &x);
        v.b = x != 0;
        break;
    }
    default:
        v.type = 0;
        r = sd_bus_message_skip(m, contents);
    }
    if (r < 0) return r;
    return sd_bus_message_exit_container(m);
}

bool is_timestamp(const Property& p) {
    return p.value.type == 't' && p.name.size() >= 9 && p.name.ends_with("Timestamp");
}

}  // namespace

int read_properties(sd_bus_message* m, std::vector<Property>& out) {
    return bus::read_dict(m, [&](std::string_view name, std::string_view) {
        Property p;
        p.name = name;
        const int r = read_variant(m, p.value);
        if (r < 0) return r;
        if (p.value.type) out.push_back(std::move(p));
        return 0;
    });
}

const Property* find_property(const std::vector<Property>& props, std::string_view name) {
    for (const auto& p : props)
        if (p.name == name) return &p;
    return nullptr;
}

std::string prop_string(const std::vector<Property>& props, std::string_view name) {
    const Property* p = find_property(props, name);
    return p ? p->value.s : std::string{};
}

uint64_t prop_number(const std::vector<Property>& props, std::string_view name) {
    const Property* p = find_property(props, name);
    return p ? p->value.u : 0;
}

// "Mon 2024-05-06 10:00:00 CEST", as systemd prints timestamps; "" for 0.
std::string format_timestamp(uint64_t usec) {
    if (usec == 0) return {};
    const time_t t = static_cast<time_t>(usec / 1000000);
    tm tm_local{};
    if (!localtime_r(&t, &tm_local)) return std::to_string(usec);
    char buf[128];
    if (strftime(buf, sizeof buf, "%a %Y-%m-%d %H:%M:%S %Z", &tm_local) == 0) return std::to_string(usec);
    return buf;
}

// "3min 5s ago", roughly as systemd says it.
std::string format_ago(uint64_t usec) {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    const uint64_t now_usec = static_cast<uint64_t>(now.tv_sec) * 1000000 + static_cast<uint64_t>(now.tv_nsec) / 1000;
    if (usec == 0 || usec > now_usec) return {};
    uint64_t s = (now_usec - usec) / 1000000;
    const uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
    s %= 60;
    std::string out;
    if (d) out += std::to_string(d) + "d ";
    if (d || h) out += std::to_string(h) + "h ";
    if (!d && (h || m)) out += std::to_string(m) + "min ";
    if (!d && !h) out += std::to_string(s) + "s ";
    return out + "ago";
}

std::string format_value(const Property& p) {
    const Value& v = p.value;
    switch (v.type) {
    case 's':
    case 'o':
    case 'g': return v.s;
    case 'b': return v.b ? "yes" : "no";
    case 'n':
    case 'i':
    case 'x': return std::to_string(v.i);
    case 'd': {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%g", v.d);
        return buf;
    }
    default: return is_timestamp(p) ? format_timestamp(v.u) : std::to_string(v.u);
    }
}

bool is_empty(const Property& p) {
    return ((p.value.type == 's' || p.value.type == 'o' || p.value.type == 'g') && p.value.s.empty()) ||
           (is_timestamp(p) && p.value.u == 0);
}

Json json_value(const Value& v) {
    switch (v.type) {
    case 's':
    case 'o':
    case 'g': return v.s;
    case 'b': return v.b;
    case 'n':
    case 'i':
    case 'x': return v.i;
    case 'd': return v.d;
    default: return v.u;
    }
}

}  // namespace rsm::ctl
