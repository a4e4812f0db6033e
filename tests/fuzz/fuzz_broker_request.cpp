// Fuzz target: what rsm-broker reads from an HTTP client before anything
// else happens: the URL path (parse_route), a urlencoded body without a
// Content-Type (src/http parse_urlencoded, GLib underneath) and the form
// fields (parse_request), and the replies built from them.
// Properties: no crash; an accepted request has a valid user name (no
// newline or ':' that would forge reply lines); a selectsession has a
// valid profile id; replies built for the user never throw.
//
// Input: "<path>\n<body>".
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "broker/broker_request.hpp"
#include "broker/replies.hpp"
#include "fuzz_check.hpp"
#include "http/form_fields.hpp"

using namespace rsm::broker;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t nl = input.find('\n');
    const std::string_view path = input.substr(0, nl);
    const std::string_view body = nl == std::string_view::npos ? std::string_view{} : input.substr(nl + 1);
    const auto route = parse_route(path);
    if (route) FUZZ_CHECK(route->backend.find('/') == std::string::npos);
    const auto form = rsm::http::parse_urlencoded(body, 64);
    if (!form.fields) {
        FUZZ_CHECK(!form.error.empty());
        return 0;
    }
    FUZZ_CHECK(form.fields->size() <= 64);
    for (const Frontend f : {Frontend::plain, Frontend::json}) {
        const auto r = parse_request(f, *form.fields);
        FUZZ_CHECK(r.request.has_value() != !r.error.empty());
        if (!r.request) continue;
        FUZZ_CHECK(valid_user_name(r.request->user));
        FUZZ_CHECK(r.request->user.find_first_of("\n\r:") == std::string::npos);
        if (r.request->task == Task::selectsession) FUZZ_CHECK(valid_profile_id(r.request->profile_id));
        ProfileOptions options{{"user", ProfileValue::of_text(r.request->user)}};
        const VisibleProfiles visible{{r.request->profile_id.empty() ? "p" : r.request->profile_id, options}};
        (void)plain_list(r.request->authid, visible);
        (void)json_list(r.request->authid, visible);
    }
    return 0;
}
