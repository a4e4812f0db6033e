// What rsm's HTTP server hands to a handler and takes back: a request whose
// body is collected (bounded) and whose form fields are decoded, and a
// response (text, a file's contents, or a protocol upgrade). Nothing here
// knows libmicrohttpd beyond an opaque handle.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/fd.hpp"
#include "util/secret_string.hpp"

struct MHD_UpgradeResponseHandle;

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
    // The request's header fields in arrival order, names as sent.
    std::vector<std::pair<std::string, std::string>> headers;
    // The first header field of that name (case-insensitive), nullptr if none.
    const std::string* header(std::string_view name) const noexcept;
};

// A regular file a response's body is read from (MHD reads it by fd, with
// sendfile where it can; a HEAD request gets the headers only).
struct FileBody {
    UniqueFd fd;
    std::uint64_t size = 0;
};

// A connection after "101 Switching Protocols" (RFC 9110, 15.2.2), handed
// to the response's upgrade handler: the socket (still libmicrohttpd's:
// read, write and shutdown() it, never close() it), the bytes MHD had read
// past the request, and the handle that closes it, which the destructor
// (or close()) uses.
class Upgraded {
public:
    Upgraded(int fd, std::string extra_in, MHD_UpgradeResponseHandle* handle)
        : fd_{fd}, extra_in_{std::move(extra_in)}, handle_{handle} {}
    Upgraded(Upgraded&& o) noexcept
        : fd_{std::exchange(o.fd_, -1)}, extra_in_{std::move(o.extra_in_)}, handle_{std::exchange(o.handle_, nullptr)} {}
    Upgraded& operator=(Upgraded&&) = delete;
    Upgraded(const Upgraded&) = delete;
    Upgraded& operator=(const Upgraded&) = delete;
    ~Upgraded() { close(); }

    int fd() const noexcept { return fd_; }
    const std::string& extra_in() const noexcept { return extra_in_; }
    void close() noexcept;

private:
    int fd_ = -1;
    std::string extra_in_;
    MHD_UpgradeResponseHandle* handle_ = nullptr;
};

struct Response {
    unsigned status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    // When set, the body is this file's contents instead of `body` (shared:
    // a Response stays copyable; MHD gets a duplicate of the fd).
    std::shared_ptr<const FileBody> file;
    // With status 101: who takes the connection once the answer is sent.
    // Honoured only on connections given by Server::add_connection().
    std::function<void(Upgraded)> upgrade;

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

// Which requests reach the handler; the others get 405 with an Allow
// header. rsm-broker takes form posts; a static-file server GET and HEAD.
enum class Methods { post, get_head };

// HTTPS: a certificate chain and its private key, PEM (the key's copy in
// memory is wiped when the last listener using it goes).
struct TlsCredentials {
    std::string certificate_pem;
    util::SecretString key_pem;
};

// Bounds on what one peer may make the server hold.
struct Limits {
    std::size_t max_body = 64 * 1024;    // bytes of request body (413 beyond)
    std::size_t max_fields = 64;         // form fields (400 beyond)
    unsigned max_connections = 256;      // open connections, all peers
    unsigned max_per_address = 32;       // open connections from one address
    unsigned idle_timeout_sec = 30;      // a connection with no traffic is closed
    // Connections of Server::add_connection() only: when > 0, a kept-alive
    // connection that has sent no new request this many milliseconds after
    // its last answer went out is closed (MHD's own idle timeout counts in
    // whole seconds). Never once a connection is upgraded.
    unsigned keep_alive_idle_ms = 0;
};

}  // namespace rsm::http
