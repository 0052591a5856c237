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
                            keys.invalid_record("leapsome", "provisioning.events", 3, 42),
                            keys.queue("leapsome", ObjectType::User, "7f3c9a"), keys.due("leapsome"),
                            keys.parked("leapsome"), keys.leases("leapsome"),
                            keys.lease_sequence("leapsome")}) {
        EXPECT_EQ(key.rfind("pb:{leapsome}:", 0), 0U) << key;
        EXPECT_EQ(hash_tag(key), "leapsome") << key;
    }
}

TEST(KeyScheme, KeysAreReadable) {
    const KeyScheme keys("pb");
    EXPECT_EQ(keys.link("elium", ObjectType::Group, "g1"), "pb:{elium}:link:group:g1");
    EXPECT_EQ(keys.log("elium"), "pb:{elium}:log");
    EXPECT_EQ(keys.invalid_record(KeyScheme::kInvalidApp, "t", 0, 7), "pb:{_invalid}:rec:t:0:7");
    EXPECT_EQ(keys.offset_gaps(), "pb:offset_gaps");
    EXPECT_EQ(KeyScheme("prod").offset_gaps(), "prod:offset_gaps");
}

TEST(KeyScheme, SourceAndIdCannotCollide) {
    const KeyScheme keys;
    EXPECT_NE(keys.event("a", "x:y", "z"), keys.event("a", "x", "y:z"));
    EXPECT_NE(keys.event("a", "s", "1"), keys.event("b", "s", "1"));
}

TEST(KeyScheme, QueueKeyIsItsPrefixAndMember) {
    const KeyScheme keys("pb");
    EXPECT_EQ(keys.queue("elium", ObjectType::Group, "g1"), "pb:{elium}:queue:group:g1");
    EXPECT_EQ(KeyScheme::queue_member(ObjectType::User, "a:b/c d"), "user:a:b/c d");
    for (const std::string id : {"u1", "a:b", ":", "", "user:x", "grüße/日本"}) {
        for (const auto type : {ObjectType::User, ObjectType::Group}) {
            const auto member = KeyScheme::queue_member(type, id);
            EXPECT_EQ(keys.queue_prefix("elium") + member, keys.queue("elium", type, id));
            const auto parsed = KeyScheme::parse_queue_member(member);
            ASSERT_TRUE(parsed.has_value()) << member;
            EXPECT_EQ(parsed->type, type);
            EXPECT_EQ(parsed->source_id, id);
        }
    }
    EXPECT_FALSE(KeyScheme::parse_queue_member("printer:p1").has_value());
    EXPECT_FALSE(KeyScheme::parse_queue_member("user").has_value());
    EXPECT_NE(KeyScheme::queue_member(ObjectType::User, "g"), KeyScheme::queue_member(ObjectType::Group, "g"));
}

TEST(KeyScheme, DeletionThresholdKeysShareTheAppsSlot) {
    const KeyScheme keys("pb");
    EXPECT_EQ(keys.deletions("crm", 14916666), "pb:{crm}:deletes:14916666");
    EXPECT_EQ(keys.staged("crm"), "pb:{crm}:staged");
    EXPECT_NE(keys.deletions("crm", 1), keys.operations("crm", 1)) << "not the quarantine's window";
}

TEST(KeyScheme, PrefixSeparatesDeployments) {
    EXPECT_NE(KeyScheme("one").log("a"), KeyScheme("two").log("a"));
}

}  // namespace
}  // namespace provbridge
