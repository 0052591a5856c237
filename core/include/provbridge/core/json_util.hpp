#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "provbridge/core/result.hpp"

namespace provbridge {

// Deeper documents are refused before nlohmann sees them: its parser, its serialiser and its
// destructor all recurse once per level, so a hostile 100,000-level array would overflow
// the stack wherever it is touched later.
inline constexpr int kMaxJsonDepth = 64;

// Parses JSON without throwing; on failure the error names the byte position and what was
// expected, as nlohmann reports it. Comments are accepted only when allow_comments is set.
// A document nested deeper than max_depth arrays/objects is refused (ErrorKind::Permanent).
Result<nlohmann::json> parse_json(std::string_view text, bool allow_comments = false,
                                  int max_depth = kMaxJsonDepth);

// The deepest array/object nesting of a JSON text, counted without parsing it, stopping as
// soon as it exceeds `limit` (then returns limit + 1). Strings and comments are skipped.
int json_nesting_depth(std::string_view text, int limit);

// Line and column (1-based) of a byte offset in text, for error messages about files.
struct TextPosition {
    std::size_t line = 1;
    std::size_t column = 1;
};
TextPosition position_of(std::string_view text, std::size_t byte_offset);

}  // namespace provbridge
