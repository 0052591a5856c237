#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "provbridge/core/result.hpp"

namespace provbridge {

// Parses JSON without throwing; on failure the error names the byte position and what was
// expected, as nlohmann reports it. Comments are accepted only when allow_comments is set.
Result<nlohmann::json> parse_json(std::string_view text, bool allow_comments = false);

// Line and column (1-based) of a byte offset in text, for error messages about files.
struct TextPosition {
    std::size_t line = 1;
    std::size_t column = 1;
};
TextPosition position_of(std::string_view text, std::size_t byte_offset);

}  // namespace provbridge
