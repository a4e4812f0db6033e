// rsmctl: properties as read from org.freedesktop.DBus.Properties.GetAll
// (an a{sv}), and how they print as text and JSON.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <systemd/sd-bus.h>
#include <vector>

namespace rsm::ctl {

// nlohmann's ordered_json keeps keys in the order we add them (bus order).
using Json = nlohmann::ordered_json;

struct Value {
    char type = 0;  // the D-Bus type code; 0 = not a basic type (skipped)
    std::string s;  // s, o, g
    uint64_t u = 0; // y, q, u, t
    int64_t i = 0;  // n, i, x
    double d = 0;
    bool b = false;
};

struct Property {
    std::string name;
    Value value;
};


// Reads GetAll's a{sv}; values of types that are not basic are skipped.
int read_properties(sd_bus_message* m, std::vector<Property>& out);

const Property* find_property(const std::vector<Property>& props, std::string_view name);
std::string prop_string(const std::vector<Property>& props, std::string_view name);
uint64_t prop_number(const std::vector<Property>& props, std::string_view name);

// "Mon 2024-05-06 10:00:00 CEST", as systemd prints timestamps; "" for 0.
std::string format_timestamp(uint64_t usec);
// "3min 5s ago", roughly as systemd says it.
std::string format_ago(uint64_t usec);
// show's text for a value (timestamps as dates).
std::string format_value(const Property& p);
// An empty string or a zero timestamp: show leaves it out without --all.
bool is_empty(const Property& p);
Json json_value(const Value& v);

}  // namespace rsm::ctl
