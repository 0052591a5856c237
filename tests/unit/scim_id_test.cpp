// Server-chosen ids go into request paths (/Users/<id>, with the app's token): only an id that
// cannot address another resource is used.
#include <gtest/gtest.h>

#include "provbridge/transforms/scim_protocol.hpp"

namespace provbridge::transforms {
namespace {

TEST(UnsafeScimId, IdsRealAppsAnswerAreUsed) {
    for (const char* id : {"2819c223-7f76-453a-919d-413861904646", "12345", "005Dn000001AbCdEAF", "user_1.a-b~c",
                           "a.b", "AbC=", "u:1@example.org"}) {
        EXPECT_FALSE(unsafe_scim_id(id).has_value()) << id << ": " << unsafe_scim_id(id).value_or("");
    }
}

TEST(UnsafeScimId, PathsQueriesEscapesAndControlCharactersAreRefusedWithTheReason) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"../../Groups/x", "\"..\""},
        {"a/b", "'/'"},
        {"u1?attributes=password", "'?'"},
        {"u1#frag", "'#'"},
        {"%2e%2e%2fGroups", "'%'"},
        {"a\\b", "'\\'"},
        {"a b", "a space"},
        {std::string("a\nb"), "control character"},
        {std::string("a\0b", 3), "control character"},
        {"", "empty"},
        {std::string(257, 'a'), "257 bytes"},
    };
    for (const auto& [id, why] : cases) {
        const auto refused = unsafe_scim_id(id);
        ASSERT_TRUE(refused.has_value()) << id;
        EXPECT_NE(refused->find(why), std::string::npos) << id << ": " << *refused;
    }
    EXPECT_FALSE(unsafe_scim_id(std::string(256, 'a')).has_value()) << "256 bytes is the most";
}

}  // namespace
}  // namespace provbridge::transforms
