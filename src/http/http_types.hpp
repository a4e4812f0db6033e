// What rsm's HTTP server hands to a handler and takes back: a request whose
// body is collected (bounded) and whose form fields are decoded, and a
// response. Nothing here knows libmicrohttpd.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace rsm::http {

// Decoded application/x-www-form-urlencoded fields, one value per name.
using FormFields = std::map<std::string, std::string, std::less<>>;

struct Request {
    std::string method;          // "POST", "GET", ...
    std::string path;            // the URL path, without the query
    std::string client_address;  // numeric, IPv4-mapped addresses unmapped ("192.0.2.7", "::1")
    std::string content_type;    // the Content-Type header, "" if none
    std::string body;            // the raw body (at most Limits::max_body bytes)
    FormFields form;             // the body's form fields, when it is a form
};

struct Response {
    unsigned status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;

    static Response text(unsigned status, std::string body) {
        Response r;
        r.status = status;
        r.body = std::move(body);
        return r;
    }
    // A status with no body at all (x2goclient reads a 401 by its status).
    static Response empty(unsigned status) {
        Response r;
        r.status = status;
        r.content_type.clear();
        return r;
    }
};

// Bounds on what one peer may make the server hold.
struct Limits {
    std::size_t max_body = 64 * 1024;    // bytes of request body (413 beyond)
    std::size_t max_fields = 64;         // form fields (400 beyond)
    unsigned max_connections = 256;      // open connections, all peers
    unsigned max_per_address = 32;       // open connections from one address
    unsigned idle_timeout_sec = 30;      // a connection with no traffic is closed
};

}  // namespace rsm::http
