#include "http/form_fields.hpp"

#include <glib.h>
#include <memory>

namespace rsm::http {

namespace {

bool valid_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    for (const char c : name)
        if (!(g_ascii_isalnum(c) || c == '-' || c == '_' || c == '.')) return false;
    return true;
}

}  // namespace

bool FormCollector::add(std::string_view name, std::string_view piece, std::uint64_t offset) {
    if (!error_.empty()) return false;
    if (!valid_name(name)) {
        error_ = "invalid form field name";
        return false;
    }
    if (offset == 0) {
        if (fields_.contains(name)) {
            error_ = "form field '" + std::string(name) + "' given twice";
            return false;
        }
        if (fields_.size() >= max_fields_) {
            error_ = "too many form fields";
            return false;
        }
        fields_.emplace(std::string(name), std::string(piece));
        last_name_ = std::string(name);
        return true;
    }
    auto it = fields_.find(name);
    if (it == fields_.end() || last_name_ != name || it->second.size() != offset) {
        error_ = "form field '" + std::string(name) + "' out of order";
        return false;
    }
    it->second.append(piece);
    return true;
}

FormResult parse_urlencoded(std::string_view body, std::size_t max_fields) {
    FormResult result;
    if (body.find('\0') != std::string_view::npos) {
        result.error = "NUL byte in form body";
        return result;
    }
    // g_uri_parse_params wants a length-bounded string; an empty body is no fields.
    FormCollector collector{max_fields};
    if (!body.empty()) {
        GError* err = nullptr;
        const std::unique_ptr<GHashTable, decltype(&g_hash_table_unref)> table{
            g_uri_parse_params(body.data(), static_cast<gssize>(body.size()), "&",
                               static_cast<GUriParamsFlags>(G_URI_PARAMS_WWW_FORM), &err),
            &g_hash_table_unref};
        if (!table) {
            result.error = std::string("malformed form body: ") + (err ? err->message : "?");
            if (err) g_error_free(err);
            return result;
        }
        // g_uri_parse_params keeps the last of repeated names; the collector
        // would reject them, so count the separators to notice repeats.
        GHashTableIter iter;
        gpointer key = nullptr, value = nullptr;
        g_hash_table_iter_init(&iter, table.get());
        while (g_hash_table_iter_next(&iter, &key, &value))
            if (!collector.add(static_cast<const char*>(key), static_cast<const char*>(value), 0)) break;
        if (collector.error().empty()) {
            std::size_t pairs = 0;
            for (std::size_t start = 0; start <= body.size();) {
                const std::size_t end = std::min(body.find('&', start), body.size());
                if (end > start) ++pairs;
                start = end + 1;
            }
            if (pairs != g_hash_table_size(table.get())) {
                result.error = "a form field is given twice";
                return result;
            }
        }
    }
    if (!collector.error().empty()) {
        result.error = collector.error();
        return result;
    }
    result.fields = collector.take();
    return result;
}

}  // namespace rsm::http
