// Evaluation of Entra mapping expressions. Each function below follows the Entra function
// reference; where the reference is silent about nulls, the choice is written next to it.
//
// Performance: names are resolved to a table row at parse time, attribute and constant nodes
// are read by reference (evaluate_ref), and text is handled through string_views, so
// `[mail]` costs one map lookup and `Join(" ", [givenName], [surname])` one string allocation.
#include "provbridge/transforms/expression.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "provbridge/core/text.hpp"

namespace provbridge::transforms {

using nlohmann::json;

namespace detail {

using Impl = const json& (*)(const Expression& call, const SourceContext& context, json& out);

inline constexpr std::size_t kUnbounded = std::numeric_limits<std::size_t>::max();

struct FunctionInfo {
    std::string_view name;
    Impl impl;  // null: in Entra's reference but not implemented here
    std::size_t min_args;
    std::size_t max_args;
    std::string_view unsupported;  // why, when impl is null
};

}  // namespace detail

namespace {

using detail::FunctionInfo;

const json kNull;
const json kTrue = true;
const json kFalse = false;

const json& boolean(bool b) { return b ? kTrue : kFalse; }

// ---------------------------------------------------------------------------------------------
// Values

bool is_null_value(const json& v) { return v.is_null() || (v.is_array() && v.empty()); }

// Entra's directory has no empty strings: "" counts as absent wherever absence matters.
bool is_absent(const json& v) {
    return is_null_value(v) || (v.is_string() && v.get_ref<const std::string&>().empty());
}

std::string_view format_double(double d, std::string& buffer) {
    if (!std::isfinite(d)) return {};
    std::array<char, 32> buf{};
    std::to_chars_result res{};
    if (std::trunc(d) == d && std::fabs(d) < 1e15) {
        res = std::to_chars(buf.data(), buf.data() + buf.size(), static_cast<long long>(d));
    } else {
        res = std::to_chars(buf.data(), buf.data() + buf.size(), d);
    }
    buffer.assign(buf.data(), res.ptr);
    return buffer;
}

// A value as Entra's string: booleans "True"/"False", numbers in invariant form, a
// single-valued array as its element. Null, objects and longer arrays have no text.
std::optional<std::string_view> text_of(const json& v, std::string& buffer) {
    switch (v.type()) {
        case json::value_t::string:
            return std::string_view(v.get_ref<const std::string&>());
        case json::value_t::boolean:
            return v.get<bool>() ? std::string_view("True") : std::string_view("False");
        case json::value_t::number_integer:
            buffer = std::to_string(v.get<std::int64_t>());
            return std::string_view(buffer);
        case json::value_t::number_unsigned:
            buffer = std::to_string(v.get<std::uint64_t>());
            return std::string_view(buffer);
        case json::value_t::number_float:
            return format_double(v.get<double>(), buffer);
        case json::value_t::array:
            if (v.size() == 1) return text_of(v.front(), buffer);
            return std::nullopt;
        default:
            return std::nullopt;
    }
}

std::string_view trim_spaces(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::optional<double> number_of(const json& v) {
    if (v.is_number()) return v.get<double>();
    if (v.is_string()) {
        const auto s = trim_spaces(v.get_ref<const std::string&>());
        double d = 0;
        const auto res = std::from_chars(s.data(), s.data() + s.size(), d);
        if (!s.empty() && res.ec == std::errc{} && res.ptr == s.data() + s.size() && std::isfinite(d)) return d;
    }
    if (v.is_array() && v.size() == 1) return number_of(v.front());
    return std::nullopt;
}

std::optional<std::int64_t> integer_of(const json& v) {
    if (v.is_number_integer()) return v.get<std::int64_t>();
    if (v.is_string()) {
        const auto s = trim_spaces(v.get_ref<const std::string&>());
        std::int64_t n = 0;
        const auto res = std::from_chars(s.data(), s.data() + s.size(), n);
        if (!s.empty() && res.ec == std::errc{} && res.ptr == s.data() + s.size()) return n;
    }
    const auto d = number_of(v);
    if (!d || std::fabs(*d) > 9e18) return std::nullopt;
    return std::llround(*d);  // VB's conversions round
}

// True/False as Entra reads them: booleans, "True"/"False" in any case, numbers (non-zero).
std::optional<bool> truth_of(const json& v) {
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_string()) {
        const auto& s = v.get_ref<const std::string&>();
        if (iequals(s, "true")) return true;
        if (iequals(s, "false")) return false;
    }
    if (v.is_array() && v.size() == 1) return truth_of(v.front());
    if (const auto d = number_of(v)) return *d != 0;
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Evaluation plumbing

const json& arg(const Expression& call, std::size_t i, const SourceContext& ctx, json& scratch) {
    return i < call.args.size() ? evaluate_ref(call.args[i], ctx, scratch) : kNull;
}

// Whether an argument was written at all: Replace picks its mode from which ones were.
bool provided(const Expression& call, std::size_t i) {
    return i < call.args.size() && call.args[i].kind != Expression::Kind::Empty;
}

// Returns v from a function, moving it into `out` if it lives in the function's own scratch.
const json& pass(const json& v, json& local, json& out) {
    if (&v != &local) return v;
    out = std::move(local);
    return out;
}

const json& string_result(std::string s, json& out) {
    out = std::move(s);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Functions, alphabetically as in Entra's reference

// Append(source, suffix). A null source gives null: nothing to append to.
const json& fn_append(const Expression& call, const SourceContext& ctx, json& out) {
    json s0, s1;
    std::string b0, b1;
    const auto source = text_of(arg(call, 0, ctx, s0), b0);
    if (!source) return kNull;
    const auto suffix = text_of(arg(call, 1, ctx, s1), b1);
    std::string r;
    r.reserve(source->size() + (suffix ? suffix->size() : 0));
    r += *source;
    if (suffix) r += *suffix;
    return string_result(std::move(r), out);
}

// BitAnd(value1, value2), integers (&HF7 literals included).
const json& fn_bit_and(const Expression& call, const SourceContext& ctx, json& out) {
    json s0, s1;
    const auto a = integer_of(arg(call, 0, ctx, s0));
    const auto b = integer_of(arg(call, 1, ctx, s1));
    if (!a || !b) return kNull;
    out = *a & *b;
    return out;
}

// CBool(expression): True for a true or non-zero value, False for false, zero or null; null
// when the value cannot be read as a boolean (VB raises a type mismatch there).
const json& fn_cbool(const Expression& call, const SourceContext& ctx, json& /*out*/) {
    json s0;
    const json& v = arg(call, 0, ctx, s0);
    if (is_absent(v)) return kFalse;
    const auto b = truth_of(v);
    return b ? boolean(*b) : kNull;
}

// Coalesce(source1, …, defaultValue): the first value that is not null (nor "").
const json& fn_coalesce(const Expression& call, const SourceContext& ctx, json& out) {
    for (const auto& a : call.args) {
        const json& v = evaluate_ref(a, ctx, out);
        if (!is_absent(v)) return v;
    }
    return kNull;
}

// The shape of the one-argument text functions: null in, null out; otherwise the transform
// of the argument's text.
template <std::string (*Transform)(std::string_view)>
const json& text_function(const Expression& call, const SourceContext& ctx, json& out) {
    json s0;
    std::string b0;
    const auto text = text_of(arg(call, 0, ctx, s0), b0);
    return text ? string_result(Transform(*text), out) : kNull;
}

const json& fn_convert_to_base64(const Expression& call, const SourceContext& ctx, json& out) {
    return text_function<&detail::base64_utf16le>(call, ctx, out);
}

const json& fn_convert_to_utf8_hex(const Expression& call, const SourceContext& ctx, json& out) {
    return text_function<&detail::utf8_hex>(call, ctx, out);
}

// Count(attribute): elements of a multi-valued attribute; 0 when absent, 1 for a single value.
const json& fn_count(const Expression& call, const SourceContext& ctx, json& out) {
    json s0;
    const json& v = arg(call, 0, ctx, s0);
    out = is_absent(v) ? std::int64_t{0} : v.is_array() ? static_cast<std::int64_t>(v.size()) : std::int64_t{1};
    return out;
}

// CStr(value): the value as a string; null stays null.
const json& fn_cstr(const Expression& call, const SourceContext& ctx, json& out) {
    json s0;
    std::string b0;
    const json& v = arg(call, 0, ctx, s0);
    if (v.is_string()) return pass(v, s0, out);
    const auto text = text_of(v, b0);
    return text ? string_result(std::string(*text), out) : kNull;
}

// FormatDateTime(source, dateTimeStyles, inputFormat, outputFormat); the older three-argument
// form (source, inputFormat, outputFormat) is accepted too. Null when the source does not match.
const json& fn_format_date_time(const Expression& call, const SourceContext& ctx, json& out) {
    const bool with_styles = call.args.size() == 4;
    json s0, s1, s2, s3;
    std::string b0, b1, b2, b3;
    const auto source = text_of(arg(call, 0, ctx, s0), b0);
    if (!source) return kNull;
    const auto styles = with_styles ? text_of(arg(call, 1, ctx, s1), b1) : std::nullopt;
    const auto input = text_of(arg(call, with_styles ? 2 : 1, ctx, s2), b2);
    const auto output = text_of(arg(call, with_styles ? 3 : 2, ctx, s3), b3);
    if (!input || !output) return kNull;
    auto r = detail::format_date_time(*source, styles.value_or(std::string_view{}), *input, *output);
    return r ? string_result(std::move(*r), out) : kNull;
}

// IIF(condition, valueIfTrue, valueIfFalse); only the chosen branch is evaluated. A condition
// that is null (as a comparison with a null or empty operand is) gives null, which Entra's
// reference describes as "the condition check fails".
const json& fn_iif(const Expression& call, const SourceContext& ctx, json& out) {
    json s0;
    const auto condition = truth_of(arg(call, 0, ctx, s0));
    if (!condition) return kNull;
    return evaluate_ref(call.args[*condition ? 1 : 2], ctx, out);
}

// InStr(value1, value2, start, compareType): 1-based position, 0 when not found; null when
// either string is null (as VB's InStr).
const json& fn_instr(const Expression& call, const SourceContext& ctx, json& out) {
    json s0, s1, s2, s3;
    std::string b0, b1, b3;
    const auto haystack = text_of(arg(call, 0, ctx, s0), b0);
    const auto needle = text_of(arg(call, 1, ctx, s1), b1);
    if (!haystack || !needle) return kNull;
    std::int64_t start = 1;
    if (provided(call, 2)) {
        const auto s = integer_of(arg(call, 2, ctx, s2));
        if (!s || *s < 1) return kNull;
        start = *s;
    }
    bool ignore_case = false;
    if (provided(call, 3)) {
        const json& type = arg(call, 3, ctx, s3);
        const auto name = text_of(type, b3);
        if (name && (*name == "vbTextCompare" || *name == "1")) {
            ignore_case = true;
        } else if (!(name && (*name == "vbBinaryCompare" || *name == "0"))) {
            return kNull;
        }
    }
    out = detail::find_text(*haystack, *needle, start, ignore_case);
    return out;
}

const json& fn_is_null(const Expression& call, const SourceContext& ctx, json& /*out*/) {
    json s0;
    return boolean(is_null_value(arg(call, 0, ctx, s0)));
}

const json& fn_is_null_or_empty(const Expression& call, const SourceContext& ctx, json& /*out*/) {
    json s0;
    return boolean(is_absent(arg(call, 0, ctx, s0)));
}

const json& fn_is_present(const Expression& call, const SourceContext& ctx, json& /*out*/) {
    json s0;
    return boolean(!is_absent(arg(call, 0, ctx, s0)));
}

const json& fn_is_string(const Expression& call, const SourceContext& ctx, json& /*out*/) {
    json s0;
    return boolean(arg(call, 0, ctx, s0).is_string());
}

// Item(attribute, index): 1-based; a single value is a one-item list; null when out of range.
const json& fn_item(const Expression& call, const SourceContext& ctx, json& out) {
    json s0, s1;
    const json& v = arg(call, 0, ctx, s0);
    const auto index = integer_of(arg(call, 1, ctx, s1));
    if (!index || *index < 1 || is_null_value(v)) return kNull;
    if (!v.is_array()) return *index == 1 ? pass(v, s0, out) : kNull;
    if (static_cast<std::uint64_t>(*index) > v.size()) return kNull;
    const json& element = v[static_cast<std::size_t>(*index - 1)];
    if (&v != &s0) return element;
    out = element;
    return out;
}

// Join(separator, source1, …): nulls and empty strings are left out, arrays contribute every
// element. Null when nothing is left.
const json& fn_join(const Expression& call, const SourceContext& ctx, json& out) {
    json s0;
    std::string b0;
    const auto separator = text_of(arg(call, 0, ctx, s0), b0).value_or(std::string_view{});
    std::string r;
    r.reserve(64);  // one allocation for the usual name-sized result
    bool any = false;
    std::string buffer;
    const auto append = [&](const json& item) {
        const auto text = text_of(item, buffer);
        if (!text || text->empty()) return;
        if (any) r += separator;
        r += *text;
        any = true;
    };
    for (std::size_t i = 1; i < call.args.size(); ++i) {
        json scratch;
        const json& v = evaluate_ref(call.args[i], ctx, scratch);
        if (v.is_array()) {
            for (const auto& item : v) append(item);
        } else {
            append(v);
        }
    }
    return any ? string_result(std::move(r), out) : kNull;
}

// Left(string, numChars): numChars 0 → "", negative → the whole string, null string → "".
const json& fn_left(const Expression& call, const SourceContext& ctx, json& out) {
    json s0, s1;
    std::string b0;
    const json& v = arg(call, 0, ctx, s0);
    const auto count = integer_of(arg(call, 1, ctx, s1));
    if (!count) return kNull;
    const auto text = text_of(v, b0);
    if (!text || *count == 0) return string_result({}, out);
    if (*count < 0) return string_result(std::string(*text), out);
    const auto end = detail::utf8_offset(*text, static_cast<std::size_t>(*count));
    if (end == text->size() && v.is_string()) return pass(v, s0, out);
    return string_result(std::string(text->substr(0, end)), out);
}

// Mid(source, start, length): start is 1-based; a length past the end stops at the end. Null
// for a null source or a start below 1 / negative length.
const json& fn_mid(const Expression& call, const SourceContext& ctx, json& out) {
    json s0, s1, s2;
    std::string b0;
    const auto text = text_of(arg(call, 0, ctx, s0), b0);
    const auto start = integer_of(arg(call, 1, ctx, s1));
    const auto length = integer_of(arg(call, 2, ctx, s2));
    if (!text || !start || !length || *start < 1 || *length < 0) return kNull;
    const auto from = detail::utf8_offset(*text, static_cast<std::size_t>(*start - 1));
    const auto rest = text->substr(from);
    return string_result(std::string(rest.substr(0, detail::utf8_offset(rest, static_cast<std::size_t>(*length)))),
                         out);
}

const json& fn_normalize_diacritics(const Expression& call, const SourceContext& ctx, json& out) {
    json s0;
    std::string b0;
    const json& v = arg(call, 0, ctx, s0);
    const auto text = text_of(v, b0);
    if (!text) return kNull;
    const bool ascii = std::all_of(text->begin(), text->end(),
                                   [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    if (ascii && v.is_string()) return pass(v, s0, out);
    return string_result(detail::normalize_diacritics(*text), out);
}

// Not(source): False when source is True; otherwise (False, null, anything else) True, as the
// reference words it.
const json& fn_not(const Expression& call, const SourceContext& ctx, json& /*out*/) {
    json s0;
    return boolean(truth_of(arg(call, 0, ctx, s0)) != std::optional<bool>(true));
}

// PCase(source, wordSeparators); an omitted or empty wordSeparators uses .NET's default set.
const json& fn_pcase(const Expression& call, const SourceContext& ctx, json& out) {
    json s0, s1;
    std::string b0, b1;
    const auto text = text_of(arg(call, 0, ctx, s0), b0);
    if (!text) return kNull;
    auto separators = text_of(arg(call, 1, ctx, s1), b1);
    if (separators && separators->empty()) separators.reset();
    return string_result(detail::proper_case(*text, separators), out);
}

// RemoveDuplicates(attribute): first occurrences kept, in order.
const json& fn_remove_duplicates(const Expression& call, const SourceContext& ctx, json& out) {
    json s0;
    const json& v = arg(call, 0, ctx, s0);
    if (!v.is_array()) return is_null_value(v) ? kNull : pass(v, s0, out);
    json r = json::array();
    for (const auto& item : v) {
        if (std::find(r.begin(), r.end(), item) == r.end()) r.push_back(item);
    }
    out = std::move(r);
    return out;
}

std::string replace_all(std::string_view text, std::string_view old_value, std::string_view replacement) {
    std::string r;
    std::size_t last = 0;
    for (auto at = text.find(old_value); at != std::string_view::npos; at = text.find(old_value, last)) {
        r.append(text.substr(last, at - last));
        r += replacement;
        last = at + old_value.size();
    }
    r.append(text.substr(last));
    return r;
}

// Replace(source, oldValue, regexPattern, regexGroupName, replacementValue,
//         replacementAttributeName, template). The mode follows which arguments were written
// (an empty argument is "not provided", "" is provided), in the reference's order:
//   oldValue + replacementValue         → every oldValue in source replaced
//   oldValue + template                 → every oldValue in template replaced by source
//   regexPattern + replacementValue     → every match replaced, with $1/${name} substitutions
//   regexPattern + regexGroupName + replacementValue → the group's text in every match replaced
//   regexPattern + regexGroupName + replacementAttributeName → source when it has a value,
//                                         else the group extracted from the other attribute
// Any other combination returns the source unchanged. Null source → null (except the last
// mode). Regex syntax is .NET's, translated to ECMAScript std::regex (see expression_functions).
const json& fn_replace(const Expression& call, const SourceContext& ctx, json& out) {
    enum : std::size_t { kSource, kOld, kPattern, kGroup, kReplacement, kAttribute, kTemplate };
    json s0, s1, s2, s3, s4, s5, s6;
    std::string b0, b1, b2, b3, b4, b5, b6;
    const json& source_value = arg(call, kSource, ctx, s0);
    const auto source = text_of(source_value, b0);
    const auto unchanged = [&]() -> const json& { return source ? pass(source_value, s0, out) : kNull; };

    if (provided(call, kOld)) {
        const auto old_value = text_of(arg(call, kOld, ctx, s1), b1).value_or(std::string_view{});
        if (provided(call, kReplacement)) {
            if (!source) return kNull;
            if (old_value.empty()) return unchanged();
            const auto replacement = text_of(arg(call, kReplacement, ctx, s4), b4).value_or(std::string_view{});
            return string_result(replace_all(*source, old_value, replacement), out);
        }
        if (provided(call, kTemplate)) {
            const auto templ = text_of(arg(call, kTemplate, ctx, s6), b6);
            if (!source || !templ) return kNull;
            if (old_value.empty()) return string_result(std::string(*templ), out);
            return string_result(replace_all(*templ, old_value, *source), out);
        }
        return unchanged();
    }
    if (!provided(call, kPattern)) return unchanged();

    const detail::CompiledPattern* pattern = call.pattern.get();
    detail::PatternOrError dynamic;
    if (pattern == nullptr) {
        const auto text = text_of(arg(call, kPattern, ctx, s2), b2);
        if (!text) return kNull;
        dynamic = detail::compile_pattern(*text);
        if (!dynamic.pattern) return kNull;
        pattern = dynamic.pattern.get();
    }
    std::optional<std::string> r;
    if (provided(call, kGroup)) {
        const auto group = text_of(arg(call, kGroup, ctx, s3), b3);
        if (!group) return kNull;
        if (provided(call, kReplacement)) {
            if (!source) return kNull;
            const auto replacement = text_of(arg(call, kReplacement, ctx, s4), b4).value_or(std::string_view{});
            r = detail::regex_replace_group(*pattern, *source, *group, replacement);
        } else if (provided(call, kAttribute)) {
            if (source && !source->empty()) return unchanged();
            const auto other = text_of(arg(call, kAttribute, ctx, s5), b5);
            if (!other) return kNull;
            r = detail::regex_extract_group(*pattern, *other, *group);
        } else {
            return unchanged();
        }
    } else if (provided(call, kReplacement)) {
        if (!source) return kNull;
        const auto replacement = text_of(arg(call, kReplacement, ctx, s4), b4).value_or(std::string_view{});
        r = detail::regex_replace_all(*pattern, *source, replacement);
    } else {
        return unchanged();
    }
    return r ? string_result(std::move(*r), out) : kNull;
}

// SelectUniqueValue(rule1, rule2, …): the first candidate that is not null (nor "") and that
// the injected lookup does not report as taken. Null when every candidate is taken (Entra
// escrows the entry then).
const json& fn_select_unique_value(const Expression& call, const SourceContext& ctx, json& out) {
    for (const auto& a : call.args) {
        const json& v = evaluate_ref(a, ctx, out);
        if (is_absent(v)) continue;
        if (ctx.unique_values != nullptr && ctx.unique_values->taken(ctx.target_path, v)) continue;
        return v;
    }
    return kNull;
}

// SingleAppRoleAssignment([appRoleAssignments]): the role of the event's assignment.
const json& fn_single_app_role_assignment(const Expression& /*call*/, const SourceContext& ctx, json& out) {
    if (!ctx.role) return kNull;
    out = *ctx.role;
    return out;
}

// Split(source, delimiter): a multi-valued array. Items are trimmed and empty items dropped,
// as the reference's example shows ("PermissionSetOne, PermissionSetTwo" split on ","); null
// when no item is left.
const json& fn_split(const Expression& call, const SourceContext& ctx, json& out) {
    json s0, s1;
    std::string b0, b1;
    const auto text = text_of(arg(call, 0, ctx, s0), b0);
    if (!text) return kNull;
    const auto delimiter = text_of(arg(call, 1, ctx, s1), b1).value_or(std::string_view{});
    json r = json::array();
    const auto add = [&](std::string_view item) {
        item = trim_spaces(item);
        if (!item.empty()) r.push_back(std::string(item));
    };
    if (delimiter.empty()) {
        add(*text);
    } else {
        std::size_t last = 0;
        for (auto at = text->find(delimiter); at != std::string_view::npos; at = text->find(delimiter, last)) {
            add(text->substr(last, at - last));
            last = at + delimiter.size();
        }
        add(text->substr(last));
    }
    if (r.empty()) return kNull;
    out = std::move(r);
    return out;
}

// StripSpaces(source): every " " removed.
const json& fn_strip_spaces(const Expression& call, const SourceContext& ctx, json& out) {
    json s0;
    std::string b0;
    const json& v = arg(call, 0, ctx, s0);
    const auto text = text_of(v, b0);
    if (!text) return kNull;
    if (text->find(' ') == std::string_view::npos && v.is_string()) return pass(v, s0, out);
    std::string r;
    r.reserve(text->size());
    for (char c : *text) {
        if (c != ' ') r += c;
    }
    return string_result(std::move(r), out);
}

// Switch(source, defaultValue, key1, value1, …): case-sensitive string comparison; a null
// source compares as "" (the reference's advice: use "" as a key for empty values). Only the
// chosen value is evaluated.
const json& fn_switch(const Expression& call, const SourceContext& ctx, json& out) {
    json s0;
    std::string b0;
    const auto source = text_of(arg(call, 0, ctx, s0), b0).value_or(std::string_view{});
    std::string key_buffer;
    for (std::size_t i = 2; i + 1 < call.args.size(); i += 2) {
        json key_scratch;
        const auto key = text_of(evaluate_ref(call.args[i], ctx, key_scratch), key_buffer);
        if (key.value_or(std::string_view{}) == source) return evaluate_ref(call.args[i + 1], ctx, out);
    }
    return evaluate_ref(call.args[1], ctx, out);
}

// ToLower(source, culture) / ToUpper(source, culture): invariant culture; culture is accepted
// and ignored.
const json& fn_to_lower(const Expression& call, const SourceContext& ctx, json& out) {
    return text_function<&detail::to_lower>(call, ctx, out);
}

const json& fn_to_upper(const Expression& call, const SourceContext& ctx, json& out) {
    return text_function<&detail::to_upper>(call, ctx, out);
}

// Word(string, wordNumber, delimiters): "" when the string is null, the number is below 1 or
// there are fewer words.
const json& fn_word(const Expression& call, const SourceContext& ctx, json& out) {
    json s0, s1, s2;
    std::string b0, b2;
    const auto number = integer_of(arg(call, 1, ctx, s1));
    if (!number) return kNull;
    const auto text = text_of(arg(call, 0, ctx, s0), b0);
    const auto delimiters = text_of(arg(call, 2, ctx, s2), b2).value_or(std::string_view{});
    if (!text) return string_result({}, out);
    return string_result(std::string(detail::word_at(*text, *number, delimiters)), out);
}

constexpr std::string_view kDates = "date arithmetic (CDate, DateAdd, DateDiff…) is not implemented here";

// Every function in Entra's reference; the ones without an implementation say why.
constexpr FunctionInfo kFunctions[] = {
    {"Append", &fn_append, 2, 2, {}},
    {"AppRoleAssignmentsComplex", nullptr, 1, 1,
     "events carry one app role assignment; use SingleAppRoleAssignment"},
    {"BitAnd", &fn_bit_and, 2, 2, {}},
    {"CBool", &fn_cbool, 1, 1, {}},
    {"CDate", nullptr, 1, 1, kDates},
    {"Coalesce", &fn_coalesce, 1, detail::kUnbounded, {}},
    {"ConvertToBase64", &fn_convert_to_base64, 1, 1, {}},
    {"ConvertToUTF8Hex", &fn_convert_to_utf8_hex, 1, 1, {}},
    {"Count", &fn_count, 1, 1, {}},
    {"CStr", &fn_cstr, 1, 1, {}},
    {"DateAdd", nullptr, 3, 3, kDates},
    {"DateDiff", nullptr, 3, 3, kDates},
    {"DateFromNum", nullptr, 1, 1, kDates},
    {"FormatDateTime", &fn_format_date_time, 3, 4, {}},
    {"Guid", nullptr, 0, 0, "it is random, and mappings here must give the same value every time"},
    {"IgnoreFlowIfNullOrEmpty", nullptr, 1, 1,
     "leaving an attribute out of the flow needs support in the mapping, which does not exist yet"},
    {"IIF", &fn_iif, 3, 3, {}},
    {"InStr", &fn_instr, 2, 4, {}},
    {"IsNull", &fn_is_null, 1, 1, {}},
    {"IsNullOrEmpty", &fn_is_null_or_empty, 1, 1, {}},
    {"IsPresent", &fn_is_present, 1, 1, {}},
    {"IsString", &fn_is_string, 1, 1, {}},
    {"Item", &fn_item, 2, 2, {}},
    {"Join", &fn_join, 2, detail::kUnbounded, {}},
    {"Left", &fn_left, 2, 2, {}},
    {"Mid", &fn_mid, 3, 3, {}},
    {"NormalizeDiacritics", &fn_normalize_diacritics, 1, 1, {}},
    {"Not", &fn_not, 1, 1, {}},
    {"Now", nullptr, 0, 0, "it reads the clock, and mappings here must give the same value every time"},
    {"NumFromDate", nullptr, 1, 1, kDates},
    {"PCase", &fn_pcase, 1, 2, {}},
    {"RandomString", nullptr, 5, 6, "it is random, and mappings here must give the same value every time"},
    {"Redact", nullptr, 1, 1, "hiding values from provisioning logs is not implemented"},
    {"RemoveDuplicates", &fn_remove_duplicates, 1, 1, {}},
    {"Replace", &fn_replace, 1, 7, {}},
    {"SelectUniqueValue", &fn_select_unique_value, 2, detail::kUnbounded, {}},
    {"SingleAppRoleAssignment", &fn_single_app_role_assignment, 1, 1, {}},
    {"Split", &fn_split, 2, 2, {}},
    {"StripSpaces", &fn_strip_spaces, 1, 1, {}},
    {"Switch", &fn_switch, 4, detail::kUnbounded, {}},
    {"ToLower", &fn_to_lower, 1, 2, {}},
    {"ToUpper", &fn_to_upper, 1, 2, {}},
    {"Word", &fn_word, 3, 3, {}},
};

const FunctionInfo* find_function(std::string_view name) {
    for (const auto& f : kFunctions) {
        if (f.name == name) return &f;
    }
    return nullptr;
}

bool is_select_unique_value(const Expression& e) {
    return e.kind == Expression::Kind::Call && e.name == "SelectUniqueValue";
}

std::string plural(std::size_t n) { return std::to_string(n) + (n == 1 ? " argument" : " arguments"); }

// Whether a comparison operand has no value. Entra's IIF notes: "If the source attribute used
// within the IIF function is empty or null, the condition check fails"; a literal "" is a value.
bool operand_missing(const Expression& e, const json& v) {
    return is_null_value(v) || (e.kind != Expression::Kind::Constant && is_absent(v));
}

// Comparison operators: numbers compare as numbers when either side is a number and both read
// as one; otherwise as case-sensitive strings. A missing operand makes the comparison null.
const json& evaluate_compare(const Expression& e, const SourceContext& ctx) {
    json ls, rs;
    const json& l = evaluate_ref(e.args[0], ctx, ls);
    const json& r = evaluate_ref(e.args[1], ctx, rs);
    if (operand_missing(e.args[0], l) || operand_missing(e.args[1], r)) return kNull;
    int order = 0;
    const auto ln = (l.is_number() || r.is_number()) ? number_of(l) : std::nullopt;
    const auto rn = ln ? number_of(r) : std::nullopt;
    if (ln && rn) {
        order = *ln < *rn ? -1 : *ln > *rn ? 1 : 0;
    } else {
        std::string lb, rb;
        const auto lt = text_of(l, lb);
        const auto rt = text_of(r, rb);
        if (!lt || !rt) return kNull;
        const int c = lt->compare(*rt);
        order = c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    switch (e.op) {
        case CompareOp::Equal: return boolean(order == 0);
        case CompareOp::NotEqual: return boolean(order != 0);
        case CompareOp::Less: return boolean(order < 0);
        case CompareOp::Greater: return boolean(order > 0);
        case CompareOp::LessEqual: return boolean(order <= 0);
        case CompareOp::GreaterEqual: return boolean(order >= 0);
    }
    return kNull;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

namespace detail {

std::optional<std::string> function_name_problem(std::string_view name) {
    const FunctionInfo* f = find_function(name);
    if (f == nullptr) {
        std::string message = "unknown function " + std::string(name);
        for (const auto& candidate : kFunctions) {
            if (candidate.impl != nullptr && iequals(candidate.name, name)) {
                message += " (function names are case-sensitive: " + std::string(candidate.name) + ")";
                break;
            }
        }
        return message;
    }
    if (f->impl == nullptr) return "unsupported function " + std::string(name) + ": " + std::string(f->unsupported);
    return std::nullopt;
}

std::optional<CallProblem> resolve_call(Expression& call) {
    if (auto problem = function_name_problem(call.name)) return CallProblem{std::move(*problem)};
    const FunctionInfo* f = find_function(call.name);
    const std::size_t n = call.args.size();
    if (n < f->min_args || n > f->max_args) {
        std::string expected;
        if (f->min_args == f->max_args) {
            expected = plural(f->min_args);
        } else if (f->max_args == kUnbounded) {
            expected = "at least " + plural(f->min_args);
        } else {
            expected = std::to_string(f->min_args) + " to " + plural(f->max_args);
        }
        return CallProblem{call.name + " takes " + expected + ", got " + std::to_string(n)};
    }
    if (f->name == "Switch" && n % 2 != 0) {
        return CallProblem{"Switch takes the source, a default value and key/value pairs (an even number of "
                           "arguments), got " + std::to_string(n)};
    }
    for (std::size_t i = 0; i < n; ++i) {
        if (is_select_unique_value(call.args[i])) {
            return CallProblem{"SelectUniqueValue must be the whole expression; it cannot be nested", i};
        }
    }
    if (f->name == "SingleAppRoleAssignment" &&
        !(call.args[0].kind == Expression::Kind::Attribute && call.args[0].name == "appRoleAssignments")) {
        return CallProblem{"SingleAppRoleAssignment takes [appRoleAssignments]", 0};
    }
    if (f->name == "Replace" && n > 2 && call.args[2].kind == Expression::Kind::Constant &&
        call.args[2].constant.is_string()) {
        auto compiled = compile_pattern(call.args[2].constant.get_ref<const std::string&>());
        if (!compiled.pattern) return CallProblem{"invalid regexPattern: " + compiled.error, 2};
        call.pattern = std::move(compiled.pattern);
    }
    call.function = f;
    return std::nullopt;
}

}  // namespace detail

Expression Expression::attribute(std::string name) {
    Expression e;
    e.kind = Kind::Attribute;
    e.soft_deleted = name == "IsSoftDeleted";
    e.name = std::move(name);
    return e;
}

Expression Expression::constant_value(json value) {
    Expression e;
    e.kind = Kind::Constant;
    e.constant = std::move(value);
    return e;
}

Expression Expression::call(std::string name, std::vector<Expression> args) {
    Expression e;
    e.kind = Kind::Call;
    e.name = std::move(name);
    e.args = std::move(args);
    if (auto problem = detail::resolve_call(e)) throw std::invalid_argument(problem->message);
    return e;
}

Expression Expression::compare(CompareOp op, Expression left, Expression right) {
    if (is_select_unique_value(left) || is_select_unique_value(right)) {
        throw std::invalid_argument("SelectUniqueValue must be the whole expression; it cannot be nested");
    }
    Expression e;
    e.kind = Kind::Compare;
    e.op = op;
    e.args.reserve(2);
    e.args.push_back(std::move(left));
    e.args.push_back(std::move(right));
    return e;
}

Expression Expression::empty() {
    Expression e;
    e.kind = Kind::Empty;
    return e;
}

bool is_known_function(const std::string& name) {
    const auto* f = find_function(name);
    return f != nullptr && f->impl != nullptr;
}

const json& evaluate_ref(const Expression& expression, const SourceContext& context, json& scratch) {
    switch (expression.kind) {
        case Expression::Kind::Constant:
            return expression.constant;
        case Expression::Kind::Attribute: {
            if (expression.soft_deleted) return boolean(context.soft_deleted);
            const auto it = context.attributes.find(expression.name);
            return it == context.attributes.end() ? kNull : *it;
        }
        case Expression::Kind::Call:
            // A Call built by hand (not through call() or the parser) has no function: null.
            return expression.function != nullptr ? expression.function->impl(expression, context, scratch) : kNull;
        case Expression::Kind::Compare:
            return evaluate_compare(expression, context);
        case Expression::Kind::Empty:
            return kNull;
    }
    return kNull;
}

json evaluate(const Expression& expression, const SourceContext& context) {
    json scratch;
    const json& result = evaluate_ref(expression, context, scratch);
    if (&result == &scratch) return scratch;
    return result;
}

}  // namespace provbridge::transforms
