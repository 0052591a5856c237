// Text and date algorithms behind Entra's expression functions. No Debian library implements
// .NET's format strings, title casing or Entra's diacritics table, so they are written here,
// limited to what the functions need.
#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <regex>
#include <utility>

#include "provbridge/transforms/expression.hpp"
#include "provbridge/transforms/scoping.hpp"

namespace provbridge::transforms::detail {

struct CompiledPattern {
    std::regex regex;
    std::vector<std::pair<std::string, std::size_t>> named;  // .NET group name → ECMAScript group
    // .NET numbers unnamed groups first, then named ones, each left to right; ECMAScript numbers
    // all groups left to right. by_dotnet_number[n] is the ECMAScript group for .NET's $n.
    std::vector<std::size_t> by_dotnet_number;
};

namespace {

// ---------------------------------------------------------------------------------------------
// UTF-8

struct CodePoint {
    char32_t value = 0;
    std::size_t length = 1;
    bool valid = true;  // false: a stray byte, kept as it is
};

CodePoint decode_at(std::string_view s, std::size_t i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) return {c, 1, true};
    std::size_t length = 0;
    char32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
        length = 2;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        length = 3;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        length = 4;
        cp = c & 0x07;
    } else {
        return {c, 1, false};
    }
    if (i + length > s.size()) return {c, 1, false};
    for (std::size_t k = 1; k < length; ++k) {
        const auto cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xC0) != 0x80) return {c, 1, false};
        cp = (cp << 6) | (cc & 0x3F);
    }
    const bool overlong = (length == 2 && cp < 0x80) || (length == 3 && cp < 0x800) ||
                          (length == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {c, 1, false};
    return {cp, length, true};
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// Appends the decoded character, or the stray byte as it was.
void append_code_point(std::string& out, std::string_view s, std::size_t i, const CodePoint& cp,
                       char32_t mapped) {
    if (cp.valid) {
        append_utf8(out, mapped);
    } else {
        out += s[i];
    }
}

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

bool is_combining_mark(char32_t c) { return c >= 0x300 && c <= 0x36F; }

// ---------------------------------------------------------------------------------------------
// Simple case mapping: the blocks where Latin, Greek, Cyrillic and Armenian letters live.
// .NET's invariant culture uses Unicode's simple mappings too, so ß stays ß in upper case.

bool in(char32_t c, char32_t lo, char32_t hi) { return c >= lo && c <= hi; }

char32_t simple_upper(char32_t c) {
    if (c < 0x80) return in(c, 'a', 'z') ? c - 0x20 : c;
    if (c < 0x100) {
        if (in(c, 0xE0, 0xFE) && c != 0xF7) return c - 0x20;
        if (c == 0xFF) return 0x178;
        if (c == 0xB5) return 0x39C;
        return c;
    }
    if (c <= 0x17F) {
        if (c == 0x131) return 'I';
        if (c == 0x17F) return 'S';
        if (in(c, 0x139, 0x148) || in(c, 0x179, 0x17E)) return c % 2 == 0 ? c - 1 : c;
        if (c == 0x130 || c == 0x138 || c == 0x149 || c == 0x178) return c;
        return c % 2 == 1 ? c - 1 : c;  // 0x100–0x137 and 0x14A–0x177 pair even/odd
    }
    if (c <= 0x24F) {
        if (in(c, 0x1CD, 0x1DC)) return c % 2 == 0 ? c - 1 : c;
        if (in(c, 0x1DE, 0x1EF) || in(c, 0x1F8, 0x21F) || in(c, 0x222, 0x233)) return c % 2 == 1 ? c - 1 : c;
        return c;
    }
    if (in(c, 0x3B1, 0x3C9)) return c == 0x3C2 ? 0x3A3 : c - 0x20;
    switch (c) {
        case 0x3AC: return 0x386;
        case 0x3AD: return 0x388;
        case 0x3AE: return 0x389;
        case 0x3AF: return 0x38A;
        case 0x3CA: return 0x3AA;
        case 0x3CB: return 0x3AB;
        case 0x3CC: return 0x38C;
        case 0x3CD: return 0x38E;
        case 0x3CE: return 0x38F;
        default: break;
    }
    if (in(c, 0x430, 0x44F)) return c - 0x20;
    if (in(c, 0x450, 0x45F)) return c - 0x50;
    if (in(c, 0x460, 0x481) || in(c, 0x48A, 0x4BF) || in(c, 0x4D0, 0x52F)) return c % 2 == 1 ? c - 1 : c;
    if (in(c, 0x4C1, 0x4CE)) return c % 2 == 0 ? c - 1 : c;
    if (c == 0x4CF) return 0x4C0;
    if (in(c, 0x561, 0x586)) return c - 0x30;
    if (in(c, 0x1E00, 0x1E95) || in(c, 0x1EA0, 0x1EFF)) return c % 2 == 1 ? c - 1 : c;
    if (in(c, 0xFF41, 0xFF5A)) return c - 0x20;
    return c;
}

char32_t simple_lower(char32_t c) {
    if (c < 0x80) return in(c, 'A', 'Z') ? c + 0x20 : c;
    if (c < 0x100) return in(c, 0xC0, 0xDE) && c != 0xD7 ? c + 0x20 : c;
    if (c <= 0x17F) {
        if (c == 0x130) return 'i';
        if (c == 0x178) return 0xFF;
        if (in(c, 0x139, 0x148) || in(c, 0x179, 0x17E)) return c % 2 == 1 ? c + 1 : c;
        if (in(c, 0x100, 0x137) || in(c, 0x14A, 0x177)) return c % 2 == 0 ? c + 1 : c;
        return c;
    }
    if (c <= 0x24F) {
        if (in(c, 0x1CD, 0x1DC)) return c % 2 == 1 ? c + 1 : c;
        if (in(c, 0x1DE, 0x1EF) || in(c, 0x1F8, 0x21F) || in(c, 0x222, 0x233)) return c % 2 == 0 ? c + 1 : c;
        return c;
    }
    if (in(c, 0x391, 0x3A9)) return c == 0x3A2 ? c : c + 0x20;
    switch (c) {
        case 0x386: return 0x3AC;
        case 0x388: return 0x3AD;
        case 0x389: return 0x3AE;
        case 0x38A: return 0x3AF;
        case 0x3AA: return 0x3CA;
        case 0x3AB: return 0x3CB;
        case 0x38C: return 0x3CC;
        case 0x38E: return 0x3CD;
        case 0x38F: return 0x3CE;
        case 0x4C0: return 0x4CF;
        case 0x1E9E: return 0xDF;
        default: break;
    }
    if (in(c, 0x410, 0x42F)) return c + 0x20;
    if (in(c, 0x400, 0x40F)) return c + 0x50;
    if (in(c, 0x460, 0x481) || in(c, 0x48A, 0x4BF) || in(c, 0x4D0, 0x52F)) return c % 2 == 0 ? c + 1 : c;
    if (in(c, 0x4C1, 0x4CE)) return c % 2 == 1 ? c + 1 : c;
    if (in(c, 0x531, 0x556)) return c + 0x30;
    if (in(c, 0x1E00, 0x1E95) || in(c, 0x1EA0, 0x1EFF)) return c % 2 == 0 ? c + 1 : c;
    if (in(c, 0xFF21, 0xFF3A)) return c + 0x20;
    return c;
}

template <class Map>
std::string map_case(std::string_view s, Map map) {
    std::string out;
    out.reserve(s.size());
    if (is_ascii(s)) {
        for (char c : s) out += static_cast<char>(map(static_cast<char32_t>(c)));
        return out;
    }
    for (std::size_t i = 0; i < s.size();) {
        const auto cp = decode_at(s, i);
        append_code_point(out, s, i, cp, map(cp.value));
        i += cp.length;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// NormalizeDiacritics: the table from Entra's function reference, row by row.

struct DiacriticGroup {
    std::string_view characters;
    std::string_view replacement;
};

constexpr std::array<DiacriticGroup, 35> kDiacriticGroups{{
    {"äàâãåáąăāǟǡ", "a"},   {"ÄÀÂÃÅÁĄĂĀǞǠ", "A"},   {"æǣ", "ae"},         {"ÆǢ", "AE"},
    {"çčć", "c"},           {"ÇČĆ", "C"},           {"ďḏ", "d"},          {"ĎḎ", "D"},
    {"ëèéêęěėēḗḕ", "e"},    {"ËÈÉÊĘĚĖĒḖḔ", "E"},    {"ğḡ", "g"},          {"ĞḠ", "G"},
    {"ïîìíıī", "i"},        {"ÏÎÌÍİĪ", "I"},        {"ľłḹḻ", "l"},        {"ŁĽḸḺ", "L"},
    {"ñńňṉ", "n"},          {"ÑŃŇṈ", "N"},          {"öòőõôóōṓṑȫǭȭȱ", "o"}, {"ÖÒŐÕÔÓŌṒṐȪǬȬȰ", "O"},
    // The table lists ø̄ and œ̄; œ on its own is mapped so that œ + U+0304 reaches "oe".
    {"øœ", "oe"},           {"ØŒ", "OE"},           {"řṟṝ", "r"},         {"ŘṞṜ", "R"},
    {"ß", "ss"},            {"šśșş", "s"},          {"ŠŚȘŞ", "S"},        {"ťțṯ", "t"},
    {"ŤȚṮ", "T"},           {"üùûúůűūǖṻṳ", "u"},    {"ÜÙÛÚŮŰŪǕṺṲ", "U"},  {"ÿýȳ", "y"},
    {"ŸÝȲ", "Y"},           {"źžżẕ", "z"},          {"ŹŽŻẔ", "Z"},
}};

using DiacriticTable = std::vector<std::pair<char32_t, std::string_view>>;

const DiacriticTable& diacritic_table() {
    static const DiacriticTable table = [] {
        DiacriticTable t;
        for (const auto& group : kDiacriticGroups) {
            for (std::size_t i = 0; i < group.characters.size();) {
                const auto cp = decode_at(group.characters, i);
                t.emplace_back(cp.value, group.replacement);
                i += cp.length;
            }
        }
        std::sort(t.begin(), t.end());
        return t;
    }();
    return table;
}

const std::string_view* diacritic_replacement(char32_t c) {
    const auto& table = diacritic_table();
    const auto it = std::lower_bound(table.begin(), table.end(), c,
                                     [](const auto& entry, char32_t v) { return entry.first < v; });
    return it != table.end() && it->first == c ? &it->second : nullptr;
}

// ---------------------------------------------------------------------------------------------
// PCase's default word separators: the Unicode categories .NET's ToTitleCase treats as breaks
// (white space, controls, punctuation, math/currency/modifier/other symbols), by block.

bool is_default_separator(char32_t c) {
    if (c < 0x80) return !(in(c, 'a', 'z') || in(c, 'A', 'Z') || in(c, '0', '9'));
    if (c < 0xC0) {
        // Latin-1 punctuation and symbols, except the letters ª µ º and the numbers ² ³ ¹ ¼ ½ ¾.
        return !(c == 0xAA || c == 0xB5 || c == 0xBA || c == 0xB2 || c == 0xB3 || c == 0xB9 ||
                 in(c, 0xBC, 0xBE));
    }
    if (c == 0xD7 || c == 0xF7) return true;
    return in(c, 0x2000, 0x206F) || in(c, 0x20A0, 0x20CF) || in(c, 0x2190, 0x23FF) ||
           in(c, 0x3000, 0x3003) || in(c, 0x3008, 0x3011) || c == 0xFEFF;
}

std::vector<char32_t> decode_all(std::string_view s) {
    std::vector<char32_t> out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        const auto cp = decode_at(s, i);
        out.push_back(cp.value);
        i += cp.length;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// .NET date and time format strings (invariant culture).

constexpr std::array<std::string_view, 12> kMonthNames{
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};
constexpr std::array<std::string_view, 7> kDayNames{"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                    "Thursday", "Friday", "Saturday"};

// Kind as .NET's DateTime carries it. Entra's servers run on UTC, so "local" is UTC too; it
// only changes how K prints (+00:00 instead of Z).
enum class DateKind { Unspecified, Utc, Local };

struct DateTimeValue {
    int year = 1;
    int month = 1;
    int day = 1;
    int hour = 0;
    int minute = 0;
    int second = 0;
    int ticks = 0;  // 100 ns units, 0…9,999,999
    DateKind kind = DateKind::Unspecified;
};

struct FormatToken {
    enum class Type { Literal, Field, UtcDesignator };
    Type type = Type::Literal;
    char spec = 0;
    int count = 0;
    std::string literal;
};

// The invariant culture's single-letter standard formats, as custom patterns.
std::optional<std::string_view> standard_format(char c) {
    switch (c) {
        case 'd': return "MM/dd/yyyy";
        case 'D': return "dddd, dd MMMM yyyy";
        case 'f': return "dddd, dd MMMM yyyy HH:mm";
        case 'F': return "dddd, dd MMMM yyyy HH:mm:ss";
        case 'g': return "MM/dd/yyyy HH:mm";
        case 'G': return "MM/dd/yyyy HH:mm:ss";
        case 'M':
        case 'm': return "MMMM dd";
        case 'O':
        case 'o': return "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK";
        case 'R':
        case 'r': return "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'";
        case 's': return "yyyy'-'MM'-'dd'T'HH':'mm':'ss";
        case 't': return "HH:mm";
        case 'T': return "HH:mm:ss";
        case 'u': return "yyyy'-'MM'-'dd HH':'mm':'ss'Z'";
        case 'U': return "dddd, dd MMMM yyyy HH:mm:ss";
        case 'Y':
        case 'y': return "yyyy MMMM";
        default: return std::nullopt;
    }
}

bool is_field_char(char c) {
    return c == 'y' || c == 'M' || c == 'd' || c == 'h' || c == 'H' || c == 'm' || c == 's' ||
           c == 'f' || c == 'F' || c == 't' || c == 'z' || c == 'K' || c == 'g';
}

std::optional<std::vector<FormatToken>> tokenize_format(std::string_view format) {
    if (format.empty()) return std::nullopt;
    if (format.size() == 1) {
        const auto standard = standard_format(format[0]);
        if (!standard) return std::nullopt;
        format = *standard;
    }
    std::vector<FormatToken> tokens;
    const auto add_literal = [&](std::string_view text) {
        if (!tokens.empty() && tokens.back().type == FormatToken::Type::Literal) {
            tokens.back().literal += text;
        } else {
            FormatToken t;
            t.literal = std::string(text);
            tokens.push_back(std::move(t));
        }
    };
    for (std::size_t i = 0; i < format.size();) {
        const char c = format[i];
        if (c == '\'' || c == '"') {
            std::string text;
            std::size_t j = i + 1;
            for (; j < format.size() && format[j] != c; ++j) {
                if (format[j] == '\\' && j + 1 < format.size()) ++j;
                text += format[j];
            }
            if (j >= format.size()) return std::nullopt;  // unterminated quote
            if (text == "Z") {
                FormatToken t;
                t.type = FormatToken::Type::UtcDesignator;
                tokens.push_back(std::move(t));
            } else {
                add_literal(text);
            }
            i = j + 1;
        } else if (c == '\\') {
            if (i + 1 >= format.size()) return std::nullopt;
            add_literal(format.substr(i + 1, 1));
            i += 2;
        } else if (c == '%') {
            if (i + 1 >= format.size() || format[i + 1] == '%') return std::nullopt;
            ++i;  // "%d" is the custom specifier d on its own
        } else if (is_field_char(c)) {
            std::size_t j = i;
            while (j < format.size() && format[j] == c) ++j;
            FormatToken t;
            t.type = FormatToken::Type::Field;
            t.spec = c;
            t.count = static_cast<int>(j - i);
            if ((c == 'f' || c == 'F') && t.count > 7) return std::nullopt;
            tokens.push_back(std::move(t));
            i = j;
        } else if (c == 'Z') {
            // Not a .NET specifier: printed as a literal, but ParseExact reads it as "UTC".
            FormatToken t;
            t.type = FormatToken::Type::UtcDesignator;
            tokens.push_back(std::move(t));
            ++i;
        } else {
            add_literal(format.substr(i, 1));
            ++i;
        }
    }
    return tokens;
}

struct Styles {
    bool trim_leading = true;
    bool trim_trailing = true;
    bool inner_white = false;
    bool adjust_to_universal = false;
    bool assume_universal = false;
    bool assume_local = false;
    bool roundtrip = true;
};

bool iequal_ascii(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return simple_lower(static_cast<unsigned char>(x)) == simple_lower(static_cast<unsigned char>(y));
           });
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

// DateTimeStyles names as .NET spells them, separated by commas, '|' or spaces; empty means
// Entra's default (RoundtripKind, AllowLeadingWhite, AllowTrailingWhite).
std::optional<Styles> parse_styles(std::string_view text) {
    text = trim(text);
    if (text.empty()) return Styles{};
    Styles s;
    s.trim_leading = s.trim_trailing = s.roundtrip = false;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && (text[i] == ',' || text[i] == '|' || is_space(text[i]))) ++i;
        std::size_t j = i;
        while (j < text.size() && !(text[j] == ',' || text[j] == '|' || is_space(text[j]))) ++j;
        std::string_view name = text.substr(i, j - i);
        i = j;
        if (name.empty()) continue;
        constexpr std::string_view kPrefix = "DateTimeStyles.";
        if (name.size() > kPrefix.size() && iequal_ascii(name.substr(0, kPrefix.size()), kPrefix)) {
            name.remove_prefix(kPrefix.size());
        }
        if (iequal_ascii(name, "None")) {
        } else if (iequal_ascii(name, "AllowLeadingWhite")) {
            s.trim_leading = true;
        } else if (iequal_ascii(name, "AllowTrailingWhite")) {
            s.trim_trailing = true;
        } else if (iequal_ascii(name, "AllowInnerWhite")) {
            s.inner_white = true;
        } else if (iequal_ascii(name, "AllowWhiteSpaces")) {
            s.trim_leading = s.trim_trailing = s.inner_white = true;
        } else if (iequal_ascii(name, "NoCurrentDateDefault")) {
        } else if (iequal_ascii(name, "AdjustToUniversal")) {
            s.adjust_to_universal = true;
        } else if (iequal_ascii(name, "AssumeLocal")) {
            s.assume_local = true;
        } else if (iequal_ascii(name, "AssumeUniversal")) {
            s.assume_universal = true;
        } else if (iequal_ascii(name, "RoundtripKind")) {
            s.roundtrip = true;
        } else {
            return std::nullopt;
        }
    }
    return s;
}

class DateReader {
public:
    explicit DateReader(std::string_view input) : input_(input) {}

    bool at_end() const { return pos_ >= input_.size(); }
    char peek() const { return at_end() ? '\0' : input_[pos_]; }

    std::optional<int> digits(int min, int max) {
        const auto read = fraction(min, max);
        return read ? std::optional<int>(read->first) : std::nullopt;
    }

    // Reads min..max decimal digits; returns the value and how many digits were read.
    std::optional<std::pair<int, int>> fraction(int min, int max) {
        int value = 0;
        int n = 0;
        while (n < max && !at_end() && peek() >= '0' && peek() <= '9') {
            value = value * 10 + (peek() - '0');
            ++pos_;
            ++n;
        }
        if (n < min) return std::nullopt;
        return std::pair{value, n};
    }

    bool literal(std::string_view text, bool inner_white) {
        for (char c : text) {
            if (inner_white && is_space(c)) {
                while (!at_end() && is_space(peek())) ++pos_;
                continue;
            }
            if (at_end() || peek() != c) return false;
            ++pos_;
        }
        return true;
    }

    // Longest name (case-insensitive) from the list; returns its index.
    template <std::size_t N>
    std::optional<int> name(const std::array<std::string_view, N>& names, bool abbreviated) {
        for (std::size_t k = 0; k < N; ++k) {
            const std::string_view n = abbreviated ? names[k].substr(0, 3) : names[k];
            if (input_.size() - pos_ >= n.size() && iequal_ascii(input_.substr(pos_, n.size()), n)) {
                pos_ += n.size();
                return static_cast<int>(k);
            }
        }
        return std::nullopt;
    }

    bool word_ci(std::string_view w) {
        if (input_.size() - pos_ >= w.size() && iequal_ascii(input_.substr(pos_, w.size()), w)) {
            pos_ += w.size();
            return true;
        }
        return false;
    }

    // ±h, ±hh or ±hh:mm; returns minutes east of UTC.
    std::optional<int> offset(int count) {
        if (at_end() || (peek() != '+' && peek() != '-')) return std::nullopt;
        const int sign = peek() == '-' ? -1 : 1;
        ++pos_;
        const auto hours = digits(count == 1 ? 1 : 2, 2);
        if (!hours || *hours > 14) return std::nullopt;
        int minutes = 0;
        if (count >= 3) {
            if (peek() != ':') return std::nullopt;
            ++pos_;
            const auto m = digits(2, 2);
            if (!m || *m > 59) return std::nullopt;
            minutes = *m;
        }
        return sign * (*hours * 60 + minutes);
    }

private:
    std::string_view input_;
    std::size_t pos_ = 0;
};

int days_in_month(int year, int month) {
    using namespace std::chrono;
    const year_month_day_last last{std::chrono::year{year} / std::chrono::month{static_cast<unsigned>(month)} / std::chrono::last};
    return static_cast<int>(static_cast<unsigned>(last.day()));
}

// Shifts a time by `minutes`; false when the result leaves years 1…9999.
bool shift_minutes(DateTimeValue& v, int minutes) {
    using namespace std::chrono;
    const sys_days date{std::chrono::year{v.year} / std::chrono::month{static_cast<unsigned>(v.month)} /
                        std::chrono::day{static_cast<unsigned>(v.day)}};
    const auto t = date + hours{v.hour} + std::chrono::minutes{v.minute + minutes} + seconds{v.second};
    const auto d = floor<days>(t);
    const year_month_day ymd{d};
    const hh_mm_ss hms{t - d};
    const int y = static_cast<int>(ymd.year());
    if (y < 1 || y > 9999) return false;
    v.year = y;
    v.month = static_cast<int>(static_cast<unsigned>(ymd.month()));
    v.day = static_cast<int>(static_cast<unsigned>(ymd.day()));
    v.hour = static_cast<int>(hms.hours().count());
    v.minute = static_cast<int>(hms.minutes().count());
    v.second = static_cast<int>(hms.seconds().count());
    return true;
}

int day_of_week(const DateTimeValue& v) {
    using namespace std::chrono;
    const sys_days date{std::chrono::year{v.year} / std::chrono::month{static_cast<unsigned>(v.month)} /
                        std::chrono::day{static_cast<unsigned>(v.day)}};
    return static_cast<int>(weekday{date}.c_encoding());
}

// ParseExact: the whole input must match the format.
std::optional<DateTimeValue> parse_date(std::string_view input, const std::vector<FormatToken>& tokens,
                                        const Styles& styles) {
    if (styles.trim_leading) {
        while (!input.empty() && is_space(input.front())) input.remove_prefix(1);
    }
    if (styles.trim_trailing) {
        while (!input.empty() && is_space(input.back())) input.remove_suffix(1);
    }
    DateReader r(input);
    DateTimeValue v;
    std::optional<int> offset;
    bool utc_designator = false;
    std::optional<bool> pm;
    std::optional<int> weekday;
    bool twelve_hour = false;
    for (const auto& t : tokens) {
        if (t.type == FormatToken::Type::Literal) {
            if (!r.literal(t.literal, styles.inner_white)) return std::nullopt;
            continue;
        }
        if (t.type == FormatToken::Type::UtcDesignator) {
            if (r.peek() != 'Z') return std::nullopt;
            r.literal("Z", false);
            utc_designator = true;
            offset = 0;
            continue;
        }
        std::optional<int> n;
        switch (t.spec) {
            case 'y':
                if (t.count <= 2) {
                    n = r.digits(t.count == 2 ? 2 : 1, 2);
                    // .NET's Gregorian TwoDigitYearMax is 2049.
                    if (n) n = *n + (*n <= 49 ? 2000 : 1900);
                } else {
                    n = r.digits(t.count, std::max(t.count, 4));
                }
                if (!n) return std::nullopt;
                v.year = *n;
                break;
            case 'M':
                if (t.count >= 3) {
                    n = r.name(kMonthNames, t.count == 3);
                    if (n) n = *n + 1;
                } else {
                    n = r.digits(t.count, 2);
                }
                if (!n) return std::nullopt;
                v.month = *n;
                break;
            case 'd':
                if (t.count >= 3) {
                    weekday = r.name(kDayNames, t.count == 3);
                    if (!weekday) return std::nullopt;
                } else {
                    n = r.digits(t.count, 2);
                    if (!n) return std::nullopt;
                    v.day = *n;
                }
                break;
            case 'h':
            case 'H':
                n = r.digits(std::min(t.count, 2), 2);
                if (!n) return std::nullopt;
                v.hour = *n;
                if (t.spec == 'h') twelve_hour = true;
                break;
            case 'm':
                n = r.digits(std::min(t.count, 2), 2);
                if (!n) return std::nullopt;
                v.minute = *n;
                break;
            case 's':
                n = r.digits(std::min(t.count, 2), 2);
                if (!n) return std::nullopt;
                v.second = *n;
                break;
            case 'f':
            case 'F': {
                // The number of digits read, not the value, sets the scale: ".05" is 500,000 ticks.
                const auto fraction = r.fraction(t.spec == 'f' ? t.count : 0, t.count);
                if (!fraction) return std::nullopt;
                int ticks = fraction->first;
                for (int k = fraction->second; k < 7; ++k) ticks *= 10;
                v.ticks = ticks;
                break;
            }
            case 't':
                if (t.count == 1) {
                    if (r.word_ci("A")) {
                        pm = false;
                    } else if (r.word_ci("P")) {
                        pm = true;
                    } else {
                        return std::nullopt;
                    }
                } else if (r.word_ci("AM")) {
                    pm = false;
                } else if (r.word_ci("PM")) {
                    pm = true;
                } else {
                    return std::nullopt;
                }
                break;
            case 'z':
                offset = r.offset(std::min(t.count, 3));
                if (!offset) return std::nullopt;
                break;
            case 'K':
                if (r.peek() == 'Z') {
                    r.literal("Z", false);
                    utc_designator = true;
                    offset = 0;
                } else if (r.peek() == '+' || r.peek() == '-') {
                    offset = r.offset(3);
                    if (!offset) return std::nullopt;
                }
                break;
            case 'g':
                if (!r.word_ci("A.D.") && !r.word_ci("AD")) return std::nullopt;
                break;
            default:
                return std::nullopt;
        }
    }
    if (!r.at_end()) return std::nullopt;
    if (twelve_hour) {
        if (v.hour < 1 || v.hour > 12) return std::nullopt;
        if (pm.value_or(false)) {
            if (v.hour < 12) v.hour += 12;
        } else if (v.hour == 12) {
            v.hour = 0;
        }
    } else if (pm && (*pm != (v.hour >= 12))) {
        return std::nullopt;  // as .NET: with H, the AM/PM designator must agree with the hour
    }
    if (v.year < 1 || v.year > 9999 || v.month < 1 || v.month > 12 || v.day < 1 ||
        v.day > days_in_month(v.year, v.month) || v.hour > 23 || v.minute > 59 || v.second > 59) {
        return std::nullopt;
    }
    // As .NET: "the day of week was incorrect" when a day name contradicts the date.
    if (weekday && *weekday != day_of_week(v)) return std::nullopt;
    if (offset) {
        // Entra runs on UTC: a zoned input is converted to UTC.
        if (!shift_minutes(v, -*offset)) return std::nullopt;
        const bool utc = styles.adjust_to_universal || (styles.roundtrip && utc_designator);
        v.kind = utc ? DateKind::Utc : DateKind::Local;
    } else if (styles.assume_universal || styles.assume_local) {
        v.kind = styles.adjust_to_universal ? DateKind::Utc : DateKind::Local;
    }
    return v;
}

void append_number(std::string& out, long long value, int min_digits) {
    std::array<char, 24> buf{};
    const auto res = std::to_chars(buf.data(), buf.data() + buf.size(), value);
    const auto len = static_cast<int>(res.ptr - buf.data());
    for (int k = len; k < min_digits; ++k) out += '0';
    out.append(buf.data(), res.ptr);
}

std::string format_date(const DateTimeValue& v, const std::vector<FormatToken>& tokens) {
    std::string out;
    for (const auto& t : tokens) {
        switch (t.type) {
            case FormatToken::Type::Literal:
                out += t.literal;
                continue;
            case FormatToken::Type::UtcDesignator:
                out += 'Z';
                continue;
            case FormatToken::Type::Field:
                break;
        }
        const int hour12 = v.hour % 12 == 0 ? 12 : v.hour % 12;
        switch (t.spec) {
            case 'y':
                if (t.count <= 2) {
                    append_number(out, v.year % 100, t.count);
                } else {
                    append_number(out, v.year, t.count);
                }
                break;
            case 'M':
                if (t.count == 3) {
                    out += kMonthNames[static_cast<std::size_t>(v.month - 1)].substr(0, 3);
                } else if (t.count >= 4) {
                    out += kMonthNames[static_cast<std::size_t>(v.month - 1)];
                } else {
                    append_number(out, v.month, t.count);
                }
                break;
            case 'd':
                if (t.count == 3) {
                    out += kDayNames[static_cast<std::size_t>(day_of_week(v))].substr(0, 3);
                } else if (t.count >= 4) {
                    out += kDayNames[static_cast<std::size_t>(day_of_week(v))];
                } else {
                    append_number(out, v.day, t.count);
                }
                break;
            case 'h':
                append_number(out, hour12, std::min(t.count, 2));
                break;
            case 'H':
                append_number(out, v.hour, std::min(t.count, 2));
                break;
            case 'm':
                append_number(out, v.minute, std::min(t.count, 2));
                break;
            case 's':
                append_number(out, v.second, std::min(t.count, 2));
                break;
            case 'f':
            case 'F': {
                int fraction = v.ticks;
                for (int k = t.count; k < 7; ++k) fraction /= 10;
                std::string digits;
                append_number(digits, fraction, t.count);
                if (t.spec == 'F') {
                    while (!digits.empty() && digits.back() == '0') digits.pop_back();
                    // .NET drops the decimal point before an empty F fraction as well.
                    if (digits.empty() && !out.empty() && out.back() == '.') out.pop_back();
                }
                out += digits;
                break;
            }
            case 't':
                out += t.count == 1 ? std::string_view(v.hour < 12 ? "A" : "P")
                                    : std::string_view(v.hour < 12 ? "AM" : "PM");
                break;
            case 'z':
                out += t.count == 1 ? "+0" : t.count == 2 ? "+00" : "+00:00";  // UTC servers
                break;
            case 'K':
                if (v.kind == DateKind::Utc) {
                    out += 'Z';
                } else if (v.kind == DateKind::Local) {
                    out += "+00:00";
                }
                break;
            case 'g':
                out += "A.D.";
                break;
            default:
                break;
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// .NET regular expressions → ECMAScript

bool is_group_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

struct Translation {
    std::string ecma;
    std::vector<std::pair<std::string, std::size_t>> named;
    std::vector<std::size_t> unnamed;  // ECMAScript numbers of unnamed groups, in order
    std::string error;
};

Translation translate_pattern(std::string_view p) {
    Translation t;
    std::size_t groups = 0;
    bool in_class = false;
    const auto fail = [&](std::string message) {
        t.error = std::move(message);
        return t;
    };
    for (std::size_t i = 0; i < p.size();) {
        const char c = p[i];
        if (c == '\\') {
            if (i + 1 >= p.size()) return fail("the pattern ends with a backslash");
            const char next = p[i + 1];
            if (!in_class && next == 'A') {
                t.ecma += '^';
            } else if (!in_class && (next == 'z' || next == 'Z')) {
                t.ecma += '$';
            } else if (next == 'p' || next == 'P') {
                return fail("Unicode categories (\\p{…}) are not supported");
            } else if (!in_class && next == 'k' && i + 2 < p.size() && (p[i + 2] == '<' || p[i + 2] == '\'')) {
                const char close = p[i + 2] == '<' ? '>' : '\'';
                const auto end = p.find(close, i + 3);
                if (end == std::string_view::npos) return fail("unterminated \\k<name>");
                const auto name = p.substr(i + 3, end - i - 3);
                const auto it = std::find_if(t.named.begin(), t.named.end(),
                                             [&](const auto& n) { return n.first == name; });
                if (it == t.named.end()) return fail("\\k<" + std::string(name) + "> names no earlier group");
                t.ecma += '\\';
                t.ecma += std::to_string(it->second);
                i = end + 1;
                continue;
            } else {
                t.ecma += c;
                t.ecma += next;
            }
            i += 2;
            continue;
        }
        if (in_class) {
            if (c == ']') in_class = false;
            t.ecma += c;
            ++i;
            continue;
        }
        if (c == '[') {
            in_class = true;
            t.ecma += c;
            ++i;
            if (i < p.size() && p[i] == '^') t.ecma += p[i++];
            if (i < p.size() && p[i] == ']') {  // .NET: a leading ']' is a member of the class
                t.ecma += "\\]";
                ++i;
            }
            continue;
        }
        if (c == '(' && i + 1 < p.size() && p[i + 1] == '?') {
            const char kind = i + 2 < p.size() ? p[i + 2] : '\0';
            const char after = i + 3 < p.size() ? p[i + 3] : '\0';
            if ((kind == '<' && after != '=' && after != '!') || kind == '\'') {
                const char close = kind == '<' ? '>' : '\'';
                std::size_t j = i + 3;
                while (j < p.size() && is_group_name_char(p[j])) ++j;
                if (j >= p.size() || p[j] != close || j == i + 3) return fail("bad group name in (?<name>…)");
                t.named.emplace_back(std::string(p.substr(i + 3, j - i - 3)), ++groups);
                t.ecma += '(';
                i = j + 1;
                continue;
            }
            if (kind == ':' || kind == '=' || kind == '!') {
                t.ecma += "(?";
                t.ecma += kind;
                i += 3;
                continue;
            }
            if (kind == '<') return fail("lookbehind (?<= / (?<! is not supported by ECMAScript regex");
            return fail("the group construct (?" + std::string(1, kind) + " is not supported");
        }
        if (c == '(') {
            t.unnamed.push_back(++groups);
        }
        t.ecma += c;
        ++i;
    }
    if (in_class) return fail("unterminated character class '['");
    return t;
}

using SvIterator = std::string_view::const_iterator;
using SvMatch = std::match_results<SvIterator>;

std::optional<std::size_t> group_index(const CompiledPattern& pattern, std::string_view group) {
    for (const auto& [name, index] : pattern.named) {
        if (name == group) return index;
    }
    std::size_t number = 0;
    const auto res = std::from_chars(group.data(), group.data() + group.size(), number);
    if (!group.empty() && res.ec == std::errc{} && res.ptr == group.data() + group.size() &&
        number < pattern.by_dotnet_number.size()) {
        return pattern.by_dotnet_number[number];
    }
    return std::nullopt;
}

std::string_view group_text(const SvMatch& m, std::size_t index) {
    if (index >= m.size() || !m[index].matched) return {};
    return {&*m[index].first, static_cast<std::size_t>(m[index].length())};
}

// .NET substitutions: $n, ${n}, ${name}, $$, $&, $`, $', $+, $_.
void expand_substitution(std::string& out, const CompiledPattern& pattern, const SvMatch& m,
                         std::string_view input, std::string_view replacement) {
    for (std::size_t i = 0; i < replacement.size(); ++i) {
        const char c = replacement[i];
        if (c != '$' || i + 1 >= replacement.size()) {
            out += c;
            continue;
        }
        const char next = replacement[i + 1];
        if (next == '$') {
            out += '$';
            ++i;
        } else if (next == '&') {
            out += group_text(m, 0);
            ++i;
        } else if (next == '`') {
            out += input.substr(0, static_cast<std::size_t>(m.position(0)));
            ++i;
        } else if (next == '\'') {
            out += input.substr(static_cast<std::size_t>(m.position(0) + m.length(0)));
            ++i;
        } else if (next == '_') {
            out += input;
            ++i;
        } else if (next == '+') {
            if (pattern.by_dotnet_number.size() > 1) out += group_text(m, pattern.by_dotnet_number.back());
            ++i;
        } else if (next == '{') {
            const auto end = replacement.find('}', i + 2);
            const auto index = end == std::string_view::npos
                                   ? std::nullopt
                                   : group_index(pattern, replacement.substr(i + 2, end - i - 2));
            if (!index) {
                out += c;  // not a substitution: kept literally, as .NET does
                continue;
            }
            out += group_text(m, *index);
            i = end;
        } else if (next >= '0' && next <= '9') {
            // The longest run of digits that names a group, as .NET reads it.
            std::size_t j = i + 1;
            std::size_t best_end = 0;
            std::size_t number = 0;
            std::size_t best = 0;
            while (j < replacement.size() && replacement[j] >= '0' && replacement[j] <= '9' && number < 100000) {
                number = number * 10 + static_cast<std::size_t>(replacement[j] - '0');
                ++j;
                if (number < pattern.by_dotnet_number.size()) {
                    best = number;
                    best_end = j;
                }
            }
            if (best_end == 0) {
                out += c;
                continue;
            }
            out += group_text(m, pattern.by_dotnet_number[best]);
            i = best_end - 1;
        } else {
            out += c;
        }
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::size_t utf8_length(std::string_view text) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < text.size(); ++n) i += decode_at(text, i).length;
    return n;
}

std::size_t utf8_offset(std::string_view text, std::size_t code_points) {
    std::size_t i = 0;
    for (std::size_t n = 0; n < code_points && i < text.size(); ++n) i += decode_at(text, i).length;
    return i;
}

std::string to_lower(std::string_view text) { return map_case(text, simple_lower); }

std::string to_upper(std::string_view text) { return map_case(text, simple_upper); }

std::string normalize_diacritics(std::string_view text) {
    if (is_ascii(text)) return std::string(text);
    std::string out;
    out.reserve(text.size());
    bool after_latin = false;
    for (std::size_t i = 0; i < text.size();) {
        const auto cp = decode_at(text, i);
        if (cp.valid && after_latin && is_combining_mark(cp.value)) {
            i += cp.length;  // the accent of ā́, a̱…: dropped with its letter's other marks
            continue;
        }
        if (const auto* replacement = cp.valid ? diacritic_replacement(cp.value) : nullptr) {
            out += *replacement;
            after_latin = true;
        } else {
            out.append(text.substr(i, cp.length));
            after_latin = cp.value < 0x80 && (in(cp.value, 'a', 'z') || in(cp.value, 'A', 'Z'));
        }
        i += cp.length;
    }
    return out;
}

std::string proper_case(std::string_view text, std::optional<std::string_view> separators) {
    std::vector<char32_t> separator_set;
    if (separators) separator_set = decode_all(*separators);
    std::string out;
    out.reserve(text.size());
    bool word_start = true;
    for (std::size_t i = 0; i < text.size();) {
        const auto cp = decode_at(text, i);
        const bool separator =
            separators ? std::find(separator_set.begin(), separator_set.end(), cp.value) != separator_set.end()
                       : is_default_separator(cp.value);
        if (separator || !cp.valid || is_combining_mark(cp.value)) {
            out.append(text.substr(i, cp.length));
            if (separator) word_start = true;
        } else {
            append_utf8(out, word_start ? simple_upper(cp.value) : simple_lower(cp.value));
            word_start = false;
        }
        i += cp.length;
    }
    return out;
}

std::string_view word_at(std::string_view text, std::int64_t number, std::string_view delimiters) {
    if (number < 1) return {};
    const auto delimiter_set = decode_all(delimiters);
    std::int64_t seen = 0;
    std::size_t start = std::string_view::npos;
    for (std::size_t i = 0; i <= text.size();) {
        const bool end = i == text.size();
        const auto cp = end ? CodePoint{} : decode_at(text, i);
        const bool delimiter =
            end || std::find(delimiter_set.begin(), delimiter_set.end(), cp.value) != delimiter_set.end();
        if (delimiter) {
            if (start != std::string_view::npos && ++seen == number) return text.substr(start, i - start);
            start = std::string_view::npos;
            if (end) break;
        } else if (start == std::string_view::npos) {
            start = i;
        }
        i += cp.length;
    }
    return {};
}

std::int64_t find_text(std::string_view haystack, std::string_view needle, std::int64_t start,
                       bool ignore_case) {
    if (start < 1) return 0;
    auto h = decode_all(haystack);
    auto n = decode_all(needle);
    const auto from = static_cast<std::size_t>(start - 1);
    if (from > h.size()) return 0;
    if (n.empty()) return start;
    if (ignore_case) {
        for (auto& c : h) c = simple_lower(c);
        for (auto& c : n) c = simple_lower(c);
    }
    const auto it = std::search(h.begin() + static_cast<std::ptrdiff_t>(from), h.end(), n.begin(), n.end());
    return it == h.end() ? 0 : static_cast<std::int64_t>(it - h.begin()) + 1;
}

std::string base64_utf16le(std::string_view text) {
    std::string bytes;
    bytes.reserve(text.size() * 2);
    const auto put = [&](char32_t unit) {
        bytes += static_cast<char>(unit & 0xFF);
        bytes += static_cast<char>((unit >> 8) & 0xFF);
    };
    for (std::size_t i = 0; i < text.size();) {
        const auto cp = decode_at(text, i);
        const char32_t c = cp.valid ? cp.value : 0xFFFD;
        if (c >= 0x10000) {
            put(0xD800 + ((c - 0x10000) >> 10));
            put(0xDC00 + ((c - 0x10000) & 0x3FF));
        } else {
            put(c);
        }
        i += cp.length;
    }
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
        std::uint32_t chunk = 0;
        for (std::size_t k = 0; k < 3; ++k) {
            chunk = (chunk << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0U);
        }
        for (std::size_t k = 0; k < 4; ++k) {
            out += k <= n ? kAlphabet[(chunk >> (18 - 6 * k)) & 0x3F] : '=';
        }
    }
    return out;
}

std::string utf8_hex(std::string_view text) {
    static constexpr std::string_view kDigits = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size() * 2);
    for (char c : text) {
        const auto b = static_cast<unsigned char>(c);
        out += kDigits[b >> 4];
        out += kDigits[b & 0x0F];
    }
    return out;
}

std::optional<std::string> format_date_time(std::string_view source, std::string_view styles,
                                            std::string_view input_format,
                                            std::string_view output_format) {
    const auto parsed_styles = parse_styles(styles);
    const auto input_tokens = tokenize_format(input_format);
    const auto output_tokens = tokenize_format(output_format);
    if (!parsed_styles || !input_tokens || !output_tokens) return std::nullopt;
    const auto value = parse_date(source, *input_tokens, *parsed_styles);
    if (!value) return std::nullopt;
    return format_date(*value, *output_tokens);
}

PatternOrError compile_pattern(std::string_view dotnet_pattern) {
    auto t = translate_pattern(dotnet_pattern);
    if (!t.error.empty()) return {nullptr, std::move(t.error)};
    auto compiled = std::make_shared<CompiledPattern>();
    try {
        compiled->regex = std::regex(t.ecma, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
        return {nullptr, e.what()};
    }
    compiled->named = std::move(t.named);
    compiled->by_dotnet_number.push_back(0);
    compiled->by_dotnet_number.insert(compiled->by_dotnet_number.end(), t.unnamed.begin(), t.unnamed.end());
    for (const auto& [name, index] : compiled->named) compiled->by_dotnet_number.push_back(index);
    return {std::move(compiled), {}};
}

// std::regex reports runaway backtracking with an exception; none may leave the evaluator.
// It does not report recursion: libstdc++'s matcher recurses once per character of a match,
// so a long source (1,000,000 spaces against "[ \t]+") overflows the lane's stack. Sources
// over kMaxRegexInputBytes, the scoping filters' limit, are treated as not matching: Replace
// keeps them as they are (null would make an update remove the attribute from the target) and
// an extraction finds nothing.
std::optional<std::string> regex_replace_all(const CompiledPattern& pattern, std::string_view source,
                                             std::string_view replacement) {
    if (source.size() > kMaxRegexInputBytes) return std::string(source);
    try {
        std::string out;
        auto last = source.begin();
        for (std::regex_iterator<SvIterator> it(source.begin(), source.end(), pattern.regex), end; it != end; ++it) {
            const auto& m = *it;
            out.append(last, m[0].first);
            expand_substitution(out, pattern, m, source, replacement);
            last = m[0].second;
        }
        out.append(last, source.end());
        return out;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::optional<std::string> regex_replace_group(const CompiledPattern& pattern, std::string_view source,
                                               std::string_view group, std::string_view replacement) {
    const auto index = group_index(pattern, group);
    if (!index) return std::string(source);
    if (source.size() > kMaxRegexInputBytes) return std::string(source);
    try {
        std::string out;
        auto last = source.begin();
        for (std::regex_iterator<SvIterator> it(source.begin(), source.end(), pattern.regex), end; it != end; ++it) {
            const auto& g = (*it)[*index];
            if (!g.matched) continue;
            out.append(last, g.first);
            out += replacement;
            last = g.second;
        }
        out.append(last, source.end());
        return out;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::optional<std::string> regex_extract_group(const CompiledPattern& pattern, std::string_view source,
                                               std::string_view group) {
    const auto index = group_index(pattern, group);
    if (!index) return std::nullopt;
    if (source.size() > kMaxRegexInputBytes) return std::nullopt;
    try {
        SvMatch m;
        if (!std::regex_search(source.begin(), source.end(), m, pattern.regex) || !m[*index].matched) {
            return std::nullopt;
        }
        return std::string(m[*index].first, m[*index].second);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

}  // namespace provbridge::transforms::detail
