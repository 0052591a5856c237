#include "provbridge/core/json_util.hpp"

namespace provbridge {
namespace {

// Records the first parse error instead of throwing it, so malformed input on the hot
// path costs a value, not an exception.
class ErrorCollector : public nlohmann::json_sax<nlohmann::json> {
public:
    bool null() override { return true; }
    bool boolean(bool /*val*/) override { return true; }
    bool number_integer(number_integer_t /*val*/) override { return true; }
    bool number_unsigned(number_unsigned_t /*val*/) override { return true; }
    bool number_float(number_float_t /*val*/, const string_t& /*s*/) override { return true; }
    bool string(string_t& /*val*/) override { return true; }
    bool binary(binary_t& /*val*/) override { return true; }
    bool start_object(std::size_t /*elements*/) override { return true; }
    bool key(string_t& /*val*/) override { return true; }
    bool end_object() override { return true; }
    bool start_array(std::size_t /*elements*/) override { return true; }
    bool end_array() override { return true; }
    bool parse_error(std::size_t position, const std::string& /*last_token*/,
                     const nlohmann::detail::exception& ex) override {
        position_ = position;
        message_ = ex.what();
        return false;
    }

    std::size_t position_ = 0;
    std::string message_;
};

std::string strip_exception_prefix(const std::string& what) {
    // "[json.exception.parse_error.101] parse error at line 1, column 5: ..." → keep the tail.
    const auto bracket = what.find("] ");
    return bracket == std::string::npos ? what : what.substr(bracket + 2);
}

}  // namespace

int json_nesting_depth(std::string_view text, int limit) {
    int depth = 0;
    int deepest = 0;
    const std::size_t n = text.size();
    for (std::size_t i = 0; i < n; ++i) {
        const char c = text[i];
        if (c == '"') {
            for (++i; i < n && text[i] != '"'; ++i) {
                if (text[i] == '\\') ++i;
            }
        } else if (c == '/' && i + 1 < n && text[i + 1] == '/') {
            while (i < n && text[i] != '\n') ++i;
        } else if (c == '/' && i + 1 < n && text[i + 1] == '*') {
            const auto end = text.find("*/", i + 2);
            i = end == std::string_view::npos ? n : end + 1;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest) {
                deepest = depth;
                if (deepest > limit) return limit + 1;
            }
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return deepest;
}

Result<nlohmann::json> parse_json(std::string_view text, bool allow_comments, int max_depth) {
    if (json_nesting_depth(text, max_depth) > max_depth) {
        return make_error("JSON nested deeper than " + std::to_string(max_depth) + " levels", ErrorKind::Permanent);
    }
    auto value = nlohmann::json::parse(text.begin(), text.end(), nullptr, false, allow_comments);
    if (!value.is_discarded()) {
        return value;
    }
    ErrorCollector collector;
    nlohmann::json::sax_parse(text.begin(), text.end(), &collector,
                              nlohmann::json::input_format_t::json, true, allow_comments);
    if (collector.message_.empty()) {
        return make_error("invalid JSON", ErrorKind::Permanent);
    }
    return make_error("invalid JSON: " + strip_exception_prefix(collector.message_), ErrorKind::Permanent);
}

TextPosition position_of(std::string_view text, std::size_t byte_offset) {
    TextPosition pos;
    const std::size_t end = std::min(byte_offset, text.size());
    for (std::size_t i = 0; i < end; ++i) {
        if (text[i] == '\n') {
            ++pos.line;
            pos.column = 1;
        } else {
            ++pos.column;
        }
    }
    return pos;
}

}  // namespace provbridge
