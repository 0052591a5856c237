#include "provbridge/ops/text_output.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "provbridge/producers/producer.hpp"

namespace provbridge::ops {

std::int64_t wall_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string time_text(std::int64_t ms) { return ms > 0 ? producers::format_rfc3339_utc(ms) : "-"; }

std::string dump_json(const nlohmann::json& doc, int indent) {
    return doc.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string shown(const std::string& text) {
    const std::string quoted = dump_json(nlohmann::json(text));
    if (quoted.size() == text.size() + 2 && quoted.compare(1, text.size(), text) == 0) return text;
    return quoted;
}

std::string one_line(const std::string& text, std::size_t max) {
    std::string out;
    out.reserve(std::min(text.size(), max + 3));
    for (char c : text) out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c);
    if (out.size() <= max) return out;
    std::size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
    return out + "…";
}

std::size_t display_width(const std::string& text) {
    return static_cast<std::size_t>(std::count_if(
        text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

bool colour_on_stdout() {
    if (isatty(STDOUT_FILENO) == 0) return false;
    if (const char* no = std::getenv("NO_COLOR"); no != nullptr && no[0] != '\0') return false;
    const char* term = std::getenv("TERM");
    return term == nullptr || std::strcmp(term, "dumb") != 0;
}

std::string coloured(const std::string& text, Colour colour, bool on) {
    if (!on) return text;
    const char* code = "";
    switch (colour) {
        case Colour::Red: code = "\033[31m"; break;
        case Colour::Green: code = "\033[32m"; break;
        case Colour::Yellow: code = "\033[33m"; break;
        case Colour::Grey: code = "\033[90m"; break;
        case Colour::Bold: code = "\033[1m"; break;
    }
    return code + text + "\033[0m";
}

void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows, const CellPainter& paint) {
    std::vector<std::size_t> widths(header.size(), 0);
    for (std::size_t i = 0; i < header.size(); ++i) widths[i] = display_width(header[i]);
    for (const auto& row : rows) {
        for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
            widths[i] = std::max(widths[i], display_width(row[i]));
        }
    }
    const auto line = [&](int index, const std::vector<std::string>& cells) {
        std::string text;
        for (std::size_t i = 0; i < cells.size(); ++i) {
            const bool last = i + 1 == cells.size();
            const std::string pad = last ? std::string() : std::string(widths[i] - display_width(cells[i]), ' ');
            text += paint ? paint(index, i, cells[i]) : cells[i];
            if (!last) text += pad + "  ";
        }
        while (!text.empty() && text.back() == ' ') text.pop_back();
        out << text << "\n";
    };
    line(-1, header);
    for (std::size_t r = 0; r < rows.size(); ++r) line(static_cast<int>(r), rows[r]);
}

}  // namespace provbridge::ops
