#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "provbridge/consumers/offset_gap.hpp"

namespace provbridge::consumers {
namespace {

using nlohmann::json;

TEST(OffsetGap, AJumpPastTheLogStartLosesWhatLayBetween) {
    // Committed 3, the log now starts at 1000 and the first record read is 1000.
    EXPECT_EQ(find_offset_gap(3, 1000, 1000), (OffsetGap{3, 1000, 997}));
    // The log start moved on while the fetch was under way: only up to the record is gone.
    EXPECT_EQ(find_offset_gap(3, 1000, 1200), (OffsetGap{3, 1000, 997}));
    // The first record after the log start is a later one (a transaction marker at the start).
    EXPECT_EQ(find_offset_gap(0, 12, 10), (OffsetGap{0, 10, 10}));
    EXPECT_EQ(find_offset_gap(41, 42, 42), (OffsetGap{41, 42, 1}));
}

TEST(OffsetGap, JumpsThatStayInTheLogAreNoGap) {
    EXPECT_FALSE(find_offset_gap(5, 5, 0)) << "no jump";
    EXPECT_FALSE(find_offset_gap(5, 5, 900)) << "no jump, whatever the log start says";
    EXPECT_FALSE(find_offset_gap(5, 9, 0)) << "control records or compaction";
    EXPECT_FALSE(find_offset_gap(5, 9, 5)) << "the log starts where the group was";
    EXPECT_FALSE(find_offset_gap(9, 5, 100)) << "going back (a redelivery) loses nothing";
}

TEST(OffsetGap, UnknownOffsetsAreNoGap) {
    constexpr std::int64_t kInvalid = -1001;  // librdkafka: no committed offset / not known
    EXPECT_FALSE(find_offset_gap(kInvalid, 1000, 1000)) << "a new group starts at the log start by design";
    EXPECT_FALSE(find_offset_gap(3, 1000, kInvalid));
    EXPECT_FALSE(find_offset_gap(3, kInvalid, 1000));
}

TEST(OffsetGap, StoredValueRoundTripsAndNamesItsPartition) {
    const TopicPartition tp{"provisioning.events", 11};
    EXPECT_EQ(offset_gap_field(tp), "provisioning.events/11");
    const std::string doc = encode_new_offset_gap("group \"x\"", tp, {3, 1000, 997}, 1790000000123);
    const json parsed = json::parse(doc);
    EXPECT_EQ(parsed["committed"], 3);
    EXPECT_EQ(parsed["log_start"], 1000);
    EXPECT_EQ(parsed["lost"], 997);
    EXPECT_EQ(parsed["detected_at_ms"], 1790000000123);
    EXPECT_EQ(parsed["group"], "group \"x\"");
    EXPECT_EQ(doc.back(), '}') << "the store appends the totals before the closing brace";

    auto first = decode_offset_gap(offset_gap_field(tp), doc);
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_EQ(first->topic, tp.topic);
    EXPECT_EQ(first->partition, 11);
    EXPECT_EQ(first->group, "group \"x\"");
    EXPECT_EQ(first->gap, (OffsetGap{3, 1000, 997}));
    EXPECT_EQ(first->gaps, 1) << "without totals it is the partition's first gap";
    EXPECT_EQ(first->total_lost, 997);
    EXPECT_EQ(first->first_detected_at_ms, 1790000000123);

    json with_totals = parsed;
    with_totals["gaps"] = 3;
    with_totals["total_lost"] = 5000;
    with_totals["first_detected_at_ms"] = 1780000000000;
    auto later = decode_offset_gap("provisioning.events/11", with_totals.dump());
    ASSERT_TRUE(later) << later.error().message;
    EXPECT_EQ(later->gaps, 3);
    EXPECT_EQ(later->total_lost, 5000);
    EXPECT_EQ(later->first_detected_at_ms, 1780000000000);
}

TEST(OffsetGap, ValuesThatAreNotOursAreRefusedWithTheirField) {
    for (const std::string text : {"", "not json", "[1,2]", R"({"format":2})", R"({"format":1,"topic":"t"})",
                                   R"({"format":1,"topic":"t","partition":"zero","group":"g","committed":1,)"
                                   R"("log_start":2,"lost":1,"detected_at_ms":5})"}) {
        auto decoded = decode_offset_gap("t/0", text);
        ASSERT_FALSE(decoded) << text;
        EXPECT_NE(decoded.error().message.find("t/0"), std::string::npos) << decoded.error().message;
    }
    const auto shown = undecodable_offset_gap("a.topic/12", make_error("corrupt"));
    EXPECT_EQ(shown.topic, "a.topic");
    EXPECT_EQ(shown.partition, 12);
    EXPECT_EQ(shown.decode_error, "corrupt");
    const auto odd = undecodable_offset_gap("no-partition", make_error("corrupt"));
    EXPECT_EQ(odd.topic, "");
    EXPECT_EQ(odd.decode_error, "corrupt");
}

}  // namespace
}  // namespace provbridge::consumers
