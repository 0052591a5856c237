// Hostile and broken input on the per-record path: limits, types, control characters, keys,
// exceptions, concurrent deliveries and secrets echoed by a target.
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "fake_scim_client.hpp"
#include "fakes.hpp"
#include "provbridge/consumers/event_processor.hpp"
#include "provbridge/core/json_util.hpp"
#include "provbridge/core/redact.hpp"
#include "provbridge/transforms/input_checks.hpp"
#include "provbridge/transforms/profile.hpp"

namespace provbridge {
namespace {

using nlohmann::json;
using test_support::FakeScimClient;

std::string nested_array(std::size_t depth, const std::string& leaf = "\"x\"") {
    return std::string(depth, '[') + leaf + std::string(depth, ']');
}

std::string event_text(const std::string& attributes_json, const std::string& object_id = "u1") {
    return R"({"specversion":"1.0","id":"e1","source":"urn:directory:x","type":"provisioning.user.assigned",)"
           R"("data":{"app":"crm","object":{"type":"user","id":")" +
           object_id + R"(","version":1,"attributes":)" + attributes_json + R"(}}})";
}

TEST(JsonDepth, IsCountedWithoutParsingAndIgnoresBracketsInStrings) {
    EXPECT_EQ(json_nesting_depth(R"({"a":[1,{"b":"[[[["}]})", 64), 3);
    EXPECT_EQ(json_nesting_depth(R"("\"[[[")", 64), 0);
    EXPECT_EQ(json_nesting_depth(nested_array(100'000), 32), 33);  // stops at the limit
    EXPECT_EQ(json_nesting_depth("// [[[\n{ /* [[ */ }", 64), 1);
}

TEST(JsonDepth, ADeepDocumentIsRefusedBeforeParsing) {
    const auto deep = parse_json(nested_array(100'000));
    ASSERT_FALSE(deep.ok());
    EXPECT_EQ(deep.error().kind, ErrorKind::Permanent);
    EXPECT_NE(deep.error().message.find("nested deeper than 64"), std::string::npos) << deep.error().message;
    EXPECT_TRUE(parse_json(nested_array(60)).ok());
}

TEST(ParseLimits, AHugelyNestedAttributeIsRefusedWithTheLimitNamed) {
    InboundRecord record;
    record.value = event_text(R"({"givenName":)" + nested_array(100'000) + "}");
    const auto parsed = parse_record(record);
    ASSERT_FALSE(parsed.ok());
    EXPECT_NE(parsed.error().message.find("worker.max_event_depth"), std::string::npos) << parsed.error().message;

    record.headers = {{"ce_specversion", "1.0"}, {"ce_id", "b1"}, {"ce_source", "s"},
                      {"ce_type", "provisioning.user.assigned"}};
    record.value = R"({"app":"crm","object":{"type":"user","id":"u1","version":1,"attributes":{"a":)" +
                   nested_array(40) + "}}}";
    const auto binary = parse_record(record);
    ASSERT_FALSE(binary.ok());
    EXPECT_NE(binary.error().message.find("nested deeper than 32"), std::string::npos) << binary.error().message;
}

TEST(ParseLimits, ARecordOverTheSizeLimitIsRefusedWithItsSize) {
    InboundRecord record;
    record.value = event_text(R"({"jobTitle":")" + std::string(2000, 'x') + "\"}");
    ParseLimits limits;
    limits.max_bytes = 1024;
    const auto parsed = parse_record(record, limits);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error().kind, ErrorKind::Permanent);
    EXPECT_NE(parsed.error().message.find(std::to_string(record.value.size()) + " bytes, over the limit of 1024"),
              std::string::npos)
        << parsed.error().message;
    EXPECT_TRUE(parse_record(record).ok()) << "the default limit is 1 MiB";
}

TEST(ParseLimits, ControlCharactersInIdentifiersOfTheEnvelopeAreRefused) {
    InboundRecord record;
    record.value = event_text("{}", "u\\u0001");  // JSON-escaped: valid JSON, invalid id
    const auto parsed = parse_record(record);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error().message, "data.object.id: must not contain control characters");
    EXPECT_TRUE(has_control_character(std::string("a\0b", 3)));
    EXPECT_TRUE(has_control_character("\xC2\x85"));  // NEL, a C1 control
    EXPECT_FALSE(has_control_character("Zoë \"O'Brien\" \\ 日本"));
}

class InputChecks : public ::testing::Test {
protected:
    transforms::ObjectProfile users_ = transforms::builtin_profile("generic").users;
};

TEST_F(InputChecks, TheProfileKnowsWhichAttributesItReads) {
    const auto& names = users_.source_attributes;
    for (const char* expected : {"userPrincipalName", "accountEnabled", "givenName", "surname", "manager"}) {
        EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
    }
}

TEST_F(InputChecks, AnObjectOrANestedListInAMappedAttributeIsRefusedByName) {
    const auto object = transforms::check_source_attributes(users_.source_attributes,
                                                            json{{"userPrincipalName", {{"x", "y"}}}});
    ASSERT_TRUE(object.has_value());
    EXPECT_EQ(object->code, "InvalidAttributeType");
    EXPECT_NE(object->reason.find("data.object.attributes.userPrincipalName"), std::string::npos) << object->reason;
    EXPECT_NE(object->reason.find("an object"), std::string::npos) << object->reason;

    const auto nested = transforms::check_source_attributes(users_.source_attributes,
                                                            json{{"givenName", json::array({json::array({"a"})})}});
    ASSERT_TRUE(nested.has_value());
    EXPECT_NE(nested->reason.find("givenName"), std::string::npos);

    // Scalars, flat lists (multi-valued attributes) and attributes nobody reads are fine.
    EXPECT_FALSE(transforms::check_source_attributes(
        users_.source_attributes, json{{"givenName", "Ada"}, {"accountEnabled", true}, {"employeeId", 1001},
                                       {"proxyAddresses", json::array({"a", "b"})}, {"unmapped", {{"x", 1}}}}));
}

TEST_F(InputChecks, IdentifiersWithControlCharactersAreRefused) {
    transforms::AttributeSet values(users_.mapping);
    for (std::size_t row = 0; row < users_.mapping.attributes.size(); ++row) {
        if (users_.mapping.attributes[row].key == "userName") values.set(row, std::string("ada\0@x", 6));
    }
    const auto problem = transforms::check_identifiers(users_.mapping, values);
    ASSERT_TRUE(problem.has_value());
    EXPECT_EQ(problem->code, "InvalidIdentifier");
    EXPECT_NE(problem->reason.find(R"("ada\u0000@x")"), std::string::npos) << problem->reason;
}

// ---------------------------------------------------------------------------------------------

class ThrowingScimClient final : public ScimClient {
public:
    ScimResponse send(const ScimRequest& /*request*/) override {
        if (throw_next) {
            throw_next = false;
            throw std::runtime_error("simulated bug");
        }
        return inner.send(ScimRequest{});
    }
    bool throw_next = true;
    FakeScimClient inner;
};

class ProcessorHardening : public ::testing::Test {
protected:
    ProcessorHardening() {
        AppConfig app;
        app.id = "crm";
        app.scim.base_url = "https://scim.example/scim/v2";
        Config config;
        config.apps.push_back(app);
        apps_ = consumers::build_app_runtimes(config);
        redactor_.add(kToken);
        rebuild(&scim_);
    }

    void rebuild(ScimClient* client) {
        consumers::EventProcessor::Options options;
        options.redactor = &redactor_;
        processor_ = std::make_unique<consumers::EventProcessor>(
            apps_, std::map<std::string, ScimClient*>{{"crm", client}}, store_, dlq_, clock_, nullptr, options);
    }

    InboundRecord record(json attributes, std::string id = "e1", std::optional<std::string> key = "crm/user/u1") {
        InboundRecord r;
        r.topic = "provisioning.events";
        r.offset = ++offset_;
        r.key = std::move(key);
        r.value = json{{"specversion", "1.0"}, {"id", id}, {"source", "urn:directory:x"},
                       {"type", "provisioning.user.assigned"},
                       {"data", {{"app", "crm"},
                                 {"object", {{"type", "user"}, {"id", "u1"}, {"version", 1}, {"attributes", attributes}}}}}}
                      .dump();
        return r;
    }

    OutcomeRecord dead_lettered(const InboundRecord& r) {
        const auto result = processor_->process(r);
        EXPECT_EQ(result.status, consumers::ProcessResult::Status::Recorded) << result.fatal_reason;
        EXPECT_TRUE(result.record.has_value());
        if (!result.record) return {};
        EXPECT_EQ(result.record->status, OutcomeStatus::DeadLettered) << result.record->reason;
        return *result.record;
    }

    static constexpr const char* kToken = "s3cr3t-t0ken/with+chars";
    Redactor redactor_;
    FakeScimClient scim_;
    test_support::FakeStateStore store_;
    test_support::FakeDeadLetterSink dlq_;
    test_support::FakeClock clock_;
    std::vector<consumers::AppRuntime> apps_;
    std::unique_ptr<consumers::EventProcessor> processor_;
    std::int64_t offset_ = 0;
};

TEST_F(ProcessorHardening, AnObjectWhereAStringBelongsNeverReachesTheTarget) {
    const auto out = dead_lettered(record({{"userPrincipalName", {{"x", "y"}}}}));
    EXPECT_EQ(out.code, "InvalidAttributeType");
    EXPECT_NE(out.reason.find("userPrincipalName"), std::string::npos) << out.reason;
    EXPECT_TRUE(scim_.requests().empty()) << "a request was sent";
    ASSERT_EQ(dlq_.published.size(), 1U);
    EXPECT_EQ(dlq_.published[0].reason.code, "InvalidAttributeType");
}

TEST_F(ProcessorHardening, ANulOrBelInTheUserNameNeverReachesTheTarget) {
    for (const std::string& name : {std::string("nul\0@x", 6), std::string("bel\a@x")}) {
        const auto out = dead_lettered(record({{"userPrincipalName", name}}, "e-" + std::to_string(offset_)));
        EXPECT_EQ(out.code, "InvalidIdentifier") << out.reason;
    }
    EXPECT_TRUE(scim_.requests().empty()) << "a request was sent";
}

TEST_F(ProcessorHardening, ARecordKeyThatDoesNotNameTheObjectIsRefused) {
    const struct {
        std::optional<std::string> key;
        const char* says;
    } cases[] = {{"crm/user/zzz", R"("crm/user/zzz")"}, {"other/user/u1", R"("other/user/u1")"},
                 {std::nullopt, "has no key"}, {"crm/group/u1", R"("crm/group/u1")"}};
    int n = 0;
    for (const auto& c : cases) {
        const auto out = dead_lettered(record({{"userPrincipalName", "a@x"}}, "k" + std::to_string(++n), c.key));
        EXPECT_EQ(out.code, "KeyMismatch");
        EXPECT_EQ(out.app, "crm");
        EXPECT_NE(out.reason.find(c.says), std::string::npos) << out.reason;
        EXPECT_NE(out.reason.find("crm/user/u1"), std::string::npos) << out.reason;
    }
    EXPECT_TRUE(scim_.requests().empty());
    // Redelivered, a refused record keeps its one outcome.
    const auto again = processor_->process(record({{"userPrincipalName", "a@x"}}, "k1", "crm/user/zzz"));
    EXPECT_EQ(again.status, consumers::ProcessResult::Status::Duplicate);
    EXPECT_EQ(dlq_.published.size(), 4U);
}

TEST_F(ProcessorHardening, AnExceptionDeadLettersTheRecordAndTheNextOneIsApplied) {
    ThrowingScimClient throwing;
    rebuild(&throwing);
    const auto out = dead_lettered(record({{"userPrincipalName", "a@x"}}, "boom"));
    EXPECT_EQ(out.code, "InternalError");
    EXPECT_NE(out.reason.find("simulated bug"), std::string::npos) << out.reason;
    ASSERT_EQ(dlq_.published.size(), 1U);
    EXPECT_EQ(dlq_.published[0].reason.stage, "internal");

    throwing.inner.push(FakeScimClient::list());
    throwing.inner.push(FakeScimClient::json(201, {{"id", "scim-1"}}));
    InboundRecord next = record({{"userPrincipalName", "b@x"}}, "fine");
    const auto result = processor_->process(next);
    ASSERT_TRUE(result.record.has_value());
    EXPECT_EQ(result.record->status, OutcomeStatus::Applied);
    // The failed record keeps its outcome when it is delivered again.
    EXPECT_EQ(processor_->process(record({{"userPrincipalName", "a@x"}}, "boom")).status,
              consumers::ProcessResult::Status::Duplicate);
}

TEST_F(ProcessorHardening, AnOutcomeRecordedByAnotherDeliveryFirstIsADuplicate) {
    const auto r = record({{"userPrincipalName", "a@x"}}, "race");
    // The same event recorded by another worker between our load and our commit.
    OutcomeRecord theirs;
    theirs.app = "crm";
    theirs.source = "urn:directory:x";
    theirs.event_id = "race";
    theirs.status = OutcomeStatus::Applied;
    scim_.set_handler([&](const ScimRequest& request) {
        if (request.method == HttpMethod::Get) return FakeScimClient::list();
        (void)store_.commit(Commit{theirs, std::nullopt, false, std::nullopt, std::nullopt, {}});
        return FakeScimClient::json(201, {{"id", "scim-1"}});
    });
    const auto result = processor_->process(r);
    EXPECT_EQ(result.status, consumers::ProcessResult::Status::Duplicate);
    EXPECT_EQ(store_.log.size(), 1U) << "a second outcome was recorded";
    EXPECT_EQ(store_.duplicates["crm"], 1);
}

TEST_F(ProcessorHardening, ATokenEchoedByTheTargetIsRedactedEverywhere) {
    scim_.push(FakeScimClient::list());
    // Raw, JSON-escaped (the / is escaped by some servers) and percent-encoded.
    const std::string detail = std::string("bad request from Authorization: Bearer ") + kToken +
                               " (escaped: s3cr3t-t0ken\\/with+chars, encoded: s3cr3t-t0ken%2Fwith%2Bchars)";
    scim_.push(FakeScimClient::error(400, detail, "invalidValue"));
    const auto out = dead_lettered(record({{"userPrincipalName", "a@x"}}, "echo"));
    EXPECT_EQ(out.code, "BadRequest");
    for (const std::string& text : {out.reason, dlq_.published.at(0).reason.reason, store_.log.at(0).reason}) {
        EXPECT_EQ(text.find("s3cr3t"), std::string::npos) << text;
        EXPECT_NE(text.find(Redactor::kMask), std::string::npos) << text;
    }
}

TEST(RedactorTest, MasksEveryFormOfEverySecretAndLeavesOtherTextAlone) {
    Redactor r({"pa\"ss/word", "", "tok"});
    EXPECT_EQ(r.redact("a pa\"ss/word b"), "a [redacted] b");
    EXPECT_EQ(r.redact(R"(a pa\"ss\/word b)"), "a [redacted] b") << "JSON-escaped";
    EXPECT_EQ(r.redact(R"(a pa\"ss/word b)"), "a [redacted] b") << "JSON-escaped without escaping /";
    EXPECT_EQ(r.redact("a pa%22ss%2Fword b"), "a [redacted] b") << "percent-encoded";
    EXPECT_EQ(r.redact("toktok"), "[redacted][redacted]");
    EXPECT_EQ(r.redact("nothing here"), "nothing here");
    EXPECT_EQ(Redactor({"d"}).redact("redacted d"), "re[redacted]acte[redacted] [redacted]");
}

}  // namespace
}  // namespace provbridge
