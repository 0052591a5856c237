#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace provbridge::ops {

// What the operator commands print: stored text (ids, reasons, anything a record held) must not
// play with the terminal, columns are aligned by display width, colour only on a terminal.

std::int64_t wall_now_ms();
// RFC 3339 UTC with milliseconds, "-" for 0.
std::string time_text(std::int64_t ms);
// Text as it is when it is plain, else JSON-quoted with escapes (control characters, bytes that
// are not UTF-8).
std::string shown(const std::string& text);
// One line, at most `max` bytes, cut on a UTF-8 character boundary (control characters become
// spaces).
std::string one_line(const std::string& text, std::size_t max);
// Display width for alignment: code points, not bytes.
std::size_t display_width(const std::string& text);
// JSON that never throws on invalid UTF-8 from stored data; indent -1 is one line.
std::string dump_json(const nlohmann::json& doc, int indent = -1);

// Whether stdout is a terminal that takes colour (not with NO_COLOR or TERM=dumb).
bool colour_on_stdout();
// The ANSI sequence around text when `on`.
enum class Colour { Red, Green, Yellow, Grey, Bold };
std::string coloured(const std::string& text, Colour colour, bool on);

// Aligned columns; the last one is not padded (it holds free text). `paint`, when given, wraps
// a cell after it was padded (row -1 is the header), so colour does not upset the alignment.
using CellPainter = std::function<std::string(int row, std::size_t column, const std::string& cell)>;
void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows, const CellPainter& paint = {});

}  // namespace provbridge::ops
