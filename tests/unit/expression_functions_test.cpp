// The pure algorithms behind the expression functions: Entra's diacritics table row by row,
// case mapping, .NET date/time format strings and the .NET → ECMAScript regex translation.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "provbridge/transforms/expression.hpp"

namespace provbridge::transforms::detail {
namespace {

// Every row of the reference's NormalizeDiacritics table, each character both precomposed
// (NFC) and decomposed (NFD), separated by spaces.
const std::vector<std::pair<std::string, std::string>> kDiacriticRows = {
    {"\u00E4 \u00E0 \u00E2 \u00E3 \u00E5 \u00E1 \u0105 \u0103 \u0101 \u0101\u0301 \u0101\u0300 \u0101\u0302 \u0101\u0303 \u01DF \u0101\u0308 \u01E1 a\u0331 \u00E5\u0304", "a a a a a a a a a a a a a a a a a a"},  // NFC ä à â ã å á ą ă ā ā́ ā̀ ā̂ ā̃ ǟ ā̈ ǡ a̱ å̄
    {"a\u0308 a\u0300 a\u0302 a\u0303 a\u030A a\u0301 a\u0328 a\u0306 a\u0304 a\u0304\u0301 a\u0304\u0300 a\u0304\u0302 a\u0304\u0303 a\u0308\u0304 a\u0304\u0308 a\u0307\u0304 a\u0331 a\u030A\u0304", "a a a a a a a a a a a a a a a a a a"},  // NFD ä à â ã å á ą ă ā ā́ ā̀ ā̂ ā̃ ǟ ā̈ ǡ a̱ å̄
    {"\u00C4 \u00C0 \u00C2 \u00C3 \u00C5 \u00C1 \u0104 \u0102 \u0100 \u0100\u0301 \u0100\u0300 \u0100\u0302 \u0100\u0303 \u01DE \u0100\u0308 \u01E0 A\u0331 \u00C5\u0304", "A A A A A A A A A A A A A A A A A A"},  // NFC Ä À Â Ã Å Á Ą Ă Ā Ā́ Ā̀ Ā̂ Ā̃ Ǟ Ā̈ Ǡ A̱ Å̄
    {"A\u0308 A\u0300 A\u0302 A\u0303 A\u030A A\u0301 A\u0328 A\u0306 A\u0304 A\u0304\u0301 A\u0304\u0300 A\u0304\u0302 A\u0304\u0303 A\u0308\u0304 A\u0304\u0308 A\u0307\u0304 A\u0331 A\u030A\u0304", "A A A A A A A A A A A A A A A A A A"},  // NFD Ä À Â Ã Å Á Ą Ă Ā Ā́ Ā̀ Ā̂ Ā̃ Ǟ Ā̈ Ǡ A̱ Å̄
    {"\u00E6 \u01E3", "ae ae"},  // NFC æ ǣ
    {"\u00E6 \u00E6\u0304", "ae ae"},  // NFD æ ǣ
    {"\u00C6 \u01E2", "AE AE"},  // NFC Æ Ǣ
    {"\u00C6 \u00C6\u0304", "AE AE"},  // NFD Æ Ǣ
    {"\u00E7 \u010D \u0107 c\u0304 c\u0331", "c c c c c"},  // NFC ç č ć c̄ c̱
    {"c\u0327 c\u030C c\u0301 c\u0304 c\u0331", "c c c c c"},  // NFD ç č ć c̄ c̱
    {"\u00C7 \u010C \u0106 C\u0304 C\u0331", "C C C C C"},  // NFC Ç Č Ć C̄ C̱
    {"C\u0327 C\u030C C\u0301 C\u0304 C\u0331", "C C C C C"},  // NFD Ç Č Ć C̄ C̱
    {"\u010F d\u0304 \u1E0F", "d d d"},  // NFC ď d̄ ḏ
    {"d\u030C d\u0304 d\u0331", "d d d"},  // NFD ď d̄ ḏ
    {"\u010E D\u0304 \u1E0E", "D D D"},  // NFC Ď D̄ Ḏ
    {"D\u030C D\u0304 D\u0331", "D D D"},  // NFD Ď D̄ Ḏ
    {"\u00EB \u00E8 \u00E9 \u00EA \u0119 \u011B \u0117 \u0113 \u1E17 \u1E15 \u0113\u0302 \u0113\u0303 \u00EA\u0304 e\u0331 \u00EB\u0304 e\u030A\u0304", "e e e e e e e e e e e e e e e e"},  // NFC ë è é ê ę ě ė ē ḗ ḕ ē̂ ē̃ ê̄ e̱ ë̄ e̊̄
    {"e\u0308 e\u0300 e\u0301 e\u0302 e\u0328 e\u030C e\u0307 e\u0304 e\u0304\u0301 e\u0304\u0300 e\u0304\u0302 e\u0304\u0303 e\u0302\u0304 e\u0331 e\u0308\u0304 e\u030A\u0304", "e e e e e e e e e e e e e e e e"},  // NFD ë è é ê ę ě ė ē ḗ ḕ ē̂ ē̃ ê̄ e̱ ë̄ e̊̄
    {"\u00CB \u00C8 \u00C9 \u00CA \u0118 \u011A \u0116 \u0112 \u1E16 \u1E14 \u0112\u0302 \u0112\u0303 \u00CA\u0304 E\u0331 \u00CB\u0304 E\u030A\u0304", "E E E E E E E E E E E E E E E E"},  // NFC Ë È É Ê Ę Ě Ė Ē Ḗ Ḕ Ē̂ Ē̃ Ê̄ E̱ Ë̄ E̊̄
    {"E\u0308 E\u0300 E\u0301 E\u0302 E\u0328 E\u030C E\u0307 E\u0304 E\u0304\u0301 E\u0304\u0300 E\u0304\u0302 E\u0304\u0303 E\u0302\u0304 E\u0331 E\u0308\u0304 E\u030A\u0304", "E E E E E E E E E E E E E E E E"},  // NFD Ë È É Ê Ę Ě Ė Ē Ḗ Ḕ Ē̂ Ē̃ Ê̄ E̱ Ë̄ E̊̄
    {"\u011F \u1E21 g\u0331", "g g g"},  // NFC ğ ḡ g̱
    {"g\u0306 g\u0304 g\u0331", "g g g"},  // NFD ğ ḡ g̱
    {"\u011E \u1E20 G\u0331", "G G G"},  // NFC Ğ Ḡ G̱
    {"G\u0306 G\u0304 G\u0331", "G G G"},  // NFD Ğ Ḡ G̱
    {"\u00EF \u00EE \u00EC \u00ED \u0131 \u012B \u012B\u0301 \u012B\u0300 \u012B\u0302 \u012B\u0303 i\u0331", "i i i i i i i i i i i"},  // NFC ï î ì í ı ī ī́ ī̀ ī̂ ī̃ i̱
    {"i\u0308 i\u0302 i\u0300 i\u0301 \u0131 i\u0304 i\u0304\u0301 i\u0304\u0300 i\u0304\u0302 i\u0304\u0303 i\u0331", "i i i i i i i i i i i"},  // NFD ï î ì í ı ī ī́ ī̀ ī̂ ī̃ i̱
    {"\u00CF \u00CE \u00CC \u00CD \u0130 \u012A \u012A\u0301 \u012A\u0300 \u012A\u0302 \u012A\u0303 I\u0331", "I I I I I I I I I I I"},  // NFC Ï Î Ì Í İ Ī Ī́ Ī̀ Ī̂ Ī̃ I̱
    {"I\u0308 I\u0302 I\u0300 I\u0301 I\u0307 I\u0304 I\u0304\u0301 I\u0304\u0300 I\u0304\u0302 I\u0304\u0303 I\u0331", "I I I I I I I I I I I"},  // NFD Ï Î Ì Í İ Ī Ī́ Ī̀ Ī̂ Ī̃ I̱
    {"\u013E \u0142 l\u0304 \u1E39 \u1E3B", "l l l l l"},  // NFC ľ ł l̄ ḹ ḻ
    {"l\u030C \u0142 l\u0304 l\u0323\u0304 l\u0331", "l l l l l"},  // NFD ľ ł l̄ ḹ ḻ
    {"\u0141 \u013D L\u0304 \u1E38 \u1E3A", "L L L L L"},  // NFC Ł Ľ L̄ Ḹ Ḻ
    {"\u0141 L\u030C L\u0304 L\u0323\u0304 L\u0331", "L L L L L"},  // NFD Ł Ľ L̄ Ḹ Ḻ
    {"\u00F1 \u0144 \u0148 n\u0304 \u1E49", "n n n n n"},  // NFC ñ ń ň n̄ ṉ
    {"n\u0303 n\u0301 n\u030C n\u0304 n\u0331", "n n n n n"},  // NFD ñ ń ň n̄ ṉ
    {"\u00D1 \u0143 \u0147 N\u0304 \u1E48", "N N N N N"},  // NFC Ñ Ń Ň N̄ Ṉ
    {"N\u0303 N\u0301 N\u030C N\u0304 N\u0331", "N N N N N"},  // NFD Ñ Ń Ň N̄ Ṉ
    {"\u00F6 \u00F2 \u0151 \u00F5 \u00F4 \u00F3 \u014D \u1E53 \u1E51 \u014D\u0302 \u014D\u0303 \u022B \u014D\u0308 \u01ED \u022D \u0231 o\u0331", "o o o o o o o o o o o o o o o o o"},  // NFC ö ò ő õ ô ó ō ṓ ṑ ō̂ ō̃ ȫ ō̈ ǭ ȭ ȱ o̱
    {"o\u0308 o\u0300 o\u030B o\u0303 o\u0302 o\u0301 o\u0304 o\u0304\u0301 o\u0304\u0300 o\u0304\u0302 o\u0304\u0303 o\u0308\u0304 o\u0304\u0308 o\u0328\u0304 o\u0303\u0304 o\u0307\u0304 o\u0331", "o o o o o o o o o o o o o o o o o"},  // NFD ö ò ő õ ô ó ō ṓ ṑ ō̂ ō̃ ȫ ō̈ ǭ ȭ ȱ o̱
    {"\u00D6 \u00D2 \u0150 \u00D5 \u00D4 \u00D3 \u014C \u1E52 \u1E50 \u014C\u0302 \u014C\u0303 \u022A \u014C\u0308 \u01EC \u022C \u0230 O\u0331", "O O O O O O O O O O O O O O O O O"},  // NFC Ö Ò Ő Õ Ô Ó Ō Ṓ Ṑ Ō̂ Ō̃ Ȫ Ō̈ Ǭ Ȭ Ȱ O̱
    {"O\u0308 O\u0300 O\u030B O\u0303 O\u0302 O\u0301 O\u0304 O\u0304\u0301 O\u0304\u0300 O\u0304\u0302 O\u0304\u0303 O\u0308\u0304 O\u0304\u0308 O\u0328\u0304 O\u0303\u0304 O\u0307\u0304 O\u0331", "O O O O O O O O O O O O O O O O O"},  // NFD Ö Ò Ő Õ Ô Ó Ō Ṓ Ṑ Ō̂ Ō̃ Ȫ Ō̈ Ǭ Ȭ Ȱ O̱
    {"\u00F8 \u00F8\u0304 \u0153\u0304", "oe oe oe"},  // NFC ø ø̄ œ̄
    {"\u00F8 \u00F8\u0304 \u0153\u0304", "oe oe oe"},  // NFD ø ø̄ œ̄
    {"\u00D8 \u00D8\u0304 \u0152\u0304", "OE OE OE"},  // NFC Ø Ø̄ Œ̄
    {"\u00D8 \u00D8\u0304 \u0152\u0304", "OE OE OE"},  // NFD Ø Ø̄ Œ̄
    {"\u0159 r\u0304 \u1E5F \u1E5D", "r r r r"},  // NFC ř r̄ ṟ ṝ
    {"r\u030C r\u0304 r\u0331 r\u0323\u0304", "r r r r"},  // NFD ř r̄ ṟ ṝ
    {"\u0158 R\u0304 \u1E5E \u1E5C", "R R R R"},  // NFC Ř R̄ Ṟ Ṝ
    {"R\u030C R\u0304 R\u0331 R\u0323\u0304", "R R R R"},  // NFD Ř R̄ Ṟ Ṝ
    {"\u00DF", "ss"},  // NFC ß
    {"\u00DF", "ss"},  // NFD ß
    {"\u0161 \u015B \u0219 \u015F s\u0304 s\u0331", "s s s s s s"},  // NFC š ś ș ş s̄ s̱
    {"s\u030C s\u0301 s\u0326 s\u0327 s\u0304 s\u0331", "s s s s s s"},  // NFD š ś ș ş s̄ s̱
    {"\u0160 \u015A \u0218 \u015E S\u0304 S\u0331", "S S S S S S"},  // NFC Š Ś Ș Ş S̄ S̱
    {"S\u030C S\u0301 S\u0326 S\u0327 S\u0304 S\u0331", "S S S S S S"},  // NFD Š Ś Ș Ş S̄ S̱
    {"\u0165 \u021B t\u0304 \u1E6F", "t t t t"},  // NFC ť ț t̄ ṯ
    {"t\u030C t\u0326 t\u0304 t\u0331", "t t t t"},  // NFD ť ț t̄ ṯ
    {"\u0164 \u021A T\u0304 \u1E6E", "T T T T"},  // NFC Ť Ț T̄ Ṯ
    {"T\u030C T\u0326 T\u0304 T\u0331", "T T T T"},  // NFD Ť Ț T̄ Ṯ
    {"\u00FC \u00F9 \u00FB \u00FA \u016F \u0171 \u016B \u016B\u0301 \u016B\u0300 \u016B\u0302 \u016B\u0303 u\u0307\u0304 \u01D6 \u1E7B \u1E73\u0304 u\u0331", "u u u u u u u u u u u u u u u u"},  // NFC ü ù û ú ů ű ū ū́ ū̀ ū̂ ū̃ u̇̄ ǖ ṻ ṳ̄ u̱
    {"u\u0308 u\u0300 u\u0302 u\u0301 u\u030A u\u030B u\u0304 u\u0304\u0301 u\u0304\u0300 u\u0304\u0302 u\u0304\u0303 u\u0307\u0304 u\u0308\u0304 u\u0304\u0308 u\u0324\u0304 u\u0331", "u u u u u u u u u u u u u u u u"},  // NFD ü ù û ú ů ű ū ū́ ū̀ ū̂ ū̃ u̇̄ ǖ ṻ ṳ̄ u̱
    {"\u00DC \u00D9 \u00DB \u00DA \u016E \u0170 \u016A \u016A\u0301 \u016A\u0300 \u016A\u0302 \u016A\u0303 U\u0307\u0304 \u01D5 \u1E7A \u1E72\u0304 U\u0331", "U U U U U U U U U U U U U U U U"},  // NFC Ü Ù Û Ú Ů Ű Ū Ū́ Ū̀ Ū̂ Ū̃ U̇̄ Ǖ Ṻ Ṳ̄ U̱
    {"U\u0308 U\u0300 U\u0302 U\u0301 U\u030A U\u030B U\u0304 U\u0304\u0301 U\u0304\u0300 U\u0304\u0302 U\u0304\u0303 U\u0307\u0304 U\u0308\u0304 U\u0304\u0308 U\u0324\u0304 U\u0331", "U U U U U U U U U U U U U U U U"},  // NFD Ü Ù Û Ú Ů Ű Ū Ū́ Ū̀ Ū̂ Ū̃ U̇̄ Ǖ Ṻ Ṳ̄ U̱
    {"\u00FF \u00FD \u0233 \u0233\u0301 \u0233\u0300 \u0233\u0303 y\u0331", "y y y y y y y"},  // NFC ÿ ý ȳ ȳ́ ȳ̀ ȳ̃ y̱
    {"y\u0308 y\u0301 y\u0304 y\u0304\u0301 y\u0304\u0300 y\u0304\u0303 y\u0331", "y y y y y y y"},  // NFD ÿ ý ȳ ȳ́ ȳ̀ ȳ̃ y̱
    {"\u0178 \u00DD \u0232 \u0232\u0301 \u0232\u0300 \u0232\u0303 Y\u0331", "Y Y Y Y Y Y Y"},  // NFC Ÿ Ý Ȳ Ȳ́ Ȳ̀ Ȳ̃ Y̱
    {"Y\u0308 Y\u0301 Y\u0304 Y\u0304\u0301 Y\u0304\u0300 Y\u0304\u0303 Y\u0331", "Y Y Y Y Y Y Y"},  // NFD Ÿ Ý Ȳ Ȳ́ Ȳ̀ Ȳ̃ Y̱
    {"\u017A \u017E \u017C z\u0304 \u1E95", "z z z z z"},  // NFC ź ž ż z̄ ẕ
    {"z\u0301 z\u030C z\u0307 z\u0304 z\u0331", "z z z z z"},  // NFD ź ž ż z̄ ẕ
    {"\u0179 \u017D \u017B Z\u0304 \u1E94", "Z Z Z Z Z"},  // NFC Ź Ž Ż Z̄ Ẕ
    {"Z\u0301 Z\u030C Z\u0307 Z\u0304 Z\u0331", "Z Z Z Z Z"},  // NFD Ź Ž Ż Z̄ Ẕ

};

TEST(NormalizeDiacriticsTable, EveryDocumentedCharacterInBothNormalForms) {
    ASSERT_EQ(kDiacriticRows.size(), 70U);
    for (const auto& [input, expected] : kDiacriticRows) {
        EXPECT_EQ(normalize_diacritics(input), expected) << input;
    }
}

TEST(NormalizeDiacriticsTable, LeavesEverythingElseAlone) {
    EXPECT_EQ(normalize_diacritics("plain ASCII 123 !?"), "plain ASCII 123 !?");
    EXPECT_EQ(normalize_diacritics("Владимир 東京"), "Владимир 東京");  // not Latin: untouched
    EXPECT_EQ(normalize_diacritics("\u0439"), "\u0439");              // й stays й
    EXPECT_EQ(normalize_diacritics("\u0438\u0306"), "\u0438\u0306");  // и + breve after Cyrillic: kept
    EXPECT_EQ(normalize_diacritics("\u0111"), "\u0111");              // đ is not in Entra's table
    EXPECT_EQ(normalize_diacritics("Zo\xC3"), "Zo\xC3");                // a stray byte passes through
    EXPECT_EQ(normalize_diacritics("Fran\u00E7ois Ma\u00EEtre-\u00C5kesson"), "Francois Maitre-Akesson");
}

TEST(CaseMapping, InvariantSimpleMappings) {
    EXPECT_EQ(to_upper("abc xyz"), "ABC XYZ");
    EXPECT_EQ(to_lower("ÀÉÎÕÜ ŁŚŻ ΑΒΓ АБВ ЁЖ Ǆ"), "àéîõü łśż αβγ абв ёж Ǆ");
    EXPECT_EQ(to_upper("àéîõü łśż αβγ абв ёж ÿ"), "ÀÉÎÕÜ ŁŚŻ ΑΒΓ АБВ ЁЖ Ÿ");
    EXPECT_EQ(to_upper("straße"), "STRAßE");
    EXPECT_EQ(to_upper("ı"), "I");
    EXPECT_EQ(to_lower("İ"), "i");
    EXPECT_EQ(to_lower("ȘȚ ǞǬ ẞ"), "șț ǟǭ ß");
    EXPECT_EQ(to_upper("ṻẕ"), "ṺẔ");
}

TEST(ProperCase, DefaultSeparatorsFollowTitleCaseCategories) {
    EXPECT_EQ(proper_case("PABLO GONSALVES (SECOND)", std::nullopt), "Pablo Gonsalves (Second)");
    EXPECT_EQ(proper_case("o'neil-smith_jr.x", std::nullopt), "O'Neil-Smith_Jr.X");
    EXPECT_EQ(proper_case("ÉLODIE «ÇA» 1ST", std::nullopt), "Élodie «Ça» 1st");
    EXPECT_EQ(proper_case("mary\u2014ann", std::nullopt), "Mary\u2014Ann");  // em dash separates
    EXPECT_EQ(proper_case("PINTO-DE'SILVA", std::string_view(" '-")), "Pinto-De'Silva");
    EXPECT_EQ(proper_case("PINTO-DE'SILVA", std::string_view(" ")), "Pinto-de'silva");
}

TEST(WordAndFind, CodePointsAndDelimiterSets) {
    EXPECT_EQ(word_at("The quick brown fox", 3, " "), "brown");
    EXPECT_EQ(word_at("This,string!has&many separators", 4, ",!&#"), "many separators");
    EXPECT_EQ(word_at("a·b·c", 2, "·"), "b");  // a multi-byte delimiter
    EXPECT_EQ(word_at(",,,", 1, ","), "");
    EXPECT_EQ(word_at("abc", 1, ""), "abc");
    EXPECT_EQ(find_text("ÄäÄä", "ä", 1, false), 2);
    EXPECT_EQ(find_text("ÄäÄä", "ä", 1, true), 1);
    EXPECT_EQ(find_text("abc", "", 2, false), 2);
    EXPECT_EQ(find_text("abc", "c", 9, false), 0);
    EXPECT_EQ(utf8_length("Zoë"), 3U);
    EXPECT_EQ(utf8_offset("Zoë!", 3), 4U);
    EXPECT_EQ(utf8_offset("Zoë", 10), 4U);
}

TEST(Encodings, Base64OfUtf16AndHex) {
    EXPECT_EQ(base64_utf16le("Hello world!"), "SABlAGwAbABvACAAdwBvAHIAbABkACEA");
    EXPECT_EQ(base64_utf16le(""), "");
    EXPECT_EQ(base64_utf16le("a"), "YQA=");
    EXPECT_EQ(base64_utf16le("\xF0\x9F\x98\x80"), "PdgA3g==");  // U+1F600 as a surrogate pair
    EXPECT_EQ(utf8_hex("ë"), "C3AB");
}

// ---------------------------------------------------------------------------------------------
// FormatDateTime

std::optional<std::string> fmt(std::string_view source, std::string_view in, std::string_view out,
                               std::string_view styles = "") {
    return format_date_time(source, styles, in, out);
}

TEST(FormatDateTime, CustomSpecifiers) {
    EXPECT_EQ(fmt("20150123105347.1Z", "yyyyMMddHHmmss.fZ", "yyyy-MM-dd"), "2015-01-23");
    EXPECT_EQ(fmt("20150123105347.1Z", "yyyyMMddHHmmss.fZ", "o"), "2015-01-23T10:53:47.1000000Z");
    EXPECT_EQ(fmt("20150123105347.1Z", "yyyyMMddHHmmss.fZ", "M/d/yy h:m:s tt t"), "1/23/15 10:53:47 AM A");
    EXPECT_EQ(fmt("2009-06-15 13:05:09", "yyyy-MM-dd HH:mm:ss", "hh:mm:ss tt, H, h, dddd ddd MMMM MMM"),
              "01:05:09 PM, 13, 1, Monday Mon June Jun");
    EXPECT_EQ(fmt("15 jun 2009", "dd MMM yyyy", "dddd, MMMM d, yyyy"), "Monday, June 15, 2009");
    EXPECT_EQ(fmt("Monday, June 15, 2009", "dddd, MMMM d, yyyy", "yyyyMMdd"), "20090615");
    EXPECT_EQ(fmt("Tuesday, June 15, 2009", "dddd, MMMM d, yyyy", "yyyyMMdd"), std::nullopt);
    EXPECT_EQ(fmt("2009-06-15", "yyyy-MM-dd", "yyyy'T'MM \\d %d 'It''s'"), "2009T06 d 15 Its");
    EXPECT_EQ(fmt("2009-06-15", "yyyy-MM-dd", "yyy yyyyy y"), "2009 02009 9");
}

TEST(FormatDateTime, Fractions) {
    EXPECT_EQ(fmt("10:53:47.05", "HH:mm:ss.ff", "HH:mm:ss.fffffff|FFF"), "10:53:47.0500000|05");
    EXPECT_EQ(fmt("10:53:47", "HH:mm:ss", "HH:mm:ss.FFF"), "10:53:47");  // the '.' goes with an empty F
    EXPECT_EQ(fmt("10:53:47.5", "HH:mm:ss.FFF", "ff"), "50");
    EXPECT_EQ(fmt("10:53:47.", "HH:mm:ss.FFF", "ff"), "00");
    EXPECT_EQ(fmt("10:53:47.12", "HH:mm:ss.f", "ff"), std::nullopt);  // f is exactly one digit
}

TEST(FormatDateTime, TwelveHourClockAndDesignators) {
    EXPECT_EQ(fmt("12/31/2020 12:00:00 AM", "M/d/yyyy hh:mm:ss tt", "yyyy-MM-dd HH:mm"), "2020-12-31 00:00");
    EXPECT_EQ(fmt("12/31/2020 12:30:00 PM", "M/d/yyyy hh:mm:ss tt", "HH:mm"), "12:30");
    EXPECT_EQ(fmt("1/2/2020 1:02:03 pm", "M/d/yyyy h:mm:ss tt", "HH:mm:ss"), "13:02:03");
    EXPECT_EQ(fmt("13:00 PM", "HH:mm tt", "HH"), "13");
    EXPECT_EQ(fmt("13:00 AM", "HH:mm tt", "HH"), std::nullopt);
    EXPECT_EQ(fmt("13:00 PM", "hh:mm tt", "HH"), std::nullopt);
}

TEST(FormatDateTime, ZonesAndStyles) {
    EXPECT_EQ(fmt("2021-06-30+08:00", "yyyy-MM-ddzzz", "M/d/yyyy h:mm:ss tt"), "6/29/2021 4:00:00 PM");
    EXPECT_EQ(fmt("2021-06-30T23:30:00-01:00", "yyyy-MM-ddTHH:mm:ssK", "yyyy-MM-dd HH:mm K"),
              "2021-07-01 00:30 +00:00");
    EXPECT_EQ(fmt("2021-06-30T23:30:00-01:00", "yyyy-MM-ddTHH:mm:ssK", "yyyy-MM-dd HH:mm K", "AdjustToUniversal"),
              "2021-07-01 00:30 Z");
    EXPECT_EQ(fmt("2021-06-30T23:30:00Z", "yyyy-MM-ddTHH:mm:ssK", "HH:mm K zzz"), "23:30 Z +00:00");
    EXPECT_EQ(fmt("2021-06-30T23:30:00", "yyyy-MM-ddTHH:mm:ssK", "HH:mm[K]"), "23:30[]");
    EXPECT_EQ(fmt("2021-06-30 +5", "yyyy-MM-dd z", "yyyy-MM-dd HH"), "2021-06-29 19");
    EXPECT_EQ(fmt("0001-01-01+01:00", "yyyy-MM-ddzzz", "yyyy"), std::nullopt);  // before year 1
    EXPECT_EQ(fmt("2021-06-30", "yyyy-MM-dd", "%K", "AssumeUniversal, AdjustToUniversal"), "Z");
    EXPECT_EQ(fmt("2021-06-30", "yyyy-MM-dd", "%K", "DateTimeStyles.AssumeLocal"), "+00:00");
    EXPECT_EQ(fmt("2021-06-30", "yyyy-MM-dd", "K"), std::nullopt);  // one letter is a standard format
    EXPECT_EQ(fmt("  2021-06-30 ", "yyyy-MM-dd", "yyyy"), "2021");  // Entra's default trims
    EXPECT_EQ(fmt("  2021-06-30 ", "yyyy-MM-dd", "yyyy", "None"), std::nullopt);
    EXPECT_EQ(fmt("2021-06-30   10", "yyyy-MM-dd HH", "HH", "AllowInnerWhite"), "10");
    EXPECT_EQ(fmt("2021-06-30", "yyyy-MM-dd", "yyyy", "NotAStyle"), std::nullopt);
}

TEST(FormatDateTime, TwoDigitYearsStandardFormatsAndInvalidInput) {
    EXPECT_EQ(fmt("01/02/49", "MM/dd/yy", "yyyy"), "2049");
    EXPECT_EQ(fmt("01/02/50", "MM/dd/yy", "yyyy"), "1950");
    EXPECT_EQ(fmt("2009-06-15T13:45:30", "s", "d"), "06/15/2009");
    EXPECT_EQ(fmt("2009-06-15 13:45:30Z", "u", "R"), "Mon, 15 Jun 2009 13:45:30 GMT");
    EXPECT_EQ(fmt("2009-06-15", "yyyy-MM-dd", "Q"), std::nullopt);     // no such standard format
    EXPECT_EQ(fmt("2009-06-15", "yyyy-MM-dd", "yyyy'"), std::nullopt); // unterminated quote
    EXPECT_EQ(fmt("2009-06-15", "yyyy-MM-dd", "%"), std::nullopt);
    EXPECT_EQ(fmt("2009-13-15", "yyyy-MM-dd", "yyyy"), std::nullopt);
    EXPECT_EQ(fmt("2009-06-31", "yyyy-MM-dd", "yyyy"), std::nullopt);
    EXPECT_EQ(fmt("2009-06-15 24:00", "yyyy-MM-dd HH:mm", "yyyy"), std::nullopt);
    EXPECT_EQ(fmt("2009-06-15x", "yyyy-MM-dd", "yyyy"), std::nullopt);
    EXPECT_EQ(fmt("2009-6-15", "yyyy-MM-dd", "yyyy"), std::nullopt);
    EXPECT_EQ(fmt("2009-6-5", "yyyy-M-d", "MM/dd"), "06/05");
    EXPECT_EQ(fmt("", "yyyy", "yyyy"), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// Regular expressions

std::shared_ptr<const CompiledPattern> compile(std::string_view pattern) {
    auto compiled = compile_pattern(pattern);
    EXPECT_NE(compiled.pattern, nullptr) << pattern << ": " << compiled.error;
    return compiled.pattern;
}

TEST(DotNetRegex, NamedGroupsAndSubstitutions) {
    const auto p = compile(R"(\+(?<isdCode>\d* )(?<phoneNumber>\d{10}))");
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(regex_replace_all(*p, "+91 9998887777", "${phoneNumber}"), "9998887777");
    EXPECT_EQ(regex_replace_all(*p, "+91 9998887777", "$2/$1"), "9998887777/91 ");  // both named: in order
    EXPECT_EQ(regex_extract_group(*p, "+91 8887779999", "phoneNumber"), "8887779999");
    EXPECT_EQ(regex_extract_group(*p, "+91 8887779999", "nope"), std::nullopt);
    EXPECT_EQ(regex_extract_group(*p, "no match", "phoneNumber"), std::nullopt);
    EXPECT_EQ(regex_replace_group(*p, "call +91 9998887777 now", "isdCode", "44 "), "call +44 9998887777 now");

    const auto quoted = compile(R"((?'word'\w+)-\k<word>)");
    ASSERT_NE(quoted, nullptr);
    EXPECT_EQ(regex_replace_all(*quoted, "ab-ab ab-cd", "[${word}]"), "[ab] ab-cd");
    EXPECT_EQ(regex_replace_all(*quoted, "ab-ab", "$+|$_|$9|$"), "ab|ab-ab|$9|$");
}

TEST(DotNetRegex, AnchorsClassesAndEmptyMatches) {
    const auto anchored = compile(R"(\Aab\z)");
    ASSERT_NE(anchored, nullptr);
    EXPECT_EQ(regex_replace_all(*anchored, "ab", "x"), "x");
    EXPECT_EQ(regex_replace_all(*anchored, "abab", "x"), "abab");
    const auto bracket = compile("[]a]+");
    ASSERT_NE(bracket, nullptr);
    EXPECT_EQ(regex_replace_all(*bracket, "x]a]y", "-"), "x-y");
    const auto star = compile("[a-zA-Z_]*");
    ASSERT_NE(star, nullptr);
    EXPECT_EQ(regex_replace_all(*star, "john_doe72", ""), "72");
    EXPECT_EQ(regex_replace_all(*star, "a1b", "<$&>"), "<a><>1<b><>");
}

TEST(DotNetRegex, UnsupportedConstructsAreReported) {
    EXPECT_NE(compile_pattern("(?<=a)b").error.find("lookbehind"), std::string::npos);
    EXPECT_NE(compile_pattern("(?<!a)b").error.find("lookbehind"), std::string::npos);
    EXPECT_NE(compile_pattern(R"(\p{L}+)").error.find("Unicode categories"), std::string::npos);
    EXPECT_NE(compile_pattern("(?i)abc").error.find("not supported"), std::string::npos);
    EXPECT_NE(compile_pattern("(?<>a)").error.find("bad group name"), std::string::npos);
    EXPECT_NE(compile_pattern(R"(\k<x>(?<x>a))").error.find("no earlier group"), std::string::npos);
    EXPECT_FALSE(compile_pattern("[abc").error.empty());
    EXPECT_FALSE(compile_pattern("a\\").error.empty());
    EXPECT_FALSE(compile_pattern("a{2,1}").error.empty());
    EXPECT_TRUE(compile_pattern("(?:a)(?=b)(?!c)").error.empty());
}

}  // namespace
}  // namespace provbridge::transforms::detail
