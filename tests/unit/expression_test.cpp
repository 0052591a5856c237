// Entra's expression language: every function against the examples in Entra's function
// reference ("Reference for writing expressions for attribute mappings in Microsoft Entra ID"),
// null handling, argument counts, and the parser's errors with their columns.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "provbridge/transforms/expression.hpp"

namespace provbridge::transforms {
namespace {

using nlohmann::json;

struct Options {
    bool soft_deleted = false;
    std::optional<std::string> role{};
    UniqueValueLookup* lookup = nullptr;
    std::string_view target_path{};
};

Expression parse_ok(std::string_view text) {
    auto parsed = parse_expression(text);
    if (const auto* error = std::get_if<ExpressionError>(&parsed)) {
        ADD_FAILURE() << "parse failed for " << text << ": " << error->message << " at column " << error->column;
        return Expression::constant_value("<parse error>");
    }
    return std::get<Expression>(std::move(parsed));
}

json eval(std::string_view text, const json& attributes = json::object(), const Options& options = {}) {
    const Expression e = parse_ok(text);
    const SourceContext context{attributes, options.soft_deleted, options.role, options.lookup, options.target_path};
    return evaluate(e, context);
}

ExpressionError parse_error(std::string_view text) {
    auto parsed = parse_expression(text);
    if (const auto* error = std::get_if<ExpressionError>(&parsed)) return *error;
    ADD_FAILURE() << "expected a parse error for " << text;
    return {};
}

// The message must mention `needle` and the column must be exact.
void expect_error(std::string_view text, std::string_view needle, std::size_t column) {
    const auto error = parse_error(text);
    EXPECT_NE(error.message.find(needle), std::string::npos)
        << "for " << text << ": message was \"" << error.message << "\"";
    EXPECT_EQ(error.column, column) << "for " << text << ": " << error.message;
}

const json kNull;

// ---------------------------------------------------------------------------------------------
// Append

TEST(ExpressionAppend, ReferenceExampleAppendsSuffixToUserName) {
    EXPECT_EQ(eval(R"(Append([userPrincipalName], ".test"))", {{"userPrincipalName", "John.Doe@contoso.com"}}),
              "John.Doe@contoso.com.test");
}

TEST(ExpressionAppend, NullHandling) {
    EXPECT_EQ(eval(R"(Append([missing], ".test"))"), kNull);
    EXPECT_EQ(eval(R"(Append([a], ".test"))", {{"a", nullptr}}), kNull);
    EXPECT_EQ(eval(R"(Append([a], ".test"))", {{"a", ""}}), ".test");
    EXPECT_EQ(eval(R"(Append([a], [missing]))", {{"a", "x"}}), "x");
}

TEST(ExpressionAppend, WrongArgumentCount) {
    expect_error(R"(Append([a]))", "Append takes 2 arguments, got 1", 1);
    expect_error(R"(Append([a], "b", "c"))", "Append takes 2 arguments, got 3", 1);
}

// ---------------------------------------------------------------------------------------------
// BitAnd

TEST(ExpressionBitAnd, ReferenceExampleWithHexLiterals) {
    EXPECT_EQ(eval("BitAnd(&HF, &HF7)"), 7);
    EXPECT_EQ(eval("BitAnd([flags], 4)", {{"flags", "12"}}), 4);
    EXPECT_EQ(eval("BitAnd([missing], 4)"), kNull);
    expect_error("BitAnd(1)", "BitAnd takes 2 arguments, got 1", 1);
}

// ---------------------------------------------------------------------------------------------
// CBool

TEST(ExpressionCBool, ReferenceExampleTrueWhenAttributesAreEqual) {
    const std::string_view e = "CBool([attribute1] = [attribute2])";
    EXPECT_EQ(eval(e, {{"attribute1", "x"}, {"attribute2", "x"}}), true);
    EXPECT_EQ(eval(e, {{"attribute1", "x"}, {"attribute2", "y"}}), false);
    EXPECT_EQ(eval(e, {{"attribute1", "x"}}), false);  // comparison with null: not true
}

TEST(ExpressionCBool, NonZeroIsTrueAndNullIsFalse) {
    EXPECT_EQ(eval("CBool(5)"), true);
    EXPECT_EQ(eval("CBool(0)"), false);
    EXPECT_EQ(eval(R"(CBool("True"))"), true);
    EXPECT_EQ(eval(R"(CBool("false"))"), false);
    EXPECT_EQ(eval(R"(CBool("0"))"), false);
    EXPECT_EQ(eval("CBool([accountEnabled])", {{"accountEnabled", true}}), true);
    EXPECT_EQ(eval("CBool([missing])"), false);
    EXPECT_EQ(eval("CBool([a])", {{"a", nullptr}}), false);
    EXPECT_EQ(eval("CBool([a])", {{"a", ""}}), false);
    EXPECT_EQ(eval(R"(CBool("abc"))"), kNull);  // VB: type mismatch
    expect_error("CBool()", "CBool takes 1 argument, got 0", 1);
}

// ---------------------------------------------------------------------------------------------
// Coalesce

TEST(ExpressionCoalesce, ReferenceExampleFallsBackToUserPrincipalName) {
    const std::string_view e = "Coalesce([mail],[userPrincipalName])";
    EXPECT_EQ(eval(e, {{"userPrincipalName", "John.Doe@contoso.com"}}), "John.Doe@contoso.com");
    EXPECT_EQ(eval(e, {{"mail", nullptr}, {"userPrincipalName", "John.Doe@contoso.com"}}), "John.Doe@contoso.com");
    EXPECT_EQ(eval(e, {{"mail", ""}, {"userPrincipalName", "John.Doe@contoso.com"}}), "John.Doe@contoso.com");
    EXPECT_EQ(eval(e, {{"mail", "m@contoso.com"}, {"userPrincipalName", "u@contoso.com"}}), "m@contoso.com");
    EXPECT_EQ(eval(e), kNull);
    EXPECT_EQ(eval(R"(Coalesce([a], [b], "default"))"), "default");
    expect_error("Coalesce()", "Coalesce takes at least 1 argument, got 0", 1);
}

// ---------------------------------------------------------------------------------------------
// ConvertToBase64, ConvertToUTF8Hex

TEST(ExpressionConvert, ReferenceExamples) {
    EXPECT_EQ(eval(R"(ConvertToBase64("Hello world!"))"), "SABlAGwAbABvACAAdwBvAHIAbABkACEA");
    EXPECT_EQ(eval(R"(ConvertToUTF8Hex("Hello world!"))"), "48656C6C6F20776F726C6421");
    EXPECT_EQ(eval("ConvertToBase64([missing])"), kNull);
    EXPECT_EQ(eval("ConvertToUTF8Hex([missing])"), kNull);
    expect_error("ConvertToUTF8Hex()", "ConvertToUTF8Hex takes 1 argument, got 0", 1);
}

TEST(ExpressionConvert, GeneratedIdExampleStripsLettersFromTheHex) {
    // The reference's sample output belongs to a different objectId than the one it shows, so
    // the expected value here is computed from the shown input.
    EXPECT_EQ(eval(R"(Join("", 1000, Replace(ConvertToUTF8Hex([objectId]), , "[a-zA-Z_]*", , "", , )))",
                   {{"objectId", "00aa00aa-bb11-cc22-dd33-44ee44ee44ee"}}),
              "100030306161303061612626231312636332322646433332343465653434656534346565");
}

// ---------------------------------------------------------------------------------------------
// Count, Item, RemoveDuplicates, IsString, InStr

TEST(ExpressionMultiValued, CountItemAndRemoveDuplicates) {
    const json attrs = {{"proxyAddresses", {"SMTP:a@x", "smtp:b@x", "SMTP:a@x"}}, {"single", "s"}};
    EXPECT_EQ(eval("Count([proxyAddresses])", attrs), 3);
    EXPECT_EQ(eval("Count([single])", attrs), 1);
    EXPECT_EQ(eval("Count([missing])", attrs), 0);
    EXPECT_EQ(eval("Item([proxyAddresses], 1)", attrs), "SMTP:a@x");  // the first item
    EXPECT_EQ(eval("Item([proxyAddresses], 2)", attrs), "smtp:b@x");
    EXPECT_EQ(eval("Item([proxyAddresses], 0)", attrs), kNull);  // "Index 0 shouldn't be used"
    EXPECT_EQ(eval("Item([proxyAddresses], 4)", attrs), kNull);
    EXPECT_EQ(eval("Item([single], 1)", attrs), "s");
    EXPECT_EQ(eval("Item([missing], 1)", attrs), kNull);
    EXPECT_EQ(eval(R"(Item(Split("a,b", ","), 2))", attrs), "b");
    EXPECT_EQ(eval("RemoveDuplicates([proxyAddresses])", attrs), json({"SMTP:a@x", "smtp:b@x"}));
    EXPECT_EQ(eval("RemoveDuplicates([missing])", attrs), kNull);
    expect_error("Item([a])", "Item takes 2 arguments, got 1", 1);
    expect_error("Count([a], 1)", "Count takes 1 argument, got 2", 1);
    expect_error("RemoveDuplicates()", "RemoveDuplicates takes 1 argument, got 0", 1);
}

TEST(ExpressionIsString, TrueOnlyForStrings) {
    EXPECT_EQ(eval("IsString([a])", {{"a", "x"}}), true);
    EXPECT_EQ(eval("IsString([a])", {{"a", ""}}), true);
    EXPECT_EQ(eval("IsString([a])", {{"a", 5}}), false);
    EXPECT_EQ(eval("IsString([missing])"), false);
    expect_error("IsString()", "IsString takes 1 argument, got 0", 1);
}

TEST(ExpressionInStr, ReferenceExamples) {
    EXPECT_EQ(eval(R"(InStr("The quick brown fox","quick"))"), 5);
    EXPECT_EQ(eval(R"(InStr("repEated","e",3,vbBinaryCompare))"), 7);
    EXPECT_EQ(eval(R"(InStr("repEated","e",3,vbTextCompare))"), 4);
    EXPECT_EQ(eval(R"(InStr("abc","z"))"), 0);
    EXPECT_EQ(eval(R"(InStr([missing],"z"))"), kNull);
    EXPECT_EQ(eval(R"(InStr("Zoë Zoë","ë", 4))"), 7);  // positions count characters
    expect_error(R"(InStr("a"))", "InStr takes 2 to 4 arguments, got 1", 1);
}

// ---------------------------------------------------------------------------------------------
// CStr

TEST(ExpressionCStr, ReferenceExampleAndConversions) {
    EXPECT_EQ(eval("CStr([dn])", {{"dn", "cn=Joe,dc=contoso,dc=com"}}), "cn=Joe,dc=contoso,dc=com");
    EXPECT_EQ(eval("CStr(42)"), "42");
    EXPECT_EQ(eval("CStr(1.5)"), "1.5");
    EXPECT_EQ(eval("CStr([accountEnabled])", {{"accountEnabled", true}}), "True");
    EXPECT_EQ(eval("CStr([n])", {{"n", 7.0}}), "7");
    EXPECT_EQ(eval("CStr([missing])"), kNull);
    EXPECT_EQ(eval("CStr([a])", {{"a", nullptr}}), kNull);
    EXPECT_EQ(eval("CStr([a])", {{"a", ""}}), "");
    expect_error("CStr()", "CStr takes 1 argument, got 0", 1);
}

// ---------------------------------------------------------------------------------------------
// FormatDateTime

TEST(ExpressionFormatDateTime, ReferenceExampleServiceNowDate) {
    EXPECT_EQ(eval(R"(FormatDateTime([extensionAttribute1], , "yyyyMMddHHmmss.fZ", "yyyy-MM-dd"))",
                   {{"extensionAttribute1", "20150123105347.1Z"}}),
              "2015-01-23");
}

TEST(ExpressionFormatDateTime, NumFromDateExamplesInnerFormatting) {
    EXPECT_EQ(eval(R"(Join("", FormatDateTime([ContractEndDate], ,"yyyy-MM-ddzzz", "yyyy-MM-dd"), " 23:59:59-08:00"))",
                   {{"ContractEndDate", "2020-12-31-08:00"}}),
              "2020-12-31 23:59:59-08:00");
    EXPECT_EQ(eval(R"(FormatDateTime([endDate], ,"M/d/yyyy hh:mm:ss tt","yyyy-MM-dd"))",
                   {{"endDate", "12/31/2020 11:59:59 PM"}}),
              "2020-12-31");
}

TEST(ExpressionFormatDateTime, ZonedInputIsConvertedToUtcAsCDateExamplesShow) {
    // CDate's examples: "2021-06-30+08:00" is "6/29/2021 4:00:00 PM" in UTC.
    EXPECT_EQ(eval(R"(FormatDateTime("2021-06-30+08:00", , "yyyy-MM-ddzzz", "M/d/yyyy h:mm:ss tt"))"),
              "6/29/2021 4:00:00 PM");
    EXPECT_EQ(eval(R"(FormatDateTime("2020-03-16-07:00", , "yyyy-MM-ddzzz", "M/d/yyyy h:mm:ss tt"))"),
              "3/16/2020 7:00:00 AM");
    EXPECT_EQ(eval(R"(FormatDateTime("2009-06-15T01:45:30-07:00", , "yyyy-MM-ddTHH:mm:sszzz", "M/d/yyyy h:mm:ss tt"))"),
              "6/15/2009 8:45:30 AM");
}

TEST(ExpressionFormatDateTime, ThreeArgumentFormNullsAndMismatches) {
    EXPECT_EQ(eval(R"(FormatDateTime([d], "yyyyMMdd", "dd.MM.yyyy"))", {{"d", "20240229"}}), "29.02.2024");
    EXPECT_EQ(eval(R"(FormatDateTime([d], , "yyyyMMdd", "dd.MM.yyyy"))", {{"d", "20230229"}}), kNull);  // no 29 Feb
    EXPECT_EQ(eval(R"(FormatDateTime([d], , "yyyyMMdd", "dd.MM.yyyy"))", {{"d", "2024-02-29"}}), kNull);
    EXPECT_EQ(eval(R"(FormatDateTime([missing], , "yyyyMMdd", "dd.MM.yyyy"))"), kNull);
    EXPECT_EQ(eval(R"(FormatDateTime([d], , "yyyyMMdd", "dd.MM.yyyy"))", {{"d", nullptr}}), kNull);
    EXPECT_EQ(eval(R"(FormatDateTime([d], , "yyyyMMdd", "dd.MM.yyyy"))", {{"d", ""}}), kNull);
    EXPECT_EQ(eval(R"(FormatDateTime([d], "Bogus", "yyyyMMdd", "dd.MM.yyyy"))", {{"d", "20240229"}}), kNull);
    expect_error(R"(FormatDateTime([d], "yyyy"))", "FormatDateTime takes 3 to 4 arguments, got 2", 1);
    expect_error(R"(FormatDateTime([d], , "a", "b", "c"))", "FormatDateTime takes 3 to 4 arguments, got 5", 1);
}

// ---------------------------------------------------------------------------------------------
// IIF and comparisons

TEST(ExpressionIif, ReferenceExampleCountryOrDepartment) {
    const std::string_view e = R"(IIF([country]="USA",[country],[department]))";
    EXPECT_EQ(eval(e, {{"country", "USA"}, {"department", "Sales"}}), "USA");
    EXPECT_EQ(eval(e, {{"country", "Canada"}, {"department", "Sales"}}), "Sales");
}

TEST(ExpressionIif, ReferenceAndOrWorkarounds) {
    const std::string_view and_expr = R"(IIF([country]="USA",IIF([state]="CA","True","False"),"False"))";
    EXPECT_EQ(eval(and_expr, {{"country", "USA"}, {"state", "CA"}}), "True");
    EXPECT_EQ(eval(and_expr, {{"country", "USA"}, {"state", "WA"}}), "False");
    EXPECT_EQ(eval(and_expr, {{"country", "MEX"}, {"state", "CA"}}), "False");
    const std::string_view or_expr = R"(IIF([country]="USA","True",IIF([state]="CA","True","False")))";
    EXPECT_EQ(eval(or_expr, {{"country", "USA"}, {"state", "WA"}}), "True");
    EXPECT_EQ(eval(or_expr, {{"country", "MEX"}, {"state", "CA"}}), "True");
    EXPECT_EQ(eval(or_expr, {{"country", "MEX"}, {"state", "WA"}}), "False");
}

TEST(ExpressionIif, NullOrEmptyAttributeInConditionFailsTheCheck) {
    // Reference, known limitations: with an empty or null attribute the condition check fails.
    const std::string_view e = R"(IIF([country]="","Other",[country]))";
    EXPECT_EQ(eval(e), kNull);
    EXPECT_EQ(eval(e, {{"country", ""}}), kNull);
    EXPECT_EQ(eval(e, {{"country", nullptr}}), kNull);
    EXPECT_EQ(eval(e, {{"country", "NZ"}}), "NZ");
    // The recommended workaround does give "Other".
    EXPECT_EQ(eval(R"(Switch([country],[country],"","Other"))"), "Other");
    EXPECT_EQ(eval(R"(Switch([country],[country],"","Other"))", {{"country", "NZ"}}), "NZ");
}

TEST(ExpressionIif, ConditionFromBooleanAttributeAndFunctions) {
    EXPECT_EQ(eval(R"(IIF([accountEnabled], "on", "off"))", {{"accountEnabled", true}}), "on");
    EXPECT_EQ(eval(R"(IIF([accountEnabled], "on", "off"))", {{"accountEnabled", "False"}}), "off");
    EXPECT_EQ(eval(R"(IIF(IsPresent([mail]), [mail], "none"))", {{"mail", "m@x"}}), "m@x");
    EXPECT_EQ(eval(R"(IIF(IsPresent([mail]), [mail], "none"))"), "none");
    EXPECT_EQ(eval(R"(IIF([missing], "on", "off"))"), kNull);
    expect_error(R"(IIF([a], "x"))", "IIF takes 3 arguments, got 2", 1);
}

TEST(ExpressionCompare, AllOperatorsNumericWhenANumberIsInvolved) {
    const json attrs = {{"age", "10"}, {"name", "bob"}};
    EXPECT_EQ(eval(R"(IIF([age] > 5, "False", "True"))", attrs), "False");  // 10 > 5 as numbers
    EXPECT_EQ(eval(R"(IIF([age] > "5", "False", "True"))", attrs), "True");  // "10" < "5" as strings
    EXPECT_EQ(eval("CBool([age] = 10)", attrs), true);
    EXPECT_EQ(eval("CBool([age] <> 10)", attrs), false);
    EXPECT_EQ(eval("CBool([age] < 11)", attrs), true);
    EXPECT_EQ(eval("CBool([age] <= 10)", attrs), true);
    EXPECT_EQ(eval("CBool([age] >= 11)", attrs), false);
    EXPECT_EQ(eval("CBool([age] > 9.5)", attrs), true);
    EXPECT_EQ(eval(R"(CBool([name] = "bob"))", attrs), true);
    EXPECT_EQ(eval(R"(CBool([name] = "Bob"))", attrs), false);  // case-sensitive
    EXPECT_EQ(eval(R"(CBool([name] < "carol"))", attrs), true);
    EXPECT_EQ(eval(R"(CBool([accountEnabled] = "True"))", {{"accountEnabled", true}}), true);
    EXPECT_EQ(eval(R"([name] = "bob")", attrs), true);  // a comparison on its own yields a boolean
}

// ---------------------------------------------------------------------------------------------
// IsNull, IsNullOrEmpty, IsPresent

TEST(ExpressionIsNull, TrueOnlyWhenAbsentOrNull) {
    EXPECT_EQ(eval("IsNull([displayName])"), true);
    EXPECT_EQ(eval("IsNull([displayName])", {{"displayName", nullptr}}), true);
    EXPECT_EQ(eval("IsNull([displayName])", {{"displayName", ""}}), false);
    EXPECT_EQ(eval("IsNull([displayName])", {{"displayName", "Ada"}}), false);
    expect_error("IsNull()", "IsNull takes 1 argument, got 0", 1);
}

TEST(ExpressionIsNullOrEmpty, TrueWhenAbsentNullOrEmpty) {
    EXPECT_EQ(eval("IsNullOrEmpty([displayName])"), true);
    EXPECT_EQ(eval("IsNullOrEmpty([displayName])", {{"displayName", nullptr}}), true);
    EXPECT_EQ(eval("IsNullOrEmpty([displayName])", {{"displayName", ""}}), true);
    EXPECT_EQ(eval("IsNullOrEmpty([displayName])", {{"displayName", "Ada"}}), false);
    expect_error("IsNullOrEmpty([a], [b])", "IsNullOrEmpty takes 1 argument, got 2", 1);
}

TEST(ExpressionIsPresent, InverseOfIsNullOrEmpty) {
    EXPECT_EQ(eval("IsPresent([displayName])"), false);
    EXPECT_EQ(eval("IsPresent([displayName])", {{"displayName", nullptr}}), false);
    EXPECT_EQ(eval("IsPresent([displayName])", {{"displayName", ""}}), false);
    EXPECT_EQ(eval("IsPresent([displayName])", {{"displayName", "Ada"}}), true);
    expect_error("IsPresent()", "IsPresent takes 1 argument, got 0", 1);
}

TEST(ExpressionIsPresent, DefaultValueExampleFromTheMappingTutorial) {
    const std::string_view e = R"(Switch(IsPresent([jobTitle]), "DefaultValue", "True", [jobTitle]))";
    EXPECT_EQ(eval(e, {{"jobTitle", "Engineer"}}), "Engineer");
    EXPECT_EQ(eval(e), "DefaultValue");
}

// ---------------------------------------------------------------------------------------------
// Join

TEST(ExpressionJoin, ReferenceExampleCommaBetweenLastAndFirstName) {
    EXPECT_EQ(eval(R"(Join(", ", "", [surname], [givenName]))", {{"givenName", "John"}, {"surname", "Doe"}}),
              "Doe, John");
}

TEST(ExpressionJoin, SkipsNullsFlattensArraysAndConvertsValues) {
    EXPECT_EQ(eval(R"(Join(" ", [givenName], [surname]))", {{"givenName", "John"}}), "John");
    EXPECT_EQ(eval(R"(Join(" ", [givenName], [surname]))", {{"givenName", "John"}, {"surname", nullptr}}), "John");
    EXPECT_EQ(eval(R"(Join(" ", [givenName], [surname]))"), kNull);
    EXPECT_EQ(eval(R"(Join(";", [proxyAddresses]))", {{"proxyAddresses", {"a", "b", "c"}}}), "a;b;c");
    EXPECT_EQ(eval(R"(Join("-", [accountEnabled], 7))", {{"accountEnabled", true}}), "True-7");
    EXPECT_EQ(eval(R"(Join([missing], "a", "b"))"), "ab");
}

TEST(ExpressionJoin, ReferenceUserPrincipalNameGeneration) {
    EXPECT_EQ(eval(R"(Join("@", NormalizeDiacritics(StripSpaces(Join(".",  [PreferredFirstName], [PreferredLastName]))), "contoso.com"))",
                   {{"PreferredFirstName", "John"}, {"PreferredLastName", "Smith"}}),
              "John.Smith@contoso.com");
    expect_error(R"(Join(" "))", "Join takes at least 2 arguments, got 1", 1);
}

// ---------------------------------------------------------------------------------------------
// Left, Mid

TEST(ExpressionLeft, ReferenceRules) {
    EXPECT_EQ(eval(R"(Left("John Doe", 3))"), "Joh");
    EXPECT_EQ(eval(R"(Left("John Doe", 0))"), "");
    EXPECT_EQ(eval(R"(Left("John Doe", -1))"), "John Doe");
    EXPECT_EQ(eval(R"(Left("John Doe", 30))"), "John Doe");
    EXPECT_EQ(eval("Left([missing], 3)"), "");  // "If string is null, return empty string"
    EXPECT_EQ(eval("Left([a], 3)", {{"a", nullptr}}), "");
    EXPECT_EQ(eval("Left([a], 3)", {{"a", ""}}), "");
    EXPECT_EQ(eval(R"(Left("Zoë", 3))"), "Zoë");
    EXPECT_EQ(eval(R"(Left("Zoë", 2))"), "Zo");
    EXPECT_EQ(eval(R"(Left("Zoë", [n]))", {{"n", "2"}}), "Zo");
    expect_error(R"(Left("John Doe"))", "Left takes 2 arguments, got 1", 1);
}

TEST(ExpressionMid, ReferenceAliasExample) {
    EXPECT_EQ(eval("Append(Mid([givenName], 1, 3), Mid([surname], 1, 5))", {{"givenName", "John"}, {"surname", "Doe"}}),
              "JohDoe");
}

TEST(ExpressionMid, SubstringRulesAndNulls) {
    EXPECT_EQ(eval(R"(Mid("abcdef", 2, 3))"), "bcd");
    EXPECT_EQ(eval(R"(Mid("abc", 2, 10))"), "bc");  // length past the end stops at the end
    EXPECT_EQ(eval(R"(Mid("abc", 5, 1))"), "");
    EXPECT_EQ(eval(R"(Mid("Jürgen", 2, 2))"), "ür");
    EXPECT_EQ(eval("Mid([missing], 1, 1)"), kNull);
    EXPECT_EQ(eval("Mid([a], 1, 1)", {{"a", nullptr}}), kNull);
    EXPECT_EQ(eval("Mid([a], 1, 1)", {{"a", ""}}), "");
    EXPECT_EQ(eval(R"(Mid("abc", 0, 1))"), kNull);
    expect_error(R"(Mid("abc", 1))", "Mid takes 3 arguments, got 2", 1);
}

// ---------------------------------------------------------------------------------------------
// NormalizeDiacritics (the full table is in expression_functions_test.cpp)

TEST(ExpressionNormalizeDiacritics, ReferenceExampleAndNames) {
    EXPECT_EQ(eval("NormalizeDiacritics([givenName])", {{"givenName", "Zoë"}}), "Zoe");
    EXPECT_EQ(eval(R"(NormalizeDiacritics("Jürgen"))"), "Jurgen");
    EXPECT_EQ(eval(R"(NormalizeDiacritics("Łukasz"))"), "Lukasz");
    EXPECT_EQ(eval(R"(NormalizeDiacritics("Strauß"))"), "Strauss");
    EXPECT_EQ(eval(R"(NormalizeDiacritics("Jéssica Smith"))"), "Jessica Smith");
    EXPECT_EQ(eval("NormalizeDiacritics([missing])"), kNull);
    EXPECT_EQ(eval("NormalizeDiacritics([a])", {{"a", nullptr}}), kNull);
    EXPECT_EQ(eval("NormalizeDiacritics([a])", {{"a", ""}}), "");
    expect_error("NormalizeDiacritics()", "NormalizeDiacritics takes 1 argument, got 0", 1);
}

// ---------------------------------------------------------------------------------------------
// Not

TEST(ExpressionNot, FlipsTrueAndOtherwiseReturnsTrue) {
    EXPECT_EQ(eval("Not([IsSoftDeleted])", json::object(), {.soft_deleted = true}), false);
    EXPECT_EQ(eval("Not([IsSoftDeleted])", json::object(), {.soft_deleted = false}), true);
    EXPECT_EQ(eval(R"(Not("True"))"), false);
    EXPECT_EQ(eval(R"(Not("true"))"), false);
    EXPECT_EQ(eval(R"(Not("False"))"), true);
    EXPECT_EQ(eval("Not([accountEnabled])", {{"accountEnabled", true}}), false);
    EXPECT_EQ(eval("Not([accountEnabled])", {{"accountEnabled", false}}), true);
    // "If source value is True, returns False. Otherwise, returns True."
    EXPECT_EQ(eval("Not([missing])"), true);
    EXPECT_EQ(eval("Not([a])", {{"a", nullptr}}), true);
    EXPECT_EQ(eval("Not([a])", {{"a", ""}}), true);
    expect_error("Not()", "Not takes 1 argument, got 0", 1);
    expect_error("Not([a], [b])", "Not takes 1 argument, got 2", 1);
}

// ---------------------------------------------------------------------------------------------
// PCase

TEST(ExpressionPCase, ReferenceExamples) {
    EXPECT_EQ(eval("PCase([firstName])", {{"firstName", "PABLO GONSALVES (SECOND)"}}), "Pablo Gonsalves (Second)");
    EXPECT_EQ(eval(R"(PCase([lastName]," '-"))", {{"lastName", "PINTO-DE'SILVA"}}), "Pinto-De'Silva");
    EXPECT_EQ(eval(R"(PCase(Join(" ",[firstName],[lastName])))", {{"firstName", "GREGORY"}, {"lastName", "JAMES"}}),
              "Gregory James");
}

TEST(ExpressionPCase, SeparatorsAndNulls) {
    // With explicit separators only those split words: '(' no longer does.
    EXPECT_EQ(eval(R"x(PCase("PABLO (SECOND)", " "))x"), "Pablo (second)");
    EXPECT_EQ(eval(R"(PCase("ÉMILE ZOLA"))"), "Émile Zola");
    EXPECT_EQ(eval("PCase([missing])"), kNull);
    EXPECT_EQ(eval("PCase([a])", {{"a", nullptr}}), kNull);
    EXPECT_EQ(eval("PCase([a])", {{"a", ""}}), "");
    expect_error("PCase()", "PCase takes 1 to 2 arguments, got 0", 1);
    expect_error(R"(PCase([a], " ", "x"))", "PCase takes 1 to 2 arguments, got 3", 1);
}

// ---------------------------------------------------------------------------------------------
// Replace

TEST(ExpressionReplace, Example1OldValueAndReplacementValue) {
    EXPECT_EQ(eval(R"(Replace([BusinessTitle],"Product Developer", , , "Software Engineer", , ))",
                   {{"BusinessTitle", "Product Developer"}}),
              "Software Engineer");
}

TEST(ExpressionReplace, Example2OldValueAndTemplate) {
    EXPECT_EQ(eval(R"(Replace([UserID],"<username>", , , , , "<username>@contoso.com"))", {{"UserID", "jsmith"}}),
              "jsmith@contoso.com");
}

TEST(ExpressionReplace, Example3RegexPatternAndReplacementValue) {
    EXPECT_EQ(eval(R"x(Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", , "${phoneNumber}", , ))x",
                   {{"telephoneNumber", "+91 9998887777"}}),
              "9998887777");
    // The reference prints "19998887777", but its class [()\s-] has no '+', so .NET keeps it too.
    EXPECT_EQ(eval(R"x(Replace([mobile], , "[()\\s-]+", , "", , ))x", {{"mobile", "+1 (999) 888-7777"}}),
              "+19998887777");
}

TEST(ExpressionReplace, Example4RegexGroupNameAndReplacementValue) {
    EXPECT_EQ(eval(R"x(Replace([AddressLineData], ,"(?<streetNumber>^\\d*)","streetNumber", "888", , ))x",
                   {{"AddressLineData", "545 Tremont Street"}}),
              "888 Tremont Street");
    EXPECT_EQ(eval(R"x(Replace([userPrincipalName], , "(?<Suffix>@(.)*)", "Suffix", "", , ))x",
                   {{"userPrincipalName", "jsmith@contoso.com"}}),
              "jsmith");
}

TEST(ExpressionReplace, Example5FallbackToAnotherAttribute) {
    const std::string_view e =
        R"x(Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", "phoneNumber" , , [mobile], ))x";
    EXPECT_EQ(eval(e, {{"telephoneNumber", ""}, {"mobile", "+91 8887779999"}}), "8887779999");
    EXPECT_EQ(eval(e, {{"mobile", "+91 8887779999"}}), "8887779999");
    EXPECT_EQ(eval(e, {{"telephoneNumber", "+1 4255550100"}, {"mobile", "+91 8887779999"}}), "+1 4255550100");
    EXPECT_EQ(eval(e, {{"mobile", "no digits"}}), kNull);
    EXPECT_EQ(eval(e), kNull);
}

TEST(ExpressionReplace, Example6RemoveMatchingCharacters) {
    EXPECT_EQ(eval(R"x(Replace([mailNickname], , "[a-zA-Z_]*", , "", , ))x", {{"mailNickname", "john_doe72"}}), "72");
}

TEST(ExpressionReplace, StripKnownDomainExample) {
    EXPECT_EQ(eval(R"(Replace([mail], "@contoso.com", , ,"", ,))", {{"mail", "john.doe@contoso.com"}}), "john.doe");
}

TEST(ExpressionReplace, DotNetGroupNumberingAndSubstitutions) {
    // .NET numbers unnamed groups before named ones: $1 is (\w+) after the @, $2 is "user".
    EXPECT_EQ(eval(R"x(Replace([m], , "(?<user>\\w+)@(\\w+)", , "$1|$2|${user}|$$|$&", , ))x", {{"m", "ada@contoso"}}),
              "contoso|ada|ada|$|ada@contoso");
    EXPECT_EQ(eval(R"x(Replace([m], , "b", , "[$`|$']", , ))x", {{"m", "abc"}}), "a[a|c]c");
    EXPECT_EQ(eval(R"x(Replace([m], , "b", , "${nope}", , ))x", {{"m", "abc"}}), "a${nope}c");
}

TEST(ExpressionReplace, NullsAndUnchangedSource) {
    EXPECT_EQ(eval(R"(Replace([missing], "a", , , "b", , ))"), kNull);
    EXPECT_EQ(eval(R"(Replace([s], "a", , , "b", , ))", {{"s", nullptr}}), kNull);
    EXPECT_EQ(eval(R"(Replace([s], "a", , , "b", , ))", {{"s", ""}}), "");
    EXPECT_EQ(eval(R"(Replace([s], "a", , , [missing], , ))", {{"s", "banana"}}), "bnn");
    EXPECT_EQ(eval(R"(Replace([s], "a"))", {{"s", "banana"}}), "banana");  // nothing to replace with
    EXPECT_EQ(eval(R"(Replace([s], , "a", , "o", , ))", {{"s", "banana"}}), "bonono");
    EXPECT_EQ(eval(R"(Replace([s], , [p], , "o", , ))", {{"s", "banana"}, {"p", "an"}}), "booa");  // dynamic
    EXPECT_EQ(eval(R"(Replace([s], , [p], , "o", , ))", {{"s", "banana"}, {"p", "(?<=a)"}}), kNull);
    EXPECT_EQ(eval(R"x(Replace([s], , "(?<g>x)", "other", "o", , ))x", {{"s", "xx"}}), "xx");  // no such group
}

TEST(ExpressionReplace, ArgumentCountAndInvalidPatternErrors) {
    expect_error("Replace()", "Replace takes 1 to 7 arguments, got 0", 1);
    expect_error("Replace([a], , , , , , , )", "Replace takes 1 to 7 arguments, got 8", 1);
    expect_error(R"x(Replace([a], , "(?<=x)y", , "", , ))x", "invalid regexPattern", 16);
    expect_error(R"x(Replace([a], , "([a-z", , "", , ))x", "invalid regexPattern", 16);
}

TEST(ExpressionReplace, ConstantPatternIsCompiledOnce) {
    const auto e = parse_ok(R"(Replace([a], , "b+", , "c", , ))");
    EXPECT_NE(e.pattern, nullptr);
    const auto dynamic = parse_ok(R"(Replace([a], , [p], , "c", , ))");
    EXPECT_EQ(dynamic.pattern, nullptr);
}

// ---------------------------------------------------------------------------------------------
// SelectUniqueValue

class RecordingLookup : public UniqueValueLookup {
public:
    explicit RecordingLookup(std::vector<std::string> taken) : taken_(std::move(taken)) {}

    bool taken(std::string_view target_path, const json& value) override {
        calls.emplace_back(std::string(target_path), value);
        return std::find(taken_.begin(), taken_.end(), value.get<std::string>()) != taken_.end();
    }

    std::vector<std::pair<std::string, json>> calls;

private:
    std::vector<std::string> taken_;
};

constexpr std::string_view kUniqueUpn = R"(SelectUniqueValue(
        Join("@", NormalizeDiacritics(StripSpaces(Join(".",  [PreferredFirstName], [PreferredLastName]))), "contoso.com"),
        Join("@", NormalizeDiacritics(StripSpaces(Join(".",  Mid([PreferredFirstName], 1, 1), [PreferredLastName]))), "contoso.com"),
        Join("@", NormalizeDiacritics(StripSpaces(Join(".",  Mid([PreferredFirstName], 1, 2), [PreferredLastName]))), "contoso.com")
    ))";

const json kJohnSmith = {{"PreferredFirstName", "John"}, {"PreferredLastName", "Smith"}};

TEST(ExpressionSelectUniqueValue, ReferenceExampleFirstFreeCandidate) {
    RecordingLookup none({});
    EXPECT_EQ(eval(kUniqueUpn, kJohnSmith, {.lookup = &none, .target_path = "userName"}), "John.Smith@contoso.com");
    ASSERT_EQ(none.calls.size(), 1U);
    EXPECT_EQ(none.calls[0].first, "userName");
    EXPECT_EQ(none.calls[0].second, "John.Smith@contoso.com");

    RecordingLookup first({"John.Smith@contoso.com"});
    EXPECT_EQ(eval(kUniqueUpn, kJohnSmith, {.lookup = &first, .target_path = "userName"}), "J.Smith@contoso.com");
    ASSERT_EQ(first.calls.size(), 2U);
    EXPECT_EQ(first.calls[1].second, "J.Smith@contoso.com");

    RecordingLookup two({"John.Smith@contoso.com", "J.Smith@contoso.com"});
    EXPECT_EQ(eval(kUniqueUpn, kJohnSmith, {.lookup = &two, .target_path = "userName"}), "Jo.Smith@contoso.com");
    ASSERT_EQ(two.calls.size(), 3U);
    EXPECT_EQ(two.calls[2], std::make_pair(std::string("userName"), json("Jo.Smith@contoso.com")));
}

TEST(ExpressionSelectUniqueValue, AllTakenIsNullAndNullCandidatesAreNotLookedUp) {
    RecordingLookup all({"John.Smith@contoso.com", "J.Smith@contoso.com", "Jo.Smith@contoso.com"});
    EXPECT_EQ(eval(kUniqueUpn, kJohnSmith, {.lookup = &all, .target_path = "userName"}), kNull);
    EXPECT_EQ(all.calls.size(), 3U);

    RecordingLookup lookup({});
    EXPECT_EQ(eval(R"(SelectUniqueValue([missing], [mail]))", {{"mail", "m@x"}},
                   {.lookup = &lookup, .target_path = "emails[type eq \"work\"].value"}),
              "m@x");
    ASSERT_EQ(lookup.calls.size(), 1U);
    EXPECT_EQ(lookup.calls[0].first, R"(emails[type eq "work"].value)");
}

TEST(ExpressionSelectUniqueValue, WithoutLookupFirstNonNullCandidate) {
    EXPECT_EQ(eval(kUniqueUpn, kJohnSmith), "John.Smith@contoso.com");
    EXPECT_EQ(eval(R"(SelectUniqueValue([a], [b]))", {{"a", nullptr}, {"b", "B"}}), "B");
    EXPECT_EQ(eval(R"(SelectUniqueValue([a], [b]))"), kNull);
}

TEST(ExpressionSelectUniqueValue, MustBeTopLevelAndHaveTwoRules) {
    expect_error(R"(ToLower(SelectUniqueValue([a], [b])))", "cannot be nested", 9);
    expect_error(R"(SelectUniqueValue([a], [b]) = "x")", "cannot be nested", 1);
    expect_error(R"(CBool("x" = SelectUniqueValue([a], [b])))", "cannot be nested", 13);
    expect_error(R"(SelectUniqueValue([a]))", "SelectUniqueValue takes at least 2 arguments, got 1", 1);
    EXPECT_THROW(Expression::call("Join", {Expression::constant_value(","),
                                           Expression::call("SelectUniqueValue", {Expression::attribute("a"),
                                                                                  Expression::attribute("b")})}),
                 std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// SingleAppRoleAssignment

TEST(ExpressionSingleAppRoleAssignment, ReturnsTheAssignmentsRole) {
    EXPECT_EQ(eval("SingleAppRoleAssignment([appRoleAssignments])", json::object(), {.role = "Admin"}), "Admin");
    EXPECT_EQ(eval("SingleAppRoleAssignment([appRoleAssignments])"), kNull);
    expect_error("SingleAppRoleAssignment([roles])", "takes [appRoleAssignments]", 25);
    expect_error("SingleAppRoleAssignment()", "SingleAppRoleAssignment takes 1 argument, got 0", 1);
}

// ---------------------------------------------------------------------------------------------
// Split, StripSpaces

TEST(ExpressionSplit, ReferenceExampleMultiValuedArray) {
    EXPECT_EQ(eval(R"(Split([extensionAttribute5], ","))", {{"extensionAttribute5", "PermissionSetOne, PermissionSetTwo"}}),
              json({"PermissionSetOne", "PermissionSetTwo"}));
}

TEST(ExpressionSplit, NullsEmptyItemsAndJoinRoundTrip) {
    EXPECT_EQ(eval(R"(Split([s], ","))", {{"s", "a,,b,"}}), json({"a", "b"}));
    EXPECT_EQ(eval(R"(Split([s], "::"))", {{"s", "a::b:c"}}), json({"a", "b:c"}));
    EXPECT_EQ(eval(R"(Split([missing], ","))"), kNull);
    EXPECT_EQ(eval(R"(Split([s], ","))", {{"s", nullptr}}), kNull);
    EXPECT_EQ(eval(R"(Split([s], ","))", {{"s", ""}}), kNull);
    EXPECT_EQ(eval(R"(Join("|", Split([s], ",")))", {{"s", "x,y"}}), "x|y");
    expect_error(R"(Split([s]))", "Split takes 2 arguments, got 1", 1);
}

TEST(ExpressionStripSpaces, RemovesEverySpace) {
    EXPECT_EQ(eval("StripSpaces([s])", {{"s", " Mary Ann  Lee "}}), "MaryAnnLee");
    EXPECT_EQ(eval("StripSpaces([s])", {{"s", "tab\tkept"}}), "tab\tkept");
    EXPECT_EQ(eval("StripSpaces([missing])"), kNull);
    EXPECT_EQ(eval("StripSpaces([s])", {{"s", nullptr}}), kNull);
    EXPECT_EQ(eval("StripSpaces([s])", {{"s", ""}}), "");
    expect_error("StripSpaces()", "StripSpaces takes 1 argument, got 0", 1);
}

// ---------------------------------------------------------------------------------------------
// Switch

TEST(ExpressionSwitch, ReferenceExampleTimeZoneFromState) {
    const std::string_view e =
        R"(Switch([state], "Australia/Sydney", "NSW", "Australia/Sydney","QLD", "Australia/Brisbane", "SA", "Australia/Adelaide"))";
    EXPECT_EQ(eval(e, {{"state", "QLD"}}), "Australia/Brisbane");
    EXPECT_EQ(eval(e, {{"state", "SA"}}), "Australia/Adelaide");
    EXPECT_EQ(eval(e, {{"state", "VIC"}}), "Australia/Sydney");
    EXPECT_EQ(eval(e, {{"state", "qld"}}), "Australia/Sydney");  // case-sensitive
    EXPECT_EQ(eval(e), "Australia/Sydney");
}

TEST(ExpressionSwitch, EntraDefaultActiveMappingWithEmptyDefault) {
    const std::string_view e = R"(Switch([IsSoftDeleted], , "False", "True", "True", "False"))";
    EXPECT_EQ(eval(e, json::object(), {.soft_deleted = false}), "True");
    EXPECT_EQ(eval(e, json::object(), {.soft_deleted = true}), "False");
    const auto parsed = parse_ok(e);
    ASSERT_EQ(parsed.args.size(), 6U);
    EXPECT_EQ(parsed.args[1].kind, Expression::Kind::Empty);
    EXPECT_EQ(eval(R"(Switch([x], , "a", "b"))", {{"x", "z"}}), kNull);  // empty default
}

TEST(ExpressionSwitch, ReferenceCaseInsensitiveAndEmptyKeyNotes) {
    const std::string_view lower = R"(Switch(ToLower([statusFlag]), "0", "true", "1", "false", "0"))";
    EXPECT_EQ(eval(lower, {{"statusFlag", "TRUE"}}), "1");
    EXPECT_EQ(eval(lower, {{"statusFlag", "True"}}), "1");
    EXPECT_EQ(eval(lower, {{"statusFlag", "false"}}), "0");
    const std::string_view empty_key = R"(Switch([statusFlag], "Default Value", "true", "1", "", "0"))";
    EXPECT_EQ(eval(empty_key), "0");
    EXPECT_EQ(eval(empty_key, {{"statusFlag", ""}}), "0");
    EXPECT_EQ(eval(empty_key, {{"statusFlag", nullptr}}), "0");
    EXPECT_EQ(eval(empty_key, {{"statusFlag", "true"}}), "1");
    EXPECT_EQ(eval(empty_key, {{"statusFlag", "maybe"}}), "Default Value");
}

TEST(ExpressionSwitch, ReferenceIifAlternativeAndBooleanSource) {
    const std::string_view iif = R"(IIF([companyName] = "Company A", "A", IIF([companyName] = "Company B", "B", "External")))";
    EXPECT_EQ(eval(iif, {{"companyName", "Company A"}}), "A");
    EXPECT_EQ(eval(iif, {{"companyName", "Company B"}}), "B");
    EXPECT_EQ(eval(iif, {{"companyName", "Other"}}), "External");
    const std::string_view flag = R"(Switch([accountEnabled], , "True", "enabled", "False", "disabled"))";
    EXPECT_EQ(eval(flag, {{"accountEnabled", true}}), "enabled");
    EXPECT_EQ(eval(flag, {{"accountEnabled", false}}), "disabled");
}

TEST(ExpressionSwitch, ArgumentCountErrors) {
    expect_error(R"(Switch([a], "d"))", "Switch takes at least 4 arguments, got 2", 1);
    expect_error(R"(Switch([a], "d", "k", "v", "k2"))", "even number of arguments", 1);
}

// ---------------------------------------------------------------------------------------------
// ToLower, ToUpper

TEST(ExpressionToLower, ReferenceExample) {
    EXPECT_EQ(eval(R"(ToLower(Join("@", NormalizeDiacritics(StripSpaces(Join(".",  [PreferredFirstName], [PreferredLastName]))), "contoso.com")))",
                   kJohnSmith),
              "john.smith@contoso.com");
}

TEST(ExpressionToLowerUpper, CultureIsAcceptedAndNullsStayNull) {
    EXPECT_EQ(eval(R"(ToLower([s], "en-US"))", {{"s", "ÉMILE Zoë"}}), "émile zoë");
    EXPECT_EQ(eval(R"(ToUpper([s], "tr-TR"))", {{"s", "émile zoë"}}), "ÉMILE ZOË");
    EXPECT_EQ(eval("ToUpper([s])", {{"s", "straße"}}), "STRAßE");  // invariant: ß has no 1:1 upper case
    EXPECT_EQ(eval("ToLower([missing])"), kNull);
    EXPECT_EQ(eval("ToUpper([s])", {{"s", nullptr}}), kNull);
    EXPECT_EQ(eval("ToUpper([s])", {{"s", ""}}), "");
    expect_error("ToLower()", "ToLower takes 1 to 2 arguments, got 0", 1);
    expect_error(R"(ToUpper([a], "en", "x"))", "ToUpper takes 1 to 2 arguments, got 3", 1);
}

// ---------------------------------------------------------------------------------------------
// Word

TEST(ExpressionWord, ReferenceExamples) {
    EXPECT_EQ(eval(R"(Word("The quick brown fox",3," "))"), "brown");
    EXPECT_EQ(eval(R"(Word("This,string!has&many separators",3,",!&#"))"), "has");
}

TEST(ExpressionWord, ReferenceRulesForNumbersAndNulls) {
    EXPECT_EQ(eval(R"(Word("The quick brown fox",0," "))"), "");
    EXPECT_EQ(eval(R"(Word("The quick brown fox",5," "))"), "");
    EXPECT_EQ(eval(R"(Word("a  b",2," "))"), "b");  // runs of delimiters separate once
    EXPECT_EQ(eval(R"(Word([missing],1," "))"), "");
    EXPECT_EQ(eval(R"(Word([s],1," "))", {{"s", nullptr}}), "");
    EXPECT_EQ(eval(R"(Word([s],1," "))", {{"s", ""}}), "");
    expect_error(R"(Word("a b", 1))", "Word takes 3 arguments, got 2", 1);
}

// ---------------------------------------------------------------------------------------------
// Attributes, constants and IsSoftDeleted

TEST(ExpressionValues, AttributesConstantsAndIsSoftDeleted) {
    EXPECT_EQ(eval("[mail]", {{"mail", "m@x"}}), "m@x");
    EXPECT_EQ(eval("[mail]"), kNull);
    EXPECT_EQ(eval("[Mail]", {{"mail", "m@x"}}), kNull);  // case-sensitive
    EXPECT_EQ(eval(R"("United States")"), "United States");
    EXPECT_EQ(eval("[IsSoftDeleted]", json::object(), {.soft_deleted = true}), true);
    EXPECT_EQ(eval("[IsSoftDeleted]", {{"IsSoftDeleted", true}}, {.soft_deleted = false}), false);
}

TEST(ExpressionValues, EvaluateRefReadsAttributesWithoutCopying) {
    const json attrs = {{"mail", "m@x"}};
    const SourceContext ctx{attrs};
    json scratch;
    const auto mail = Expression::attribute("mail");
    EXPECT_EQ(&evaluate_ref(mail, ctx, scratch), &attrs["mail"]);
    const auto join = parse_ok(R"(Join(" ", [mail], "x"))");
    const json& joined = evaluate_ref(join, ctx, scratch);
    EXPECT_EQ(&joined, &scratch);
    EXPECT_EQ(joined, "m@x x");
}

// ---------------------------------------------------------------------------------------------
// Builders used by code

TEST(ExpressionCall, ResolvesFunctionsAndRejectsBadCalls) {
    const auto e = Expression::call("Join", {Expression::constant_value(" "), Expression::attribute("givenName"),
                                             Expression::attribute("surname")});
    EXPECT_NE(e.function, nullptr);
    const json attrs = {{"givenName", "Ada"}, {"surname", "Lovelace"}};
    EXPECT_EQ(evaluate(e, SourceContext{attrs}), "Ada Lovelace");
    EXPECT_EQ(evaluate(Expression::call("Not", {Expression::attribute("IsSoftDeleted")}), SourceContext{attrs, true}),
              false);
    EXPECT_THROW(Expression::call("Nope", {}), std::invalid_argument);
    EXPECT_THROW(Expression::call("Now", {}), std::invalid_argument);
    EXPECT_THROW(Expression::call("Not", {}), std::invalid_argument);
    EXPECT_THROW(Expression::call("Replace", {Expression::attribute("a"), Expression::empty(),
                                              Expression::constant_value("(?<=a)")}),
                 std::invalid_argument);
    const auto cmp = Expression::compare(CompareOp::Greater, Expression::attribute("n"), Expression::constant_value(2));
    EXPECT_EQ(evaluate(cmp, SourceContext{json{{"n", 3}}}), true);
    EXPECT_TRUE(is_known_function("Switch"));
    EXPECT_FALSE(is_known_function("switch"));
    EXPECT_FALSE(is_known_function("Now"));  // in Entra's list, not implemented here
}

// ---------------------------------------------------------------------------------------------
// Parser

TEST(ExpressionParser, NestingWhitespaceAndNewLines) {
    EXPECT_EQ(eval("ToUpper( ToLower ( Join( \" \" ,\n\tLeft([a], 2),\r\n Mid([b], 1, 1) ) ) )",
                   {{"a", "Alpha"}, {"b", "beta"}}),
              "AL B");
    EXPECT_EQ(eval("  [mail]  ", {{"mail", "m"}}), "m");
    EXPECT_EQ(eval("Switch([Active], ,\n  \"1\", IIF([days] > 5, \"False\", \"True\"),\n  \"0\", \"False\")",
                   {{"Active", "1"}, {"days", 3}}),
              "True");
}

TEST(ExpressionParser, StringEscapes) {
    EXPECT_EQ(eval(R"("Company name: \"Contoso\"")"), R"(Company name: "Contoso")");
    EXPECT_EQ(eval(R"("back\\slash")"), R"(back\slash)");
    EXPECT_EQ(eval(R"("\d{3}")"), R"(\d{3})");  // other backslashes stay as written
    EXPECT_EQ(eval(R"("")"), "");
    EXPECT_EQ(eval(R"("a,b)c")"), "a,b)c");
}

TEST(ExpressionParser, NumbersAndHexLiterals) {
    EXPECT_EQ(eval("CStr(-10)"), "-10");
    EXPECT_EQ(eval("CStr(&HF7)"), "247");
    EXPECT_EQ(eval("CStr(&hff)"), "255");
    EXPECT_EQ(eval("CStr(2.25)"), "2.25");
    const auto e = parse_ok("Left([x], 3)");
    ASSERT_EQ(e.args.size(), 2U);
    EXPECT_TRUE(e.args[1].constant.is_number_integer());
}

TEST(ExpressionParser, EmptyArguments) {
    const auto e = parse_ok(R"(Replace([a], , , ,"x", ,))");
    ASSERT_EQ(e.args.size(), 7U);
    EXPECT_EQ(e.args[1].kind, Expression::Kind::Empty);
    EXPECT_EQ(e.args[4].kind, Expression::Kind::Constant);
    EXPECT_EQ(e.args[6].kind, Expression::Kind::Empty);
}

TEST(ExpressionParser, ComparisonOperators) {
    const std::vector<std::pair<std::string, CompareOp>> ops = {
        {"=", CompareOp::Equal},  {"<>", CompareOp::NotEqual},  {"<", CompareOp::Less},
        {">", CompareOp::Greater}, {"<=", CompareOp::LessEqual}, {">=", CompareOp::GreaterEqual}};
    for (const auto& [text, op] : ops) {
        const auto e = parse_ok("CBool([a] " + text + " 1)");
        ASSERT_EQ(e.args.size(), 1U);
        EXPECT_EQ(e.args[0].kind, Expression::Kind::Compare) << text;
        EXPECT_EQ(e.args[0].op, op) << text;
    }
    expect_error(R"(IIF([a]=, "x", "y"))", "expected a value after '='", 9);
    expect_error(R"(IIF([a] = [b] = [c], "x", "y"))", "expected ',' or ')'", 15);
}

TEST(ExpressionParser, UnknownAndUnsupportedFunctions) {
    expect_error("Foo([a])", "unknown function Foo", 1);
    expect_error(R"(Join(" ", Fooo([a])))", "unknown function Fooo", 11);
    expect_error(R"(join(" ", [a]))", "case-sensitive: Join", 1);
    expect_error("Now()", "unsupported function Now", 1);
    expect_error("Guid()", "unsupported function Guid", 1);
    expect_error(R"(IIF(DateDiff("d", Now(), CDate([x])) > 5, "False", "True"))", "unsupported function DateDiff", 5);
    expect_error(R"(Append("Zoë", Foo()))", "unknown function Foo", 15);  // columns count characters
}

TEST(ExpressionParser, UnbalancedParentheses) {
    expect_error(R"(Join(" ", [a])", "expected ')' to close Join( opened at column 5", 14);
    expect_error(R"x(Join(" ", [a])))x", "unexpected ')' after the end of the expression", 15);
    expect_error(R"(Join(" " [a]))", "expected ',' or ')'", 10);
    expect_error("Join(", "expected ')'", 6);
    expect_error(")", "unexpected ')'", 1);
}

TEST(ExpressionParser, UnterminatedStrings) {
    expect_error(R"(Append([a], "abc))", "unterminated string", 13);
    expect_error(R"("abc\")", "unterminated string", 1);
}

TEST(ExpressionParser, TrailingGarbage) {
    expect_error("[mail] x", "unexpected 'x' after the end of the expression", 8);
    expect_error(R"(Join(" ", [a]) , [b])", "unexpected ','", 16);
    expect_error(R"("a" "b")", "unexpected '\"'", 5);
}

TEST(ExpressionParser, BadAttributeBrackets) {
    expect_error("[mail", "expected ']' to close the attribute name opened at column 1", 6);
    expect_error("[ma[il]", "unexpected '[' inside the attribute name", 4);
    expect_error("[]", "empty attribute name", 1);
    expect_error("mail]", "attributes go in square brackets ([mail])", 1);
    expect_error("Append(], [a])", "unexpected ']' without an opening '['", 8);
    expect_error(R"(Append([a] "x"))", "expected ',' or ')'", 12);
    expect_error("Join ", "expected '(' after the function name Join", 6);
}

TEST(ExpressionParser, LengthLimitAndEmptyExpression) {
    const std::string ok = "\"" + std::string(kMaxExpressionLength - 2, 'x') + "\"";
    EXPECT_EQ(eval(ok), std::string(kMaxExpressionLength - 2, 'x'));
    expect_error("\"" + std::string(kMaxExpressionLength - 1, 'x') + "\"", "at most 10,000", 10001);
    // Characters, not bytes: 10,000 two-byte characters are allowed.
    std::string wide = "\"";
    for (std::size_t i = 0; i < kMaxExpressionLength - 2; ++i) wide += "é";
    wide += "\"";
    EXPECT_TRUE(std::holds_alternative<Expression>(parse_expression(wide)));
    expect_error("", "empty expression", 1);
    expect_error("   ", "empty expression", 4);
}

TEST(ExpressionParser, NestingDepthIsBounded) {
    std::string deep;
    for (int i = 0; i < 150; ++i) deep += "ToLower(";
    deep += "[a]";
    for (int i = 0; i < 150; ++i) deep += ")";
    expect_error(deep, "nests functions more than 100 deep", 801);
    std::string ok;
    for (int i = 0; i < 100; ++i) ok += "ToLower(";
    ok += "[a]";
    for (int i = 0; i < 100; ++i) ok += ")";
    EXPECT_EQ(eval(ok, {{"a", "X"}}), "x");
}

// ---------------------------------------------------------------------------------------------
// Rough cost per evaluation, printed for the record (not asserted: unit tests do not time).

TEST(ExpressionTiming, PrintsRoughPerEvaluationCost) {
    const json attrs = {{"givenName", "Ada"}, {"surname", "Lovelace"}, {"mail", "ada.lovelace@contoso.com"}};
    const SourceContext ctx{attrs};
    const auto join = parse_ok(R"(Join(" ", [givenName], [surname]))");
    const auto mail = parse_ok("[mail]");
    constexpr int kIterations = 200'000;
    std::size_t total = 0;
    const auto time = [&](const Expression& e) {
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < kIterations; ++i) total += evaluate(e, ctx).get_ref<const std::string&>().size();
        return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / kIterations;
    };
    const double join_ns = time(join);
    const double mail_ns = time(mail);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kIterations; ++i) {
        json scratch;
        total += evaluate_ref(mail, ctx, scratch).get_ref<const std::string&>().size();
    }
    const double mail_ref_ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / kIterations;
    EXPECT_EQ(total, static_cast<std::size_t>(kIterations) * (12 + 24 + 24));
    std::cout << "[ timing ] Join(\" \", [givenName], [surname]): " << join_ns << " ns/evaluation; [mail]: " << mail_ns
              << " ns/evaluation (evaluate_ref, no copy: " << mail_ref_ns << " ns)\n";
}

}  // namespace
}  // namespace provbridge::transforms
