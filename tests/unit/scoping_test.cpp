#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "provbridge/transforms/scoping.hpp"

namespace provbridge::transforms {
namespace {

using nlohmann::json;

Scoping parse_ok(const json& filters) {
    auto parsed = parse_scoping(filters);
    if (const auto* error = std::get_if<ScopingError>(&parsed)) {
        ADD_FAILURE() << "unexpected error at '" << error->path << "': " << error->message;
        return {};
    }
    return std::get<Scoping>(std::move(parsed));
}

ScopingError parse_error(const json& filters) {
    auto parsed = parse_scoping(filters);
    if (const auto* error = std::get_if<ScopingError>(&parsed)) return *error;
    ADD_FAILURE() << "expected an error for " << filters.dump();
    return {};
}

// One filter with one clause; value null means "no value" (unary operators).
Scoping clause(const std::string& attribute, const std::string& op, const json& value = nullptr) {
    json c = {{"attribute", attribute}, {"operator", op}};
    if (!value.is_null()) c["value"] = value;
    return parse_ok(json::array({{{"name", "f"}, {"clauses", json::array({c})}}}));
}

bool in(const Scoping& s, const json& attributes) { return evaluate_scope(s, attributes).in_scope; }

// The same clause against: present value, missing, null, empty string.
struct NullCases {
    bool missing;
    bool null;
    bool empty;
};
NullCases null_cases(const Scoping& s, const std::string& attribute) {
    return {in(s, json::object()), in(s, {{attribute, nullptr}}), in(s, {{attribute, ""}})};
}

// ---- operator spellings -------------------------------------------------------------------

TEST(ScopeOperatorNames, EntraSpellingsRoundTrip) {
    const std::pair<ScopeOperator, std::string_view> expected[] = {
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
    };
    for (const auto& [op, spelling] : expected) {
        EXPECT_EQ(to_string(op), spelling);
        EXPECT_EQ(scope_operator_from_string(spelling), op) << spelling;
        EXPECT_NE(valid_scope_operators().find(spelling), std::string::npos) << spelling;
    }
}

TEST(ScopeOperatorNames, CaseInsensitiveAndUnderscoreOrSpace) {
    EXPECT_EQ(scope_operator_from_string("regex match"), ScopeOperator::RegexMatch);
    EXPECT_EQ(scope_operator_from_string("Regex_Match"), ScopeOperator::RegexMatch);
    EXPECT_EQ(scope_operator_from_string("not_regex_match"), ScopeOperator::NotRegexMatch);
    EXPECT_EQ(scope_operator_from_string("GREATER_THAN"), ScopeOperator::GreaterThan);
    EXPECT_EQ(scope_operator_from_string("greater than or equals"), ScopeOperator::GreaterThanOrEquals);
    EXPECT_EQ(scope_operator_from_string("Ends With"), ScopeOperator::EndsWith);
    EXPECT_EQ(scope_operator_from_string("is_not_null"), ScopeOperator::IsNotNull);
    EXPECT_EQ(scope_operator_from_string("INCLUDES"), ScopeOperator::Includes);
    EXPECT_EQ(scope_operator_from_string("equals"), ScopeOperator::Equals);
    EXPECT_EQ(scope_operator_from_string("Not_Equals"), ScopeOperator::NotEquals);
    EXPECT_EQ(scope_operator_from_string("is true"), ScopeOperator::IsTrue);
}

TEST(ScopeOperatorNames, UnknownSpellingsAreRefused) {
    for (const char* s : {"", "EQUAL", "LIKE", "REGEXMATCH", "REGEX  MATCH", " EQUALS", "&&", "Greater_Than_OR_EQUAL"}) {
        EXPECT_FALSE(scope_operator_from_string(s).has_value()) << s;
    }
}

// ---- each operator --------------------------------------------------------------------------

TEST(ScopeEquals, CaseSensitiveOnTheStringForm) {
    const auto s = clause("department", "EQUALS", "Sales");
    EXPECT_TRUE(in(s, {{"department", "Sales"}}));
    EXPECT_FALSE(in(s, {{"department", "sales"}}));
    EXPECT_FALSE(in(s, {{"department", "Sales "}}));
    EXPECT_FALSE(in(s, {{"department", "R&D"}}));
    const auto n = null_cases(s, "department");
    EXPECT_FALSE(n.missing);
    EXPECT_FALSE(n.null);
    EXPECT_FALSE(n.empty);
}

TEST(ScopeEquals, BooleansCompareAsDotNetPrintsThem) {
    // Entra compares string forms and .NET prints booleans "True" / "False".
    const auto upper = clause("accountEnabled", "EQUALS", "True");
    EXPECT_TRUE(in(upper, {{"accountEnabled", true}}));
    EXPECT_FALSE(in(upper, {{"accountEnabled", false}}));
    const auto lower = clause("accountEnabled", "EQUALS", "true");
    EXPECT_FALSE(in(lower, {{"accountEnabled", true}}));
    // A JSON boolean given as the configured value means the same as "True".
    EXPECT_TRUE(in(clause("accountEnabled", "EQUALS", true), {{"accountEnabled", true}}));
    const auto v = evaluate_scope(lower, {{"accountEnabled", true}});
    EXPECT_NE(v.reason.find(R"((accountEnabled is true, compared as "True"))"), std::string::npos) << v.reason;
}

TEST(ScopeEquals, NumbersCompareInDecimal) {
    const auto s = clause("employeeId", "EQUALS", "42");
    EXPECT_TRUE(in(s, {{"employeeId", 42}}));
    EXPECT_TRUE(in(s, {{"employeeId", "42"}}));
    EXPECT_FALSE(in(s, {{"employeeId", 420}}));
    EXPECT_TRUE(in(clause("employeeId", "EQUALS", 42), {{"employeeId", 42}}));
}

TEST(ScopeNotEquals, TrueOnDifferentValueFalseOnNull) {
    const auto s = clause("department", "NOT EQUALS", "Sales");
    EXPECT_TRUE(in(s, {{"department", "R&D"}}));
    EXPECT_TRUE(in(s, {{"department", "sales"}}));
    EXPECT_FALSE(in(s, {{"department", "Sales"}}));
    // "Scoping filters will return false if the value is null / empty."
    const auto n = null_cases(s, "department");
    EXPECT_FALSE(n.missing);
    EXPECT_FALSE(n.null);
    EXPECT_FALSE(n.empty);
    const auto v = evaluate_scope(s, json::object());
    EXPECT_NE(v.reason.find("(department is missing; a null or empty value makes every clause but IS NULL false)"),
              std::string::npos)
        << v.reason;
}

TEST(ScopeIsTrueIsFalse, BooleansAndTheirStrings) {
    const auto t = clause("accountEnabled", "IS TRUE");
    const auto f = clause("accountEnabled", "IS FALSE");
    EXPECT_TRUE(in(t, {{"accountEnabled", true}}));
    EXPECT_FALSE(in(t, {{"accountEnabled", false}}));
    EXPECT_TRUE(in(f, {{"accountEnabled", false}}));
    EXPECT_FALSE(in(f, {{"accountEnabled", true}}));
    EXPECT_TRUE(in(t, {{"accountEnabled", "True"}}));
    EXPECT_TRUE(in(t, {{"accountEnabled", "TRUE"}}));
    EXPECT_TRUE(in(t, {{"accountEnabled", "true"}}));
    EXPECT_TRUE(in(f, {{"accountEnabled", "False"}}));
    EXPECT_TRUE(in(f, {{"accountEnabled", "fAlSe"}}));
    EXPECT_FALSE(in(t, {{"accountEnabled", "False"}}));
    // Not Booleans at all: neither operator holds.
    for (const json& other : {json("yes"), json(1), json(0), json("1")}) {
        EXPECT_FALSE(in(t, {{"accountEnabled", other}})) << other;
        EXPECT_FALSE(in(f, {{"accountEnabled", other}})) << other;
    }
    const auto v = evaluate_scope(t, {{"accountEnabled", "yes"}});
    EXPECT_NE(v.reason.find(R"((accountEnabled is "yes", not a Boolean))"), std::string::npos) << v.reason;
    for (const auto& s : {t, f}) {
        const auto n = null_cases(s, "accountEnabled");
        EXPECT_FALSE(n.missing);
        EXPECT_FALSE(n.null);
        EXPECT_FALSE(n.empty);
    }
}

TEST(ScopeIsNull, MissingNullAndEmptyAreNull) {
    const auto s = clause("jobTitle", "IS NULL");
    const auto n = null_cases(s, "jobTitle");
    EXPECT_TRUE(n.missing);
    EXPECT_TRUE(n.null);
    EXPECT_TRUE(n.empty);
    EXPECT_FALSE(in(s, {{"jobTitle", "Engineer"}}));
    EXPECT_FALSE(in(s, {{"jobTitle", " "}}));
    EXPECT_FALSE(in(s, {{"jobTitle", false}}));
    EXPECT_FALSE(in(s, {{"jobTitle", 0}}));
    const auto v = evaluate_scope(s, {{"jobTitle", "Engineer"}});
    EXPECT_EQ(v.reason, R"(filter "f": clause jobTitle IS NULL is false (jobTitle is "Engineer"))");
}

TEST(ScopeIsNotNull, PresentScalarsAreNotNull) {
    const auto s = clause("jobTitle", "IS NOT NULL");
    EXPECT_TRUE(in(s, {{"jobTitle", "Engineer"}}));
    EXPECT_TRUE(in(s, {{"jobTitle", false}}));
    EXPECT_TRUE(in(s, {{"jobTitle", 0}}));
    const auto n = null_cases(s, "jobTitle");
    EXPECT_FALSE(n.missing);
    EXPECT_FALSE(n.null);
    EXPECT_FALSE(n.empty);
    EXPECT_EQ(evaluate_scope(s, {{"jobTitle", nullptr}}).reason,
              R"(filter "f": clause jobTitle IS NOT NULL is false (jobTitle is null))");
    EXPECT_EQ(evaluate_scope(s, {{"jobTitle", ""}}).reason,
              R"(filter "f": clause jobTitle IS NOT NULL is false (jobTitle is empty))");
}

TEST(ScopeRegexMatch, SearchesAnywhereLikeIsMatchAndIsCaseSensitive) {
    const auto s = clause("employeeId", "REGEX MATCH", "([1-9][0-9])");
    EXPECT_TRUE(in(s, {{"employeeId", "42"}}));
    EXPECT_FALSE(in(s, {{"employeeId", "7"}}));
    EXPECT_FALSE(in(s, {{"employeeId", "07"}}));
    // Search, not full match: a longer value containing two such digits matches too.
    EXPECT_TRUE(in(s, {{"employeeId", "123"}}));
    EXPECT_TRUE(in(s, {{"employeeId", 123}}));
    const auto anchored = clause("employeeId", "REGEX MATCH", "^([1-9][0-9])$");
    EXPECT_FALSE(in(anchored, {{"employeeId", "123"}}));
    EXPECT_TRUE(in(anchored, {{"employeeId", "99"}}));

    const auto cased = clause("mail", "REGEX MATCH", "@contoso\\.com$");
    EXPECT_TRUE(in(cased, {{"mail", "ada@contoso.com"}}));
    EXPECT_FALSE(in(cased, {{"mail", "ada@CONTOSO.com"}}));

    const auto n = null_cases(s, "employeeId");
    EXPECT_FALSE(n.missing);
    EXPECT_FALSE(n.null);
    EXPECT_FALSE(n.empty);
    // An empty pattern would match everything, but an empty value still does not pass.
}

TEST(ScopeNotRegexMatch, TrueWhenNoMatchFalseOnNull) {
    const auto s = clause("userPrincipalName", "NOT REGEX MATCH", ".*\\@domain.com");
    EXPECT_TRUE(in(s, {{"userPrincipalName", "ada@contoso.com"}}));
    EXPECT_FALSE(in(s, {{"userPrincipalName", "ada@domain.com"}}));
    // "It returns false if the attribute is null / empty."
    const auto n = null_cases(s, "userPrincipalName");
    EXPECT_FALSE(n.missing);
    EXPECT_FALSE(n.null);
    EXPECT_FALSE(n.empty);
}

TEST(ScopeRegex, OverlongValuesAreNotHandedToTheEngine) {
    const auto match = clause("description", "REGEX MATCH", "(a|b)*c");
    const auto no_match = clause("description", "NOT REGEX MATCH", "(a|b)*c");
    // Big enough to overflow a thread stack inside libstdc++'s recursive matcher.
    const json attributes = {{"description", std::string(200000, 'a')}};
    EXPECT_FALSE(in(match, attributes));
    EXPECT_FALSE(in(no_match, attributes));
    const auto v = evaluate_scope(match, attributes);
    EXPECT_NE(v.reason.find(", 200000 bytes, over the 1024-byte limit for regex matching)"), std::string::npos)
        << v.reason.substr(v.reason.size() - 200);
    // At the limit the value is still matched.
    EXPECT_TRUE(in(match, {{"description", std::string(kMaxRegexInputBytes - 1, 'a') + "c"}}));
    EXPECT_FALSE(in(no_match, {{"description", std::string(kMaxRegexInputBytes - 1, 'a') + "c"}}));
    EXPECT_TRUE(in(no_match, {{"description", std::string(kMaxRegexInputBytes, 'a')}}));
}

TEST(ScopeGreaterThan, IntegersOnly) {
    const auto gt = clause("employeeId", "Greater_Than", "1000");
    const auto ge = clause("employeeId", "Greater_Than_OR_EQUALS", "1000");
    EXPECT_TRUE(in(gt, {{"employeeId", 1001}}));
    EXPECT_TRUE(in(gt, {{"employeeId", "1001"}}));
    EXPECT_FALSE(in(gt, {{"employeeId", 1000}}));
    EXPECT_FALSE(in(gt, {{"employeeId", "999"}}));
    EXPECT_TRUE(in(ge, {{"employeeId", 1000}}));
    EXPECT_TRUE(in(ge, {{"employeeId", "1000"}}));
    EXPECT_FALSE(in(ge, {{"employeeId", 999}}));
    // Numeric, not lexicographic: "999" < "1000" as text but not as numbers.
    EXPECT_TRUE(in(clause("employeeId", "Greater_Than", "999"), {{"employeeId", "1000"}}));
    EXPECT_TRUE(in(clause("delta", "Greater_Than", "-5"), {{"delta", -4}}));

    for (const json& other : {json("abc"), json("1001.5"), json(1001.5), json(" 1001"), json("1001 "), json(true),
                              json(18446744073709551615ULL)}) {
        EXPECT_FALSE(in(gt, {{"employeeId", other}})) << other;
        EXPECT_FALSE(in(ge, {{"employeeId", other}})) << other;
    }
    const auto v = evaluate_scope(gt, {{"employeeId", "abc"}});
    EXPECT_EQ(v.reason, R"(filter "f": clause employeeId Greater_Than 1000 is false (employeeId is "abc", not an integer))");
    for (const auto& s : {gt, ge}) {
        const auto n = null_cases(s, "employeeId");
        EXPECT_FALSE(n.missing);
        EXPECT_FALSE(n.null);
        EXPECT_FALSE(n.empty);
    }
}

TEST(ScopeIncludes, CaseSensitiveSubstring) {
    const auto s = clause("jobTitle", "Includes", "Manager");
    EXPECT_TRUE(in(s, {{"jobTitle", "Sales Manager EMEA"}}));
    EXPECT_TRUE(in(s, {{"jobTitle", "Manager"}}));
    EXPECT_FALSE(in(s, {{"jobTitle", "sales manager"}}));
    EXPECT_FALSE(in(s, {{"jobTitle", "Engineer"}}));
    const auto n = null_cases(s, "jobTitle");
    EXPECT_FALSE(n.missing);
    EXPECT_FALSE(n.null);
    EXPECT_FALSE(n.empty);
}

TEST(ScopeEndsWith, CaseSensitiveSuffix) {
    const auto s = clause("userPrincipalName", "ENDS_WITH", "@contoso.com");
    EXPECT_TRUE(in(s, {{"userPrincipalName", "ada@contoso.com"}}));
    EXPECT_FALSE(in(s, {{"userPrincipalName", "ada@Contoso.com"}}));
    EXPECT_FALSE(in(s, {{"userPrincipalName", "ada@contoso.com.evil"}}));
    EXPECT_FALSE(in(s, {{"userPrincipalName", "contoso.com"}}));
    const auto n = null_cases(s, "userPrincipalName");
    EXPECT_FALSE(n.missing);
    EXPECT_FALSE(n.null);
    EXPECT_FALSE(n.empty);
}

TEST(ScopeBitAnd, AnyOfTheValueBitsSet) {
    const auto disabled = clause("userAccountControl", "&", "2");
    const auto enabled = clause("userAccountControl", "!&", "2");
    EXPECT_TRUE(in(disabled, {{"userAccountControl", 514}}));  // NORMAL_ACCOUNT | ACCOUNTDISABLE
    EXPECT_FALSE(in(disabled, {{"userAccountControl", 512}}));
    EXPECT_TRUE(in(disabled, {{"userAccountControl", "514"}}));
    EXPECT_FALSE(in(enabled, {{"userAccountControl", 514}}));
    EXPECT_TRUE(in(enabled, {{"userAccountControl", 512}}));
    // Several bits in the value: & holds when any of them is set, !& when none is.
    const auto either = clause("flags", "&", "6");
    EXPECT_TRUE(in(either, {{"flags", 4}}));
    EXPECT_FALSE(in(either, {{"flags", 8}}));
    EXPECT_FALSE(in(clause("flags", "!&", "6"), {{"flags", 4}}));
    for (const auto& s : {disabled, enabled}) {
        EXPECT_FALSE(in(s, {{"userAccountControl", "abc"}}));
        const auto n = null_cases(s, "userAccountControl");
        EXPECT_FALSE(n.missing);
        EXPECT_FALSE(n.null);
        EXPECT_FALSE(n.empty);
    }
}

TEST(ScopeValues, MultiValuedAndComplexAttributesAreNotSupported) {
    const json multi = {{"proxyAddresses", {"smtp:a@contoso.com", "SMTP:b@contoso.com"}}};
    for (const char* op : {"EQUALS", "NOT EQUALS", "Includes", "REGEX MATCH", "NOT REGEX MATCH", "ENDS_WITH"}) {
        EXPECT_FALSE(in(clause("proxyAddresses", op, "a"), multi)) << op;
    }
    EXPECT_FALSE(in(clause("proxyAddresses", "IS NULL"), multi));
    EXPECT_FALSE(in(clause("proxyAddresses", "IS NOT NULL"), multi));
    EXPECT_FALSE(in(clause("proxyAddresses", "IS NULL"), {{"proxyAddresses", json::array()}}));
    const auto v = evaluate_scope(clause("proxyAddresses", "Includes", "contoso"), multi);
    EXPECT_EQ(v.reason,
              R"(filter "f": clause proxyAddresses Includes "contoso" is false (proxyAddresses is multi-valued )"
              R"(["smtp:a@contoso.com","SMTP:b@contoso.com"]; scoping filters do not support multi-valued attributes))");

    const json complex = {{"manager", {{"id", "m1"}}}};
    EXPECT_FALSE(in(clause("manager", "IS NOT NULL"), complex));
    EXPECT_NE(evaluate_scope(clause("manager", "IS NOT NULL"), complex).reason.find("do not support complex attributes"),
              std::string::npos);
}

// ---- combining clauses and filters ----------------------------------------------------------

const json kFranceSalesOrManagers = json::parse(R"([
  {"name": "France sales", "clauses": [
    {"attribute": "country", "operator": "EQUALS", "value": "France"},
    {"attribute": "department", "operator": "EQUALS", "value": "Sales"}]},
  {"name": "Managers", "clauses": [
    {"attribute": "jobTitle", "operator": "Includes", "value": "Manager"}]}
])");

TEST(ScopeCombination, EmptyScopingPutsEverythingInScope) {
    const auto v = evaluate_scope(Scoping{}, {{"department", "R&D"}});
    EXPECT_TRUE(v.in_scope);
    EXPECT_TRUE(v.reason.empty());
    EXPECT_TRUE(v.clause.empty());
    EXPECT_TRUE(Scoping{}.empty());
    EXPECT_TRUE(parse_ok(json::array()).empty());
    EXPECT_TRUE(parse_ok(nullptr).empty());
    EXPECT_TRUE(evaluate_scope(parse_ok(json::array()), json::object()).in_scope);
}

TEST(ScopeCombination, ClausesAreAndedFiltersAreOred) {
    const auto s = parse_ok(kFranceSalesOrManagers);
    ASSERT_EQ(s.filters.size(), 2U);
    EXPECT_FALSE(s.empty());
    EXPECT_TRUE(in(s, {{"country", "France"}, {"department", "Sales"}}));
    EXPECT_FALSE(in(s, {{"country", "France"}, {"department", "R&D"}}));     // one clause of the AND fails
    EXPECT_FALSE(in(s, {{"country", "Germany"}, {"department", "Sales"}}));  // the other one fails
    EXPECT_TRUE(in(s, {{"country", "Germany"}, {"jobTitle", "Sales Manager"}}));  // second filter
    EXPECT_TRUE(in(s, {{"country", "France"}, {"department", "Sales"}, {"jobTitle", "Sales Manager"}}));
    const auto v = evaluate_scope(s, {{"country", "France"}, {"department", "Sales"}});
    EXPECT_TRUE(v.in_scope);
    EXPECT_TRUE(v.reason.empty());
    EXPECT_TRUE(v.clause.empty());
}

TEST(ScopeCombination, ReasonNamesTheExcludingClauseOfEachFilterWithTheActualValue) {
    const auto s = parse_ok(kFranceSalesOrManagers);
    const auto v = evaluate_scope(s, {{"country", "France"}, {"department", "R&D"}, {"jobTitle", "Engineer"}});
    EXPECT_FALSE(v.in_scope);
    EXPECT_EQ(v.reason,
              R"(filter "France sales": clause department EQUALS "Sales" is false (department is "R&D"); )"
              R"(filter "Managers": clause jobTitle Includes "Manager" is false (jobTitle is "Engineer"))");
    EXPECT_EQ(v.clause, R"(department EQUALS "Sales")");

    // The first clause that fails is the one named, in each filter.
    const auto w = evaluate_scope(s, {{"country", "Germany"}, {"department", "R&D"}});
    EXPECT_EQ(w.reason,
              R"(filter "France sales": clause country EQUALS "France" is false (country is "Germany"); )"
              R"(filter "Managers": clause jobTitle Includes "Manager" is false (jobTitle is missing; a null or )"
              R"(empty value makes every clause but IS NULL false))");
    EXPECT_EQ(w.clause, R"(country EQUALS "France")");
}

TEST(ScopeCombination, AttributesThatAreNotAnObjectCountAsAllMissing) {
    const auto s = parse_ok(kFranceSalesOrManagers);
    EXPECT_FALSE(in(s, nullptr));
    EXPECT_FALSE(in(s, json::array({"France"})));
    EXPECT_TRUE(in(clause("jobTitle", "IS NULL"), nullptr));
}

TEST(ScopeCombination, LongAndInvalidUtf8ValuesDoNotBreakTheReason) {
    const auto s = clause("department", "EQUALS", "Sales");
    const auto v = evaluate_scope(s, {{"department", std::string(500, 'x')}});
    EXPECT_FALSE(v.in_scope);
    EXPECT_LT(v.reason.size(), 250U);
    EXPECT_NE(v.reason.find("…)"), std::string::npos) << v.reason;
    const auto w = evaluate_scope(s, {{"department", std::string("R\xff" "D")}});
    EXPECT_FALSE(w.in_scope);
    EXPECT_NE(w.reason.find("(department is \"R"), std::string::npos) << w.reason;
}

TEST(ScopeCombination, CopiesShareTheCompiledClauses) {
    Scoping copy;
    {
        const auto original = clause("mail", "REGEX MATCH", "@contoso\\.com$");
        copy = original;
    }
    EXPECT_TRUE(in(copy, {{"mail", "ada@contoso.com"}}));
    EXPECT_FALSE(in(copy, {{"mail", "ada@fabrikam.com"}}));
}

// ---- clause text and compile ----------------------------------------------------------------

TEST(ScopeClauseText, EntraLikeRendering) {
    const auto text = [](const std::string& attribute, ScopeOperator op, const std::string& value) {
        auto c = ScopeClause::compile(attribute, op, value);
        return std::get<ScopeClause>(c).text();
    };
    EXPECT_EQ(text("department", ScopeOperator::Equals, "Sales"), R"(department EQUALS "Sales")");
    EXPECT_EQ(text("title", ScopeOperator::NotEquals, R"(a "b")"), R"(title NOT EQUALS "a \"b\"")");
    EXPECT_EQ(text("employeeId", ScopeOperator::GreaterThan, "1000000"), "employeeId Greater_Than 1000000");
    EXPECT_EQ(text("uac", ScopeOperator::NotBitAnd, "2"), "uac !& 2");
    EXPECT_EQ(text("accountEnabled", ScopeOperator::IsTrue, ""), "accountEnabled IS TRUE");
    EXPECT_EQ(text("upn", ScopeOperator::RegexMatch, ".*\\@domain.com"), R"(upn REGEX MATCH ".*\\@domain.com")");
}

TEST(ScopeClauseCompile, ErrorsNameTheField) {
    const auto error = [](std::string attribute, ScopeOperator op, std::string value) {
        auto c = ScopeClause::compile(std::move(attribute), op, std::move(value));
        EXPECT_TRUE(std::holds_alternative<ScopingError>(c));
        return std::holds_alternative<ScopingError>(c) ? std::get<ScopingError>(c) : ScopingError{};
    };
    EXPECT_EQ(error("", ScopeOperator::Equals, "x").path, "attribute");
    EXPECT_EQ(error("a", ScopeOperator::Equals, "").path, "value");
    EXPECT_EQ(error("a", ScopeOperator::IsNull, "x").path, "value");
    EXPECT_EQ(error("a", ScopeOperator::GreaterThan, "ten").path, "value");
    EXPECT_EQ(error("a", ScopeOperator::RegexMatch, "(").path, "value");
    const auto ok = ScopeClause::compile("a", ScopeOperator::GreaterThanOrEquals, "-12");
    ASSERT_TRUE(std::holds_alternative<ScopeClause>(ok));
    EXPECT_EQ(std::get<ScopeClause>(ok).integer(), -12);
    EXPECT_EQ(std::get<ScopeClause>(ok).regex(), nullptr);
}

// ---- configuration errors -------------------------------------------------------------------

json one_clause(json c) { return json::array({{{"name", "f"}, {"clauses", json::array({std::move(c)})}}}); }

TEST(ScopingParse, ShapeErrorsCarryTheirPath) {
    auto e = parse_error(json::object());
    EXPECT_EQ(e.path, "");
    EXPECT_NE(e.message.find("array of filters"), std::string::npos) << e.message;

    e = parse_error(json::array({"France"}));
    EXPECT_EQ(e.path, "[0]");

    e = parse_error(json::parse(R"([{"clauses": [{"attribute": "a", "operator": "IS NULL"}]}])"));
    EXPECT_EQ(e.path, "[0].name");
    EXPECT_NE(e.message.find("missing name"), std::string::npos) << e.message;

    e = parse_error(json::parse(R"([{"name": "f"}])"));
    EXPECT_EQ(e.path, "[0].clauses");
    EXPECT_NE(e.message.find("missing clauses"), std::string::npos) << e.message;

    e = parse_error(json::parse(R"([{"name": "f", "clauses": {"attribute": "a"}}])"));
    EXPECT_EQ(e.path, "[0].clauses");
    EXPECT_NE(e.message.find("must be an array"), std::string::npos) << e.message;

    e = parse_error(json::parse(R"([{"name": "ok", "clauses": [{"attribute": "a", "operator": "IS NULL"}]},
                                    {"name": "f", "clauses": []}])"));
    EXPECT_EQ(e.path, "[1].clauses");
    EXPECT_NE(e.message.find("empty filter"), std::string::npos) << e.message;

    e = parse_error(json::parse(R"([{"name": "f", "clauses": ["a EQUALS b"]}])"));
    EXPECT_EQ(e.path, "[0].clauses[0]");

    e = parse_error(json::parse(R"([{"name": "f", "title": "x", "clauses": [{"attribute": "a", "operator": "IS NULL"}]}])"));
    EXPECT_EQ(e.path, "[0].title");
    EXPECT_NE(e.message.find("unknown field"), std::string::npos) << e.message;

    e = parse_error(one_clause({{"attribute", "a"}, {"oprator", "EQUALS"}, {"value", "x"}}));
    EXPECT_EQ(e.path, "[0].clauses[0].oprator");
    EXPECT_NE(e.message.find("attribute, operator, value"), std::string::npos) << e.message;
}

TEST(ScopingParse, MissingAttribute) {
    const auto e = parse_error(json::parse(R"([{"name": "f", "clauses": [
        {"attribute": "a", "operator": "IS NULL"},
        {"operator": "EQUALS", "value": "x"}]}])"));
    EXPECT_EQ(e.path, "[0].clauses[1].attribute");
    EXPECT_NE(e.message.find("missing attribute"), std::string::npos) << e.message;
    EXPECT_EQ(parse_error(one_clause({{"attribute", ""}, {"operator", "IS NULL"}})).path, "[0].clauses[0].attribute");
}

TEST(ScopingParse, UnknownOrMissingOperatorListsTheValidOnes) {
    auto e = parse_error(json::parse(R"([{"name": "f", "clauses": [
        {"attribute": "a", "operator": "IS NULL"},
        {"attribute": "b", "operator": "LIKE", "value": "x"}]}])"));
    EXPECT_EQ(e.path, "[0].clauses[1].operator");
    EXPECT_NE(e.message.find(R"(unknown operator "LIKE")"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("REGEX MATCH"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("Greater_Than_OR_EQUALS"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("!&"), std::string::npos) << e.message;

    e = parse_error(one_clause({{"attribute", "a"}, {"value", "x"}}));
    EXPECT_EQ(e.path, "[0].clauses[0].operator");
    EXPECT_NE(e.message.find("missing operator"), std::string::npos) << e.message;
}

TEST(ScopingParse, ValueRequiredForBinaryOperators) {
    for (const char* op : {"EQUALS", "NOT EQUALS", "Includes", "ENDS_WITH", "REGEX MATCH", "NOT REGEX MATCH",
                           "Greater_Than", "Greater_Than_OR_EQUALS", "&", "!&"}) {
        for (const json& value : {json(nullptr), json("")}) {
            json c = {{"attribute", "a"}, {"operator", op}};
            if (value.is_string()) c["value"] = value;
            const auto e = parse_error(one_clause(c));
            EXPECT_EQ(e.path, "[0].clauses[0].value") << op;
            EXPECT_EQ(e.message, std::string("value required for ") + op);
        }
    }
}

TEST(ScopingParse, ValueRefusedForUnaryOperators) {
    for (const char* op : {"IS TRUE", "IS FALSE", "IS NULL", "IS NOT NULL"}) {
        const auto e = parse_error(one_clause({{"attribute", "a"}, {"operator", op}, {"value", "True"}}));
        EXPECT_EQ(e.path, "[0].clauses[0].value") << op;
        EXPECT_EQ(e.message, std::string(op) + R"( takes no value, but "True" was given)");
        // An empty or null value is the same as none.
        parse_ok(one_clause({{"attribute", "a"}, {"operator", op}, {"value", ""}}));
        parse_ok(one_clause({{"attribute", "a"}, {"operator", op}, {"value", nullptr}}));
    }
}

TEST(ScopingParse, IntegerOperatorsNeedAnIntegerValue) {
    for (const char* op : {"Greater_Than", "Greater_Than_OR_EQUALS", "&", "!&"}) {
        for (const json& value : {json("ten"), json("1.5"), json("1e3"), json(" 5"), json("99999999999999999999")}) {
            const auto e = parse_error(one_clause({{"attribute", "a"}, {"operator", op}, {"value", value}}));
            EXPECT_EQ(e.path, "[0].clauses[0].value") << op << " " << value;
            EXPECT_NE(e.message.find(std::string("value must be an integer for ") + op), std::string::npos)
                << e.message;
        }
    }
    // A JSON integer is accepted as well as its string.
    const auto s = parse_ok(one_clause({{"attribute", "n"}, {"operator", "Greater_Than"}, {"value", 1000000}}));
    EXPECT_TRUE(in(s, {{"n", 1000001}}));
    EXPECT_EQ(s.filters[0].clauses[0].integer(), 1000000);
}

TEST(ScopingParse, InvalidRegexCarriesTheEngineMessage) {
    std::string engine_message;
    try {
        std::regex("[a-", std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
        engine_message = e.what();
    }
    ASSERT_FALSE(engine_message.empty());
    const auto e = parse_error(json::parse(R"([{"name": "f", "clauses": [
        {"attribute": "a", "operator": "IS NULL"},
        {"attribute": "mail", "operator": "REGEX MATCH", "value": "[a-"}]}])"));
    EXPECT_EQ(e.path, "[0].clauses[1].value");
    EXPECT_NE(e.message.find(R"(invalid regex "[a-": )" + engine_message), std::string::npos) << e.message;

    // .NET-only syntax is refused at load rather than silently meaning something else.
    const auto net = parse_error(one_clause({{"attribute", "a"}, {"operator", "NOT REGEX MATCH"}, {"value", "(?i)sales"}}));
    EXPECT_EQ(net.path, "[0].clauses[0].value");
    EXPECT_NE(net.message.find("invalid regex"), std::string::npos) << net.message;
}

TEST(ScopingParse, ValueTypes) {
    auto e = parse_error(one_clause({{"attribute", "a"}, {"operator", "EQUALS"}, {"value", {"x", "y"}}}));
    EXPECT_EQ(e.path, "[0].clauses[0].value");
    EXPECT_NE(e.message.find("one value per clause"), std::string::npos) << e.message;
    e = parse_error(one_clause({{"attribute", "a"}, {"operator", "EQUALS"}, {"value", 1.5}}));
    EXPECT_EQ(e.path, "[0].clauses[0].value");
    const auto s = parse_ok(one_clause({{"attribute", "a"}, {"operator", "EQUALS"}, {"value", false}}));
    EXPECT_EQ(s.filters[0].clauses[0].value, "False");
}

TEST(ScopingParse, KeepsNamesOrderAndOperators) {
    const auto s = parse_ok(json::parse(R"([
      {"name": "A", "clauses": [{"attribute": "x", "operator": "regex_match", "value": "^a"},
                                {"attribute": "y", "operator": "is not null"}]},
      {"name": "B", "clauses": [{"attribute": "z", "operator": "&", "value": "2"}]}])"));
    ASSERT_EQ(s.filters.size(), 2U);
    EXPECT_EQ(s.filters[0].name, "A");
    ASSERT_EQ(s.filters[0].clauses.size(), 2U);
    EXPECT_EQ(s.filters[0].clauses[0].attribute, "x");
    EXPECT_EQ(s.filters[0].clauses[0].op, ScopeOperator::RegexMatch);
    EXPECT_NE(s.filters[0].clauses[0].regex(), nullptr);
    EXPECT_EQ(s.filters[0].clauses[1].op, ScopeOperator::IsNotNull);
    EXPECT_EQ(s.filters[1].name, "B");
    EXPECT_EQ(s.filters[1].clauses[0].op, ScopeOperator::BitAnd);
    EXPECT_EQ(s.filters[1].clauses[0].integer(), 2);
}

// ---- the Entra documentation's examples -------------------------------------------------------

TEST(ScopeEntraExamples, CommonScopingFiltersTable) {
    // userPrincipalName REGEX MATCH .*\@domain.com: users of @domain.com are in scope.
    const auto domain = clause("userPrincipalName", "REGEX MATCH", R"(.*\@domain.com)");
    EXPECT_TRUE(in(domain, {{"userPrincipalName", "ada@domain.com"}}));
    EXPECT_FALSE(in(domain, {{"userPrincipalName", "ada@contoso.com"}}));
    // … and NOT REGEX MATCH puts them out of scope.
    const auto not_domain = clause("userPrincipalName", "NOT REGEX MATCH", R"(.*\@domain.com)");
    EXPECT_FALSE(in(not_domain, {{"userPrincipalName", "ada@domain.com"}}));
    EXPECT_TRUE(in(not_domain, {{"userPrincipalName", "ada@contoso.com"}}));
    // department EQUALS sales: EQUALS is case-sensitive, so only "sales" itself.
    const auto sales = clause("department", "EQUALS", "sales");
    EXPECT_TRUE(in(sales, {{"department", "sales"}}));
    EXPECT_FALSE(in(sales, {{"department", "Sales"}}));
    // workerID REGEX MATCH (1[0-9][0-9][0-9][0-9][0-9][0-9]): IDs from 1000000 to 1999999.
    const auto worker = clause("workerID", "REGEX MATCH", "(1[0-9][0-9][0-9][0-9][0-9][0-9])");
    EXPECT_TRUE(in(worker, {{"workerID", "1000000"}}));
    EXPECT_TRUE(in(worker, {{"workerID", "1999999"}}));
    EXPECT_FALSE(in(worker, {{"workerID", "2000000"}}));
    EXPECT_FALSE(in(worker, {{"workerID", "999999"}}));
    // With IsMatch's search semantics the unanchored pattern also finds seven such digits
    // inside a longer ID; anchor it (^…$) to keep the documented range exact.
    EXPECT_TRUE(in(worker, {{"workerID", "21000000"}}));
}

TEST(ScopeEntraExamples, NewYorkEngineersWithATitleAndAnIdInRange) {
    // The documentation's example filter: in New York, in Engineering, employee ID between
    // 1,000,000 and 2,000,000, job title not null or empty.
    const auto s = parse_ok(json::parse(R"([{"name": "New York engineers", "clauses": [
        {"attribute": "state", "operator": "EQUALS", "value": "New York"},
        {"attribute": "department", "operator": "EQUALS", "value": "Engineering"},
        {"attribute": "employeeId", "operator": "Greater_Than_OR_EQUALS", "value": "1000000"},
        {"attribute": "employeeId", "operator": "REGEX MATCH", "value": "^(1[0-9]{6}|2000000)$"},
        {"attribute": "jobTitle", "operator": "IS NOT NULL"}]}])"));
    const json ada = {{"state", "New York"}, {"department", "Engineering"}, {"employeeId", "1500000"},
                      {"jobTitle", "Engineer"}};
    EXPECT_TRUE(in(s, ada));
    auto other = ada;
    other["state"] = "New Jersey";
    EXPECT_FALSE(in(s, other));
    other = ada;
    other["employeeId"] = "999999";
    EXPECT_FALSE(in(s, other));
    other["employeeId"] = "2000001";
    EXPECT_FALSE(in(s, other));
    other["employeeId"] = "2000000";
    EXPECT_TRUE(in(s, other));
    other = ada;
    other["jobTitle"] = "";
    const auto v = evaluate_scope(s, other);
    EXPECT_FALSE(v.in_scope);
    EXPECT_EQ(v.clause, "jobTitle IS NOT NULL");
    EXPECT_EQ(v.reason, R"(filter "New York engineers": clause jobTitle IS NOT NULL is false (jobTitle is empty))");
}

}  // namespace
}  // namespace provbridge::transforms
