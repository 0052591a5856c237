#include "provbridge/transforms/scoping.hpp"

#include <array>
#include <charconv>
#include <limits>
#include <system_error>
#include <utility>

#include "provbridge/core/text.hpp"

namespace provbridge::transforms {
namespace {

using nlohmann::json;

struct OperatorName {
    ScopeOperator op;
    std::string_view spelling;
};

// Entra's own spellings, in the order its portal lists them.
constexpr std::array<OperatorName, 14> kOperators{{
    {ScopeOperator::BitAnd, "&"},
    {ScopeOperator::NotBitAnd, "!&"},
    {ScopeOperator::EndsWith, "ENDS_WITH"},
    {ScopeOperator::Equals, "EQUALS"},
    {ScopeOperator::GreaterThan, "Greater_Than"},
    {ScopeOperator::GreaterThanOrEquals, "Greater_Than_OR_EQUALS"},
    {ScopeOperator::Includes, "Includes"},
    {ScopeOperator::IsFalse, "IS FALSE"},
    {ScopeOperator::IsNotNull, "IS NOT NULL"},
    {ScopeOperator::IsNull, "IS NULL"},
    {ScopeOperator::IsTrue, "IS TRUE"},
    {ScopeOperator::NotEquals, "NOT EQUALS"},
    {ScopeOperator::NotRegexMatch, "NOT REGEX MATCH"},
    {ScopeOperator::RegexMatch, "REGEX MATCH"},
}};

bool takes_integer(ScopeOperator op) {
    return op == ScopeOperator::GreaterThan || op == ScopeOperator::GreaterThanOrEquals ||
           op == ScopeOperator::BitAnd || op == ScopeOperator::NotBitAnd;
}

bool takes_regex(ScopeOperator op) {
    return op == ScopeOperator::RegexMatch || op == ScopeOperator::NotRegexMatch;
}

// Compares spellings with case and the '_' / ' ' choice ignored.
bool same_spelling(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i] == '_' ? ' ' : a[i];
        char y = b[i] == '_' ? ' ' : b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

std::optional<std::int64_t> parse_integer(std::string_view s) {
    std::int64_t out = 0;
    const char* end = s.data() + s.size();
    const auto [ptr, ec] = std::from_chars(s.data(), end, out);
    if (ec != std::errc{} || ptr != end || s.empty()) return std::nullopt;
    return out;
}

// Values are user data and may hold invalid UTF-8; dump() must not throw on them.
std::string dump(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string json_quoted(std::string_view s) { return dump(json(std::string(s))); }

// Keeps reasons readable when an attribute holds a long text or a large array.
std::string shown(const json& v) {
    constexpr std::size_t kMax = 120;
    std::string s = dump(v);
    if (s.size() > kMax) {
        std::size_t cut = kMax;
        // Never split a UTF-8 sequence: reasons end up in JSON logs.
        while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0U) == 0x80U) --cut;
        s.resize(cut);
        s += "…";
    }
    return s;
}

const json* find_attribute(const json& attributes, const std::string& name) {
    if (!attributes.is_object()) return nullptr;
    const auto it = attributes.find(name);
    return it == attributes.end() ? nullptr : &*it;
}

bool is_empty(const json* v) {
    return v == nullptr || v->is_null() ||
           (v->is_string() && v->get_ref<const std::string&>().empty());
}

std::optional<std::int64_t> integer_of(const json& v) {
    if (v.is_number_integer() && !v.is_number_unsigned()) return v.get<std::int64_t>();
    if (v.is_number_unsigned()) {
        const auto u = v.get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
        return static_cast<std::int64_t>(u);
    }
    if (v.is_string()) return parse_integer(v.get_ref<const std::string&>());
    return std::nullopt;
}

std::optional<bool> boolean_of(const json& v) {
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_string()) {
        const auto& s = v.get_ref<const std::string&>();
        if (iequals(s, "true")) return true;
        if (iequals(s, "false")) return false;
    }
    return std::nullopt;
}

// The string form Entra compares: strings as they are, booleans as .NET prints them, numbers in
// decimal. `scratch` holds the digits of a number (short enough to stay in the small buffer).
std::string_view text_of(const json& v, std::string& scratch) {
    if (v.is_string()) return v.get_ref<const std::string&>();
    if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
    scratch = dump(v);
    return scratch;
}

enum class Check {
    True,
    False,
    Empty,        // missing, null or ""
    MultiValued,  // an array
    Complex,      // an object (or binary)
    NotInteger,
    NotBoolean,
    TooLong,      // over kMaxRegexInputBytes
    RegexFailed,  // the regex engine threw while matching
};

Check from_bool(bool b) { return b ? Check::True : Check::False; }

Check search(const ScopeClause& clause, std::string_view text, std::string* regex_error) {
    // A clause assembled by hand rather than through compile() has no automaton.
    if (clause.regex() == nullptr) return Check::False;
    if (text.size() > kMaxRegexInputBytes) return Check::TooLong;
    try {
        return from_bool(std::regex_search(text.begin(), text.end(), *clause.regex()));
    } catch (const std::regex_error& e) {
        if (regex_error != nullptr) *regex_error = e.what();
        return Check::RegexFailed;
    }
}

Check check_clause(const ScopeClause& clause, const json* v, std::string* regex_error) {
    if (is_empty(v)) return clause.op == ScopeOperator::IsNull ? Check::True : Check::Empty;
    if (v->is_array()) return Check::MultiValued;
    if (!v->is_string() && !v->is_boolean() && !v->is_number()) return Check::Complex;

    switch (clause.op) {
        case ScopeOperator::IsNull:
            return Check::False;
        case ScopeOperator::IsNotNull:
            return Check::True;
        case ScopeOperator::IsTrue:
        case ScopeOperator::IsFalse: {
            const auto b = boolean_of(*v);
            if (!b) return Check::NotBoolean;
            return from_bool(*b == (clause.op == ScopeOperator::IsTrue));
        }
        case ScopeOperator::GreaterThan:
        case ScopeOperator::GreaterThanOrEquals:
        case ScopeOperator::BitAnd:
        case ScopeOperator::NotBitAnd: {
            const auto n = integer_of(*v);
            if (!n) return Check::NotInteger;
            const std::int64_t k = clause.integer();
            switch (clause.op) {
                case ScopeOperator::GreaterThan: return from_bool(*n > k);
                case ScopeOperator::GreaterThanOrEquals: return from_bool(*n >= k);
                case ScopeOperator::BitAnd: return from_bool((*n & k) != 0);
                default: return from_bool((*n & k) == 0);
            }
        }
        default:
            break;
    }

    std::string scratch;
    const std::string_view text = text_of(*v, scratch);
    const std::string_view value = clause.value;
    switch (clause.op) {
        case ScopeOperator::Equals:
            return from_bool(text == value);
        case ScopeOperator::NotEquals:
            return from_bool(text != value);
        case ScopeOperator::Includes:
            return from_bool(text.find(value) != std::string_view::npos);
        case ScopeOperator::EndsWith:
            return from_bool(text.ends_with(value));
        case ScopeOperator::RegexMatch:
            return search(clause, text, regex_error);
        case ScopeOperator::NotRegexMatch: {
            const Check c = search(clause, text, regex_error);
            if (c == Check::True) return Check::False;
            if (c == Check::False) return Check::True;
            return c;
        }
        default:
            return Check::False;
    }
}

bool passes(const ScopeFilter& filter, const json& attributes) {
    for (const auto& clause : filter.clauses) {
        if (check_clause(clause, find_attribute(attributes, clause.attribute), nullptr) != Check::True) {
            return false;
        }
    }
    return true;
}

// "(department is "R&D")" and its variants: the actual value, and why it failed when the value
// alone does not make that obvious.
std::string detail(const ScopeClause& clause, const json* v, Check check, const std::string& regex_error) {
    const std::string& name = clause.attribute;
    std::string out = "(" + name + " is ";
    if (v == nullptr) {
        out += "missing";
    } else if (v->is_null()) {
        out += "null";
    } else if (v->is_string() && v->get_ref<const std::string&>().empty()) {
        out += "empty";
    } else if (check == Check::MultiValued) {
        out += "multi-valued " + shown(*v);
    } else {
        out += shown(*v);
    }

    switch (check) {
        case Check::Empty:
            if (clause.op != ScopeOperator::IsNotNull) {
                out += "; a null or empty value makes every clause but IS NULL false";
            }
            break;
        case Check::MultiValued:
            out += "; scoping filters do not support multi-valued attributes";
            break;
        case Check::Complex:
            out += "; scoping filters do not support complex attributes";
            break;
        case Check::NotInteger:
            out += ", not an integer";
            break;
        case Check::NotBoolean:
            out += ", not a Boolean";
            break;
        case Check::TooLong:
            out += ", " + std::to_string(v->get_ref<const std::string&>().size()) +
                   " bytes, over the " + std::to_string(kMaxRegexInputBytes) +
                   "-byte limit for regex matching";
            break;
        case Check::RegexFailed:
            out += "; the regex could not be evaluated: " + regex_error;
            break;
        case Check::False:
            if (v != nullptr && v->is_boolean() && !takes_integer(clause.op) && !is_unary(clause.op)) {
                out += std::string(", compared as \"") + (v->get<bool>() ? "True" : "False") + "\"";
            }
            break;
        case Check::True:
            break;
    }
    out += ")";
    return out;
}

}  // namespace

std::string_view to_string(ScopeOperator op) {
    for (const auto& o : kOperators) {
        if (o.op == op) return o.spelling;
    }
    return "?";
}

std::optional<ScopeOperator> scope_operator_from_string(std::string_view s) {
    for (const auto& o : kOperators) {
        if (same_spelling(s, o.spelling)) return o.op;
    }
    return std::nullopt;
}

bool is_unary(ScopeOperator op) {
    return op == ScopeOperator::IsTrue || op == ScopeOperator::IsFalse || op == ScopeOperator::IsNull ||
           op == ScopeOperator::IsNotNull;
}

std::string valid_scope_operators() {
    std::string out;
    for (const auto& o : kOperators) {
        if (!out.empty()) out += ", ";
        out += o.spelling;
    }
    return out;
}

std::variant<ScopeClause, ScopingError> ScopeClause::compile(std::string attribute, ScopeOperator op,
                                                             std::string value) {
    if (attribute.empty()) {
        return ScopingError{"attribute", "missing attribute: a clause must name the source attribute it tests"};
    }
    const std::string op_name(to_string(op));
    if (is_unary(op)) {
        if (!value.empty()) {
            return ScopingError{"value", op_name + " takes no value, but " + json_quoted(value) + " was given"};
        }
    } else if (value.empty()) {
        return ScopingError{"value", "value required for " + op_name};
    }

    ScopeClause clause;
    if (takes_integer(op)) {
        const auto n = parse_integer(value);
        if (!n) {
            return ScopingError{"value", "value must be an integer for " + op_name + " (got " + json_quoted(value) + ")"};
        }
        clause.integer_ = *n;
    }
    if (takes_regex(op)) {
        try {
            clause.regex_ = std::make_shared<const std::regex>(value, std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
            return ScopingError{"value", "invalid regex " + json_quoted(value) + ": " + e.what() +
                                             " (patterns are ECMAScript; .NET-only syntax such as (?i) "
                                             "or look-behind is not supported)"};
        }
    }
    clause.attribute = std::move(attribute);
    clause.op = op;
    clause.value = std::move(value);
    return clause;
}

std::string ScopeClause::text() const {
    std::string out = attribute;
    out += ' ';
    out += to_string(op);
    if (!is_unary(op)) {
        out += ' ';
        out += takes_integer(op) ? value : json_quoted(value);
    }
    return out;
}

ScopeVerdict evaluate_scope(const Scoping& scoping, const nlohmann::json& attributes) {
    ScopeVerdict verdict;
    for (const auto& filter : scoping.filters) {
        if (passes(filter, attributes)) return verdict;
    }
    if (scoping.filters.empty()) return verdict;

    // Out of scope: the rare path, where explaining is worth a second look at each filter.
    verdict.in_scope = false;
    for (const auto& filter : scoping.filters) {
        for (const auto& clause : filter.clauses) {
            const json* v = find_attribute(attributes, clause.attribute);
            std::string regex_error;
            const Check check = check_clause(clause, v, &regex_error);
            if (check == Check::True) continue;
            if (!verdict.reason.empty()) verdict.reason += "; ";
            const std::string text = clause.text();
            verdict.reason += "filter \"" + filter.name + "\": clause " + text + " is false " +
                              detail(clause, v, check, regex_error);
            if (verdict.clause.empty()) verdict.clause = text;
            break;
        }
    }
    return verdict;
}

std::variant<Scoping, ScopingError> parse_scoping(const nlohmann::json& filters) {
    Scoping scoping;
    if (filters.is_null()) return scoping;
    if (!filters.is_array()) {
        return ScopingError{"", "scoping must be an array of filters, each {\"name\": …, \"clauses\": [...]}"};
    }

    const auto unknown_field = [](const json& object, std::initializer_list<std::string_view> known,
                                  const std::string& path) -> std::optional<ScopingError> {
        for (const auto& [key, value] : object.items()) {
            bool ok = false;
            for (auto k : known) ok = ok || key == k;
            if (ok) continue;
            std::string list;
            for (auto k : known) {
                if (!list.empty()) list += ", ";
                list += k;
            }
            return ScopingError{path + "." + key, "unknown field (known fields here: " + list + ")"};
        }
        return std::nullopt;
    };

    for (std::size_t i = 0; i < filters.size(); ++i) {
        const json& f = filters[i];
        const std::string fpath = "[" + std::to_string(i) + "]";
        if (!f.is_object()) {
            return ScopingError{fpath, "a filter must be an object with \"name\" and \"clauses\""};
        }
        if (auto e = unknown_field(f, {"name", "clauses"}, fpath)) return *e;

        ScopeFilter filter;
        const auto name = f.find("name");
        if (name == f.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
            return ScopingError{fpath + ".name",
                                "missing name: every filter needs a non-empty \"name\" string (skip reasons quote it)"};
        }
        filter.name = name->get<std::string>();

        const auto clauses = f.find("clauses");
        if (clauses == f.end() || clauses->is_null()) {
            return ScopingError{fpath + ".clauses", "missing clauses: a filter needs an array of clauses"};
        }
        if (!clauses->is_array()) {
            return ScopingError{fpath + ".clauses", "clauses must be an array"};
        }
        if (clauses->empty()) {
            return ScopingError{fpath + ".clauses",
                                "empty filter: a filter needs at least one clause (one without would put everything in "
                                "scope)"};
        }

        for (std::size_t j = 0; j < clauses->size(); ++j) {
            const json& c = (*clauses)[j];
            const std::string cpath = fpath + ".clauses[" + std::to_string(j) + "]";
            if (!c.is_object()) {
                return ScopingError{cpath, "a clause must be an object with \"attribute\", \"operator\" and \"value\""};
            }
            if (auto e = unknown_field(c, {"attribute", "operator", "value"}, cpath)) return *e;

            const auto attribute = c.find("attribute");
            if (attribute == c.end() || !attribute->is_string() ||
                attribute->get_ref<const std::string&>().empty()) {
                return ScopingError{cpath + ".attribute",
                                    "missing attribute: a clause must name the source attribute it tests"};
            }

            const auto op_node = c.find("operator");
            if (op_node == c.end() || !op_node->is_string()) {
                return ScopingError{cpath + ".operator", "missing operator (valid: " + valid_scope_operators() + ")"};
            }
            const auto op = scope_operator_from_string(op_node->get_ref<const std::string&>());
            if (!op) {
                return ScopingError{cpath + ".operator", "unknown operator " + dump(*op_node) +
                                                             " (valid: " + valid_scope_operators() + ")"};
            }

            std::string value;
            const auto v = c.find("value");
            if (v != c.end() && !v->is_null()) {
                if (v->is_string()) {
                    value = v->get<std::string>();
                } else if (v->is_boolean()) {
                    value = v->get<bool>() ? "True" : "False";
                } else if (v->is_number_integer()) {
                    value = v->dump();
                } else {
                    return ScopingError{cpath + ".value",
                                        "value must be a string, an integer or a Boolean (one value per clause)"};
                }
            }

            auto compiled = ScopeClause::compile(attribute->get<std::string>(), *op, std::move(value));
            if (auto* error = std::get_if<ScopingError>(&compiled)) {
                return ScopingError{cpath + "." + error->path, std::move(error->message)};
            }
            filter.clauses.push_back(std::move(std::get<ScopeClause>(compiled)));
        }
        scoping.filters.push_back(std::move(filter));
    }
    return scoping;
}

}  // namespace provbridge::transforms
