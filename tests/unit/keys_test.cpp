#include <gtest/gtest.h>

#include "provbridge/core/keys.hpp"

namespace provbridge {
namespace {

std::string hash_tag(const std::string& key) {
    const auto open = key.find('{');
    const auto close = key.find('}', open);
    return key.substr(open + 1, close - open - 1);
}

TEST(KeyScheme, EveryKeyOfAnAppCarriesItsHashTag) {
    const KeyScheme keys("pb");
    for (const auto& key : {keys.event("leapsome", "urn:directory:contoso", "e1"),
                            keys.link("leapsome", ObjectType::User, "7f3c9a"), keys.log("leapsome"),
                            keys.stats("leapsome"), keys.dead_letters("leapsome"),
                            keys.invalid_record("leapsome", "provisioning.events", 3, 42)}) {
        EXPECT_EQ(key.rfind("pb:{leapsome}:", 0), 0U) << key;
        EXPECT_EQ(hash_tag(key), "leapsome") << key;
    }
}

TEST(KeyScheme, KeysAreReadable) {
    const KeyScheme keys("pb");
    EXPECT_EQ(keys.link("elium", ObjectType::Group, "g1"), "pb:{elium}:link:group:g1");
    EXPECT_EQ(keys.log("elium"), "pb:{elium}:log");
    EXPECT_EQ(keys.invalid_record(KeyScheme::kInvalidApp, "t", 0, 7), "pb:{_invalid}:rec:t:0:7");
}

TEST(KeyScheme, SourceAndIdCannotCollide) {
    const KeyScheme keys;
    EXPECT_NE(keys.event("a", "x:y", "z"), keys.event("a", "x", "y:z"));
    EXPECT_NE(keys.event("a", "s", "1"), keys.event("b", "s", "1"));
}

TEST(KeyScheme, PrefixSeparatesDeployments) {
    EXPECT_NE(KeyScheme("one").log("a"), KeyScheme("two").log("a"));
}

}  // namespace
}  // namespace provbridge
