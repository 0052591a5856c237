#include <gtest/gtest.h>

#include "provbridge/core/event.hpp"

namespace provbridge {
namespace {

// The example from the event contract, verbatim: it must be accepted unchanged.
constexpr const char* kContractExample = R"({
  "specversion": "1.0",
  "id": "evt-1",
  "source": "urn:directory:contoso",
  "type": "provisioning.user.assigned",
  "subject": "user/7f3c9a",
  "time": "2026-11-23T10:00:00Z",
  "data": {
    "app": "leapsome",
    "object": {
      "type": "user",
      "id": "7f3c9a",
      "version": 42,
      "attributes": {
        "userPrincipalName": "ada@contoso.com",
        "mail": "ada@contoso.com",
        "mailNickname": "ada",
        "givenName": "Ada",
        "surname": "Lovelace",
        "displayName": "Ada Lovelace",
        "jobTitle": "Engineer",
        "department": "R&D",
        "employeeId": "1001",
        "mobile": "+33 6 00 00 00 00",
        "telephoneNumber": "+33 1 00 00 00 00",
        "preferredLanguage": "fr-FR",
        "accountEnabled": true,
        "manager": "5e1d22"
      }
    },
    "assignment": { "role": "User" },
    "members": ["7f3c9a", "5e1d22"]
  }
})";

std::string with_data(const std::string& type, const std::string& data) {
    return R"({"specversion":"1.0","id":"e1","source":"urn:directory:contoso","type":")" + type +
           R"(","data":)" + data + "}";
}

TEST(EventParsing, AcceptsTheContractExampleUnchanged) {
    auto event = parse_structured_event(kContractExample);
    ASSERT_TRUE(event.ok()) << event.error().message;
    EXPECT_EQ(event->id, "evt-1");
    EXPECT_EQ(event->source, "urn:directory:contoso");
    EXPECT_EQ(event->type, EventType::UserAssigned);
    EXPECT_EQ(event->subject, "user/7f3c9a");
    EXPECT_EQ(event->app, "leapsome");
    EXPECT_EQ(event->object_type, ObjectType::User);
    EXPECT_EQ(event->object_id, "7f3c9a");
    EXPECT_EQ(event->version, 42);
    EXPECT_EQ(event->attributes["department"], "R&D");
    ASSERT_TRUE(event->role.has_value());
    EXPECT_EQ(*event->role, "User");
    EXPECT_EQ(event->members, (std::vector<std::string>{"7f3c9a", "5e1d22"}));
    EXPECT_EQ(record_key(*event), "leapsome/user/7f3c9a");
}

TEST(EventParsing, EveryContractTypeIsKnown) {
    for (const char* type :
         {"provisioning.user.assigned", "provisioning.user.unassigned", "provisioning.user.updated",
          "provisioning.user.deleted", "provisioning.group.assigned", "provisioning.group.unassigned",
          "provisioning.group.updated", "provisioning.group.deleted", "provisioning.group.members.added",
          "provisioning.group.members.removed"}) {
        auto parsed = event_type_from_string(type);
        ASSERT_TRUE(parsed.has_value()) << type;
        EXPECT_EQ(to_string(*parsed), type);
    }
}

TEST(EventParsing, GroupMembershipNeedsMembers) {
    const std::string data = R"({"app":"a","object":{"type":"group","id":"g1","version":1,"attributes":{"displayName":"G"}}})";
    auto event = parse_structured_event(with_data("provisioning.group.members.added", data));
    ASSERT_FALSE(event.ok());
    EXPECT_NE(event.error().message.find("data.members"), std::string::npos);

    const std::string with_members = R"({"app":"a","object":{"type":"group","id":"g1","version":1},"members":["u1","u2"]})";
    auto ok = parse_structured_event(with_data("provisioning.group.members.added", with_members));
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    EXPECT_EQ(ok->object_type, ObjectType::Group);
    EXPECT_EQ(ok->members.size(), 2U);
}

TEST(EventParsing, AReferenceCheckIsOnlyAReevaluationOrAMembersSyncFlag) {
    const auto data = [](const std::string& type, const std::string& check) {
        return R"({"app":"a","object":{"type":")" + type + R"(","id":"x","version":0},"reference_check":)" + check + "}";
    };
    auto check = parse_structured_event(with_data("provisioning.user.reevaluate", data("user", "true")));
    ASSERT_TRUE(check.ok()) << check.error().message;
    EXPECT_TRUE(check->reference_check);
    const auto round_trip = parse_structured_event(to_json(*check).dump());
    ASSERT_TRUE(round_trip.ok());
    EXPECT_TRUE(round_trip->reference_check);
    EXPECT_TRUE(parse_structured_event(with_data("provisioning.group.members.sync", data("group", "true")))->reference_check);
    EXPECT_FALSE(parse_structured_event(with_data("provisioning.user.updated", data("user", "false")))->reference_check);
    const auto wrong_type = parse_structured_event(with_data("provisioning.user.updated", data("user", "true")));
    ASSERT_FALSE(wrong_type.ok());
    EXPECT_NE(wrong_type.error().message.find("data.reference_check"), std::string::npos) << wrong_type.error().message;
    const auto not_bool = parse_structured_event(with_data("provisioning.user.reevaluate", data("user", "\"yes\"")));
    ASSERT_FALSE(not_bool.ok());
    EXPECT_NE(not_bool.error().message.find("true or false"), std::string::npos) << not_bool.error().message;
}

struct BadEvent {
    std::string name;
    std::string json;
    std::string expected_field;
};

// Keeps test names readable in ctest (gtest prints parameters it cannot format as raw bytes).
void PrintTo(const BadEvent& e, std::ostream* os) { *os << e.name; }

class RejectsMalformedEvents : public ::testing::TestWithParam<BadEvent> {};

TEST_P(RejectsMalformedEvents, WithTheFieldInTheReason) {
    auto event = parse_structured_event(GetParam().json);
    ASSERT_FALSE(event.ok());
    EXPECT_NE(event.error().message.find(GetParam().expected_field), std::string::npos)
        << "reason was: " << event.error().message;
}

const std::string kUserData = R"({"app":"a","object":{"type":"user","id":"u1","version":3,"attributes":{}}})";

INSTANTIATE_TEST_SUITE_P(
    Contract, RejectsMalformedEvents,
    ::testing::Values(
        BadEvent{"NotJson", "{not json", "invalid JSON"},
        BadEvent{"NotAnObject", "[1,2]", "JSON object"},
        BadEvent{"WrongSpecVersion", R"({"specversion":"0.3","id":"e","source":"s","type":"provisioning.user.assigned","data":)" + kUserData + "}", "specversion"},
        BadEvent{"MissingId", R"({"specversion":"1.0","source":"s","type":"provisioning.user.assigned","data":)" + kUserData + "}", "id"},
        BadEvent{"EmptySource", R"({"specversion":"1.0","id":"e","source":"","type":"provisioning.user.assigned","data":)" + kUserData + "}", "source"},
        BadEvent{"UnknownType", with_data("provisioning.user.renamed", kUserData), "unknown event type"},
        BadEvent{"MissingData", R"({"specversion":"1.0","id":"e","source":"s","type":"provisioning.user.assigned"})", "data"},
        BadEvent{"MissingApp", with_data("provisioning.user.assigned", R"({"object":{"type":"user","id":"u","version":1}})"), "data.app"},
        BadEvent{"MissingObject", with_data("provisioning.user.assigned", R"({"app":"a"})"), "data.object"},
        BadEvent{"ObjectTypeMismatch", with_data("provisioning.user.assigned", R"({"app":"a","object":{"type":"group","id":"g","version":1}})"), "data.object.type"},
        BadEvent{"MissingVersion", with_data("provisioning.user.assigned", R"({"app":"a","object":{"type":"user","id":"u"}})"), "data.object.version"},
        BadEvent{"StringVersion", with_data("provisioning.user.assigned", R"({"app":"a","object":{"type":"user","id":"u","version":"7"}})"), "data.object.version"},
        BadEvent{"NegativeVersion", with_data("provisioning.user.assigned", R"({"app":"a","object":{"type":"user","id":"u","version":-1}})"), "data.object.version"},
        BadEvent{"AttributesNotObject", with_data("provisioning.user.assigned", R"({"app":"a","object":{"type":"user","id":"u","version":1,"attributes":[]}})"), "data.object.attributes"},
        BadEvent{"RoleNotString", with_data("provisioning.user.assigned", R"({"app":"a","object":{"type":"user","id":"u","version":1},"assignment":{"role":5}})"), "data.assignment.role"}),
    [](const auto& info) { return info.param.name; });

TEST(EventParsing, NullAndMissingAttributesAreAllowed) {
    auto event = parse_structured_event(with_data(
        "provisioning.user.deleted", R"({"app":"a","object":{"type":"user","id":"u","version":9,"attributes":null}})"));
    ASSERT_TRUE(event.ok()) << event.error().message;
    EXPECT_TRUE(event->attributes.is_object());
    EXPECT_TRUE(event->attributes.empty());
}

TEST(EventParsing, BinaryModeReadsCeHeaders) {
    InboundRecord record;
    record.value = kUserData;
    record.headers = {{"ce_specversion", "1.0"}, {"ce_id", "b-1"}, {"ce_source", "urn:directory:x"},
                      {"ce_type", "provisioning.user.updated"}, {"ce_subject", "user/u1"},
                      {"content-type", "application/json"}};
    auto event = parse_record(record);
    ASSERT_TRUE(event.ok()) << event.error().message;
    EXPECT_EQ(event->id, "b-1");
    EXPECT_EQ(event->type, EventType::UserUpdated);
    EXPECT_EQ(event->object_id, "u1");
    EXPECT_EQ(event->version, 3);
}

TEST(EventParsing, BinaryModeWithoutRequiredHeaderIsRejected) {
    InboundRecord record;
    record.value = kUserData;
    record.headers = {{"ce_specversion", "1.0"}, {"ce_source", "s"}, {"ce_type", "provisioning.user.updated"}};
    auto event = parse_record(record);
    ASSERT_FALSE(event.ok());
    EXPECT_NE(event.error().message.find("ce_id"), std::string::npos);
}

TEST(EventParsing, StructuredModeIsUsedWithoutCeHeaders) {
    InboundRecord record;
    record.value = kContractExample;
    record.headers = {{"content-type", "application/cloudevents+json"}};
    auto event = parse_record(record);
    ASSERT_TRUE(event.ok()) << event.error().message;
    EXPECT_EQ(event->id, "evt-1");
}

TEST(EventParsing, ToJsonRoundTrips) {
    auto event = parse_structured_event(kContractExample);
    ASSERT_TRUE(event.ok());
    auto again = parse_structured_event(to_json(*event).dump());
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(to_json(*again), to_json(*event));
}

}  // namespace
}  // namespace provbridge
