// Form field collection shared by the server's two ways of reading a form:
// libmicrohttpd's post processor (Content-Type
// application/x-www-form-urlencoded) and, for a POST without any
// Content-Type (x2goclient bug https://bugs.x2go.org/138, which x2gobroker
// works around the same way), GLib's g_uri_parse_params on the whole body.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "http/http_types.hpp"

namespace rsm::http {

// Accumulates fields that may arrive in pieces (the post processor calls
// back per chunk, with an offset). The first problem is kept in error().
class FormCollector {
public:
    explicit FormCollector(std::size_t max_fields) : max_fields_{max_fields} {}
    // One piece of the value of `name`, at byte `offset` of that value.
    bool add(std::string_view name, std::string_view piece, std::uint64_t offset);
    const std::string& error() const noexcept { return error_; }
    FormFields take() { return std::move(fields_); }

private:
    std::size_t max_fields_;
    FormFields fields_;
    std::string last_name_;
    std::string error_;
};

// The fields of a whole urlencoded body ("a=1&b=x+y"), or an error text.
struct FormResult {
    std::optional<FormFields> fields;
    std::string error;
};
FormResult parse_urlencoded(std::string_view body, std::size_t max_fields);

}  // namespace rsm::http
