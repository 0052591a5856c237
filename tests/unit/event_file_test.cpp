#include <string>

#include <gtest/gtest.h>

#include "provbridge/producers/event_file.hpp"

namespace provbridge::producers {
namespace {

std::string user_event(const std::string& id, const std::string& app, const std::string& user) {
    return R"({"specversion":"1.0","id":")" + id +
           R"(","source":"urn:directory:contoso","type":"provisioning.user.assigned","data":{"app":")" +
           app + R"(","object":{"type":"user","id":")" + user +
           R"(","version":1,"attributes":{"userPrincipalName":"a@b.c"}}}})";
}

Config config_with_apps(std::initializer_list<const char*> ids) {
    Config config;
    for (const char* id : ids) {
        AppConfig app;
        app.id = id;
        config.apps.push_back(app);
    }
    return config;
}

TEST(PrepareEventLine, ValidLineKeepsBytesAndGetsObjectKey) {
    // Odd spacing on purpose: the value must be the line's bytes, not a re-serialisation.
    const std::string line = "  " + user_event("e1", "leapsome", "7f3c9a") + " ";
    auto prepared = prepare_event_line(line, nullptr);
    ASSERT_TRUE(prepared.ok()) << prepared.error().message;
    EXPECT_EQ(prepared->key, "leapsome/user/7f3c9a");
    EXPECT_EQ(prepared->value, line);
    EXPECT_EQ(prepared->event.id, "e1");
    ASSERT_EQ(prepared->headers.size(), 1U);
    EXPECT_EQ(prepared->headers[0].name, "content-type");
    EXPECT_EQ(prepared->headers[0].value, "application/cloudevents+json");
}

TEST(PrepareEventLine, TrailingCarriageReturnIsDropped) {
    const std::string event = user_event("e1", "leapsome", "u1");
    auto prepared = prepare_event_line(event + "\r", nullptr);
    ASSERT_TRUE(prepared.ok()) << prepared.error().message;
    EXPECT_EQ(prepared->value, event);
}

TEST(PrepareEventLine, GroupEventsAreKeyedAsGroups) {
    const std::string line =
        R"({"specversion":"1.0","id":"g1","source":"s","type":"provisioning.group.members.added",)"
        R"("data":{"app":"elium","object":{"type":"group","id":"grp-9","version":3},"members":["u1"]}})";
    auto prepared = prepare_event_line(line, nullptr);
    ASSERT_TRUE(prepared.ok()) << prepared.error().message;
    EXPECT_EQ(prepared->key, "elium/group/grp-9");
}

TEST(PrepareEventLine, InvalidJsonIsRejectedWithAReason) {
    auto prepared = prepare_event_line(R"({"specversion":"1.0", "id": )", nullptr);
    ASSERT_FALSE(prepared.ok());
    EXPECT_FALSE(prepared.error().message.empty());
}

TEST(PrepareEventLine, MissingFieldIsNamed) {
    std::string line = user_event("e1", "leapsome", "u1");
    line.replace(line.find(R"("id":"e1",)"), 10, "");
    auto prepared = prepare_event_line(line, nullptr);
    ASSERT_FALSE(prepared.ok());
    EXPECT_NE(prepared.error().message.find("id"), std::string::npos) << prepared.error().message;

    auto no_object_id = prepare_event_line(user_event("e2", "leapsome", ""), nullptr);
    ASSERT_FALSE(no_object_id.ok());
    EXPECT_NE(no_object_id.error().message.find("data.object.id"), std::string::npos)
        << no_object_id.error().message;
}

TEST(PrepareEventLine, UnknownAppIsRejectedOnlyWithAConfig) {
    const Config config = config_with_apps({"leapsome", "elium"});
    const std::string line = user_event("e1", "workday", "u1");
    auto with_config = prepare_event_line(line, &config);
    ASSERT_FALSE(with_config.ok());
    EXPECT_NE(with_config.error().message.find("\"workday\" is not a configured app"), std::string::npos)
        << with_config.error().message;
    EXPECT_TRUE(prepare_event_line(line, nullptr).ok());
    EXPECT_TRUE(prepare_event_line(user_event("e1", "elium", "u1"), &config).ok());
}

}  // namespace
}  // namespace provbridge::producers
