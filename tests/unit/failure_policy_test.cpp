#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "fake_random.hpp"
#include "provbridge/transforms/failure_policy.hpp"
#include "provbridge/transforms/scim_protocol.hpp"

namespace provbridge::transforms {
namespace {

using std::chrono::milliseconds;
using test_support::FakeRandom;

constexpr std::int64_t kNow = 1'790'000'000'000;  // 2026-09-21 14:13:20 UTC
constexpr std::int64_t kHour = 3'600'000;

constexpr ScimOperation kAllOperations[] = {ScimOperation::Find,    ScimOperation::Create, ScimOperation::Update,
                                            ScimOperation::Disable, ScimOperation::Delete, ScimOperation::Probe};

const char* name(ScimOperation op) {
    switch (op) {
        case ScimOperation::Find: return "Find";
        case ScimOperation::Create: return "Create";
        case ScimOperation::Update: return "Update";
        case ScimOperation::Disable: return "Disable";
        case ScimOperation::Delete: return "Delete";
        case ScimOperation::Probe: return "Probe";
    }
    return "?";
}

ScimResponse http(long status, std::string body = "", std::optional<std::string> retry_after = std::nullopt) {
    ScimResponse response;
    response.status = status;
    response.body = std::move(body);
    response.retry_after = std::move(retry_after);
    return response;
}

ScimResponse transport(TransportStatus status, std::string error) {
    ScimResponse response;
    response.transport = status;
    response.transport_error = std::move(error);
    return response;
}

std::string scim_error(long status, const std::string& scim_type, const std::string& detail) {
    return R"({"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":")" + std::to_string(status) +
           R"(","scimType":")" + scim_type + R"(","detail":")" + detail + R"("})";
}

RetryConfig default_policy() { return RetryConfig{}; }  // 1 s base, 5 min cap, 12 attempts, 24 h

// ---- names ----------------------------------------------------------------------------------

TEST(FailurePolicyNames, DispositionsAndKindsHaveStableLogNames) {
    EXPECT_EQ(to_string(Disposition::Retry), "retry");
    EXPECT_EQ(to_string(Disposition::Conflict), "conflict");
    EXPECT_EQ(to_string(Disposition::Gone), "gone");
    EXPECT_EQ(to_string(Disposition::Quarantine), "quarantine");
    EXPECT_EQ(to_string(Disposition::DeadLetter), "dead_letter");
    EXPECT_EQ(to_string(FailureKind::Transient), "transient");
    EXPECT_EQ(to_string(FailureKind::Permanent), "permanent");
    EXPECT_EQ(to_string(FailureKind::Auth), "auth");
    EXPECT_EQ(to_string(FailureKind::Reference), "reference");
}

// ---- the status table -----------------------------------------------------------------------

struct StatusCase {
    long status;
    Disposition disposition;
    FailureKind kind;
};

// Statuses whose meaning does not depend on the operation.
constexpr StatusCase kOperationIndependent[] = {
    {100, Disposition::DeadLetter, FailureKind::Permanent},  {101, Disposition::DeadLetter, FailureKind::Permanent},
    {301, Disposition::DeadLetter, FailureKind::Permanent},  {302, Disposition::DeadLetter, FailureKind::Permanent},
    {304, Disposition::DeadLetter, FailureKind::Permanent},  {400, Disposition::DeadLetter, FailureKind::Permanent},
    {401, Disposition::Quarantine, FailureKind::Auth},       {403, Disposition::Quarantine, FailureKind::Auth},
    {405, Disposition::DeadLetter, FailureKind::Permanent},  {408, Disposition::Retry, FailureKind::Transient},
    {410, Disposition::DeadLetter, FailureKind::Permanent},  {413, Disposition::DeadLetter, FailureKind::Permanent},
    {415, Disposition::DeadLetter, FailureKind::Permanent},  {422, Disposition::DeadLetter, FailureKind::Permanent},
    {429, Disposition::Retry, FailureKind::Transient},       {431, Disposition::DeadLetter, FailureKind::Permanent},
    {500, Disposition::Retry, FailureKind::Transient},       {501, Disposition::DeadLetter, FailureKind::Permanent},
    {502, Disposition::Retry, FailureKind::Transient},       {503, Disposition::Retry, FailureKind::Transient},
    {504, Disposition::Retry, FailureKind::Transient},       {505, Disposition::DeadLetter, FailureKind::Permanent},
    {507, Disposition::DeadLetter, FailureKind::Permanent},  {511, Disposition::DeadLetter, FailureKind::Permanent},
    {599, Disposition::DeadLetter, FailureKind::Permanent},
};

TEST(FailurePolicyTable, EachStatusMeansTheSameForEveryOperation) {
    for (const auto& c : kOperationIndependent) {
        for (const auto op : kAllOperations) {
            SCOPED_TRACE(std::to_string(c.status) + " on " + name(op));
            const auto response = http(c.status);
            const auto v = failure_policy(response, op, kNow);
            EXPECT_EQ(v.disposition, c.disposition);
            EXPECT_EQ(v.kind, c.kind);
            EXPECT_EQ(v.http_status, c.status);
            // One source of codes: whatever classify() says, the policy reports.
            EXPECT_EQ(v.code, classify(response).code);
            EXPECT_FALSE(v.code.empty());
            EXPECT_EQ(v.detail, "HTTP " + std::to_string(c.status));
        }
    }
}

TEST(FailurePolicyTable, ConflictOnlyOnCreateElseDeadLetter) {
    for (const auto op : kAllOperations) {
        SCOPED_TRACE(name(op));
        const auto v = failure_policy(http(409), op, kNow);
        EXPECT_EQ(v.disposition, op == ScimOperation::Create ? Disposition::Conflict : Disposition::DeadLetter);
        EXPECT_EQ(v.kind, FailureKind::Permanent);
        EXPECT_EQ(v.code, "EntryConflict");
        EXPECT_EQ(v.http_status, 409);
    }
}

TEST(FailurePolicyTable, NotFoundIsGoneForCallsAddressedByIdElseDeadLetter) {
    const std::pair<ScimOperation, Disposition> expected[] = {
        {ScimOperation::Find, Disposition::DeadLetter},   {ScimOperation::Create, Disposition::DeadLetter},
        {ScimOperation::Update, Disposition::Gone},       {ScimOperation::Disable, Disposition::Gone},
        {ScimOperation::Delete, Disposition::Gone},       {ScimOperation::Probe, Disposition::DeadLetter},
    };
    for (const auto& [op, disposition] : expected) {
        SCOPED_TRACE(name(op));
        const auto v = failure_policy(http(404), op, kNow);
        EXPECT_EQ(v.disposition, disposition);
        EXPECT_EQ(v.kind, FailureKind::Permanent);
        EXPECT_EQ(v.code, "InvalidAnchor");
        EXPECT_EQ(v.http_status, 404);
    }
}

TEST(FailurePolicyTable, EntraStyleCodesForTheCommonFailures) {
    EXPECT_EQ(failure_policy(http(429), ScimOperation::Update, kNow).code, "TooManyRequests");
    EXPECT_EQ(failure_policy(http(503), ScimOperation::Update, kNow).code, "ServiceUnavailable");
    EXPECT_EQ(failure_policy(http(500), ScimOperation::Update, kNow).code, "InternalServerError");
    EXPECT_EQ(failure_policy(http(501), ScimOperation::Update, kNow).code, "NotImplemented");
    EXPECT_EQ(failure_policy(http(401), ScimOperation::Update, kNow).code, "Unauthorized");
    EXPECT_EQ(failure_policy(http(403), ScimOperation::Update, kNow).code, "InsufficientRights");
    EXPECT_EQ(failure_policy(http(422), ScimOperation::Create, kNow).code, "UnprocessableEntity");
    EXPECT_EQ(failure_policy(http(302), ScimOperation::Find, kNow).code, "ServiceIncompatible");
}

TEST(FailurePolicyTable, DetailAndScimTypeComeFromTheErrorBody) {
    const auto v = failure_policy(http(409, scim_error(409, "uniqueness", "userName ada is taken")),
                                  ScimOperation::Create, kNow);
    EXPECT_EQ(v.disposition, Disposition::Conflict);
    EXPECT_EQ(v.scim_type, "uniqueness");
    EXPECT_EQ(v.detail, "HTTP 409 (uniqueness): userName ada is taken");
}

TEST(FailurePolicyTable, NonJsonErrorBodyStillGivesAVerdict) {
    const auto v = failure_policy(http(500, "<html>Internal Server Error</html>"), ScimOperation::Update, kNow);
    EXPECT_EQ(v.disposition, Disposition::Retry);
    EXPECT_EQ(v.detail, "HTTP 500");
    EXPECT_TRUE(v.scim_type.empty());
}

TEST(FailurePolicyTable, SuccessIsNotAFailureAndHasNoCode) {
    // Callers check success first; the header promises Retry with an empty code for a 2xx.
    const auto v = failure_policy(http(200), ScimOperation::Update, kNow);
    EXPECT_EQ(v.disposition, Disposition::Retry);
    EXPECT_TRUE(v.code.empty());
    EXPECT_EQ(v.http_status, 200);
}

// ---- transport failures ---------------------------------------------------------------------

TEST(FailurePolicyTransport, LostConnectionsAreRetriedForEveryOperation) {
    const std::pair<TransportStatus, std::string> expected[] = {
        {TransportStatus::ConnectFailed, "ConnectionFailed"},
        {TransportStatus::Timeout, "Timeout"},
        {TransportStatus::Failed, "ConnectionFailed"},  // e.g. connection reset mid-response
    };
    for (const auto& [status, code] : expected) {
        for (const auto op : kAllOperations) {
            SCOPED_TRACE(std::string(to_string(status)) + " on " + name(op));
            const auto v = failure_policy(transport(status, "Connection reset by peer"), op, kNow);
            EXPECT_EQ(v.disposition, Disposition::Retry);
            EXPECT_EQ(v.kind, FailureKind::Transient);
            EXPECT_EQ(v.code, code);
            EXPECT_EQ(v.http_status, 0);
            EXPECT_EQ(v.detail, std::string(to_string(status)) + ": Connection reset by peer");
            EXPECT_FALSE(v.retry_after.has_value());
        }
    }
}

TEST(FailurePolicyTransport, BadCertificateIsDeadLetteredNotRetried) {
    for (const auto op : kAllOperations) {
        SCOPED_TRACE(name(op));
        const auto v = failure_policy(transport(TransportStatus::TlsError, "SSL certificate problem: self-signed"),
                                      op, kNow);
        EXPECT_EQ(v.disposition, Disposition::DeadLetter);
        EXPECT_EQ(v.kind, FailureKind::Permanent);
        EXPECT_EQ(v.code, "TlsError");
        EXPECT_EQ(v.detail, "tls error: SSL certificate problem: self-signed");
        EXPECT_EQ(v.http_status, 0);
    }
}

TEST(FailurePolicyTransport, NoRetryAfterWithoutAnHttpResponse) {
    auto response = transport(TransportStatus::Timeout, "Operation timed out");
    response.retry_after = "30";  // stale value from an earlier response; must not be trusted
    EXPECT_FALSE(failure_policy(response, ScimOperation::Update, kNow).retry_after.has_value());
}

// ---- Retry-After on the verdict -------------------------------------------------------------

TEST(FailurePolicyRetryAfter, ThrottledResponseCarriesTheRequestedDelay) {
    const auto v = failure_policy(http(429, "", "120"), ScimOperation::Update, kNow);
    EXPECT_EQ(v.disposition, Disposition::Retry);
    EXPECT_EQ(v.retry_after, milliseconds(120'000));
}

TEST(FailurePolicyRetryAfter, UnavailableWithAnHttpDateGivesTheDelayUntilThatDate) {
    // 2026-09-21 14:30:00 UTC is 1000 s after kNow.
    const auto v = failure_policy(http(503, "", "Mon, 21 Sep 2026 14:30:00 GMT"), ScimOperation::Create, kNow);
    EXPECT_EQ(v.disposition, Disposition::Retry);
    EXPECT_EQ(v.retry_after, milliseconds(1'000'000));
}

TEST(FailurePolicyRetryAfter, GarbageHeaderIsIgnoredButTheResponseIsStillRetried) {
    const auto v = failure_policy(http(429, "", "soon"), ScimOperation::Update, kNow);
    EXPECT_EQ(v.disposition, Disposition::Retry);
    EXPECT_FALSE(v.retry_after.has_value());
}

TEST(FailurePolicyRetryAfter, AbsentHeaderGivesNoDelay) {
    EXPECT_FALSE(failure_policy(http(503), ScimOperation::Update, kNow).retry_after.has_value());
}

// ---- parse_retry_after ----------------------------------------------------------------------

TEST(RetryAfterSeconds, DelaySecondsBecomeMilliseconds) {
    EXPECT_EQ(parse_retry_after("120", kNow), milliseconds(120'000));
    EXPECT_EQ(parse_retry_after("1", kNow), milliseconds(1'000));
    EXPECT_EQ(parse_retry_after("0", kNow), milliseconds(0));
    EXPECT_EQ(parse_retry_after("007", kNow), milliseconds(7'000));
}

TEST(RetryAfterSeconds, SurroundingWhitespaceIsIgnored) {
    EXPECT_EQ(parse_retry_after("  7", kNow), milliseconds(7'000));
    EXPECT_EQ(parse_retry_after("7 \t", kNow), milliseconds(7'000));
    EXPECT_EQ(parse_retry_after(" \t 7 \r\n", kNow), milliseconds(7'000));
}

TEST(RetryAfterSeconds, HugeValuesAreCappedAtADayInsteadOfOverflowing) {
    EXPECT_EQ(parse_retry_after("86400", kNow), milliseconds(24 * kHour));
    EXPECT_EQ(parse_retry_after("86401", kNow), milliseconds(24 * kHour));
    EXPECT_EQ(parse_retry_after("9223372036854775807", kNow), milliseconds(24 * kHour));
    EXPECT_EQ(parse_retry_after("99999999999999999999999999999999", kNow), milliseconds(24 * kHour));
    EXPECT_EQ(parse_retry_after("3600", kNow), milliseconds(kHour));
}

TEST(RetryAfterSeconds, EmptyNegativeAndMalformedValuesAreRejected) {
    for (const char* value : {"", "   ", "\t\r\n", "-5", "-0", "+5", "1.5", "1e3", "12abc", "12 34", "soon", "0x10",
                              "five"}) {
        EXPECT_FALSE(parse_retry_after(value, kNow).has_value()) << "'" << value << "'";
    }
}

TEST(RetryAfterDate, AllThreeRfcFormsOfTheSameInstantGiveTheSameDelay) {
    // RFC 9110 §5.6.7's own examples: 1994-11-06 08:49:37 UTC; now is 5.25 s before it.
    const std::int64_t now = 784'111'777'000 - 5'250;
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), milliseconds(5'250));
    EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), milliseconds(5'250));
    EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", now), milliseconds(5'250));
}

TEST(RetryAfterDate, ImfFixdateInTheFuture) {
    EXPECT_EQ(parse_retry_after("Mon, 21 Sep 2026 14:30:00 GMT", kNow), milliseconds(1'000'000));
    EXPECT_EQ(parse_retry_after("Mon, 21 Sep 2026 14:30:00 GMT", kNow + 250), milliseconds(999'750));
}

TEST(RetryAfterDate, Rfc850DateInTheFuture) {
    EXPECT_EQ(parse_retry_after("Monday, 21-Sep-26 14:30:00 GMT", kNow), milliseconds(1'000'000));
}

TEST(RetryAfterDate, AsctimeDateWithASpacePaddedDay) {
    // 2026-10-01 00:00:00 UTC is 812'800 s after kNow; capped, since that is more than a day.
    EXPECT_EQ(parse_retry_after("Thu Oct  1 00:00:00 2026", kNow), milliseconds(24 * kHour));
    EXPECT_EQ(parse_retry_after("Thu Oct  1 00:00:00 2026", 1'790'812'800'000 - 60'000), milliseconds(60'000));
}

TEST(RetryAfterDate, DateInThePastMeansRetryNow) {
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kNow), milliseconds(0));
    EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", kNow), milliseconds(0));
    EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", kNow), milliseconds(0));
    EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", kNow), milliseconds(0));
    // The very second now falls in: not a negative delay.
    EXPECT_EQ(parse_retry_after("Mon, 21 Sep 2026 14:13:20 GMT", kNow + 999), milliseconds(0));
}

TEST(RetryAfterDate, FarFutureDateIsCappedAtADay) {
    EXPECT_EQ(parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT", kNow), milliseconds(24 * kHour));
}

TEST(RetryAfterDate, SurroundingWhitespaceIsIgnored) {
    EXPECT_EQ(parse_retry_after("  Mon, 21 Sep 2026 14:30:00 GMT \r\n", kNow), milliseconds(1'000'000));
}

TEST(RetryAfterDate, MalformedDatesAreRejected) {
    for (const char* value : {
             "Mon, 21 Sep 2026 14:30:00",          // no zone
             "Mon, 21 Sep 2026 14:30:00 GMT junk",  // trailing text
             "Mon, 32 Sep 2026 14:30:00 GMT",      // no such day
             "Mon, 21 Sep 2026 25:30:00 GMT",      // no such hour
             "Mon, 21 Foo 2026 14:30:00 GMT",      // no such month
             "2026-09-21T14:30:00Z",               // ISO 8601 is not an HTTP-date
             "Mon, 21 Sep 2026",                   // date only
         }) {
        EXPECT_FALSE(parse_retry_after(value, kNow).has_value()) << "'" << value << "'";
    }
}

// ---- plan_retry -----------------------------------------------------------------------------

TEST(PlanRetryJitter, DelayIsDrawnFromZeroToTheExponentialCeiling) {
    auto random = FakeRandom::always_bound();
    const auto policy = default_policy();
    for (int attempt = 1; attempt <= 9; ++attempt) {
        const auto plan = plan_retry(policy, attempt, kNow, kNow, std::nullopt, random);
        ASSERT_FALSE(plan.give_up) << attempt;
        EXPECT_EQ(plan.due_ms, kNow + (1000LL << (attempt - 1))) << attempt;
    }
    EXPECT_EQ(random.bounds(),
              (std::vector<std::int64_t>{1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000}));
}

TEST(PlanRetryJitter, ZeroIsAValidDrawSoTheRetryCanBeImmediate) {
    auto random = FakeRandom::always_zero();
    const auto plan = plan_retry(default_policy(), 5, kNow, kNow, std::nullopt, random);
    EXPECT_FALSE(plan.give_up);
    EXPECT_EQ(plan.due_ms, kNow);
    EXPECT_EQ(random.bounds(), std::vector<std::int64_t>{16000});
}

TEST(PlanRetryJitter, TheDrawIsUsedAsTheDelay) {
    auto half = FakeRandom::fraction(1, 2);
    EXPECT_EQ(plan_retry(default_policy(), 3, kNow, kNow, std::nullopt, half).due_ms, kNow + 2000);

    auto scripted = FakeRandom::scripted({1234, 77});
    EXPECT_EQ(plan_retry(default_policy(), 2, kNow, kNow, std::nullopt, scripted).due_ms, kNow + 1234);
    EXPECT_EQ(plan_retry(default_policy(), 2, kNow, kNow, std::nullopt, scripted).due_ms, kNow + 77);
}

TEST(PlanRetryJitter, CeilingStopsGrowingAtMaxDelay) {
    auto random = FakeRandom::always_bound();
    const auto policy = default_policy();
    for (int attempt = 10; attempt <= 11; ++attempt) {
        EXPECT_EQ(plan_retry(policy, attempt, kNow, kNow, std::nullopt, random).due_ms, kNow + 300'000) << attempt;
    }
    EXPECT_EQ(random.bounds(), (std::vector<std::int64_t>{300'000, 300'000}));
}

TEST(PlanRetryJitter, BaseDelayAboveMaxDelayIsCappedFromTheFirstAttempt) {
    RetryConfig policy;
    policy.base_delay = milliseconds(10'000);
    policy.max_delay = milliseconds(3'000);
    auto random = FakeRandom::always_bound();
    EXPECT_EQ(plan_retry(policy, 1, kNow, kNow, std::nullopt, random).due_ms, kNow + 3'000);
}

TEST(PlanRetryJitter, AFaultyRandomCannotScheduleOutsideTheJitterRange) {
    auto random = FakeRandom::scripted({-5'000, 1'000'000});
    EXPECT_EQ(plan_retry(default_policy(), 1, kNow, kNow, std::nullopt, random).due_ms, kNow);
    EXPECT_EQ(plan_retry(default_policy(), 1, kNow, kNow, std::nullopt, random).due_ms, kNow + 1000);
}

TEST(PlanRetryOverflow, AttemptTwoHundredStillUsesMaxDelay) {
    RetryConfig policy;
    policy.max_attempts = 1000;
    auto random = FakeRandom::always_bound();
    const auto plan = plan_retry(policy, 200, kNow, kNow, std::nullopt, random);
    EXPECT_FALSE(plan.give_up);
    EXPECT_EQ(plan.due_ms, kNow + 300'000);
    EXPECT_EQ(random.bounds(), std::vector<std::int64_t>{300'000});
}

TEST(PlanRetryOverflow, UnboundedMaxDelaySaturatesInsteadOfWrapping) {
    RetryConfig policy;
    policy.base_delay = milliseconds(1);
    policy.max_delay = milliseconds(std::numeric_limits<std::int64_t>::max());
    policy.max_attempts = std::numeric_limits<int>::max();
    policy.max_age = milliseconds(std::numeric_limits<std::int64_t>::max());
    auto random = FakeRandom::always_bound();
    const auto plan = plan_retry(policy, 200, kNow, kNow, std::nullopt, random);
    EXPECT_FALSE(plan.give_up);
    EXPECT_EQ(random.bounds(), std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::max()});
    EXPECT_EQ(plan.due_ms, std::numeric_limits<std::int64_t>::max());
}

TEST(PlanRetryRetryAfter, TargetsDelayIsAFloorUnderTheJitter) {
    auto zero = FakeRandom::always_zero();
    EXPECT_EQ(plan_retry(default_policy(), 1, kNow, kNow, milliseconds(5'000), zero).due_ms, kNow + 5'000);
}

TEST(PlanRetryRetryAfter, LongerJitterWinsOverAShortRetryAfter) {
    auto bound = FakeRandom::always_bound();
    EXPECT_EQ(plan_retry(default_policy(), 2, kNow, kNow, milliseconds(500), bound).due_ms, kNow + 2'000);
}

TEST(PlanRetryRetryAfter, RetryAfterAboveMaxDelayIsStillHonoured) {
    auto bound = FakeRandom::always_bound();
    EXPECT_EQ(plan_retry(default_policy(), 11, kNow, kNow, milliseconds(kHour), bound).due_ms, kNow + kHour);
}

TEST(PlanRetryRetryAfter, ZeroRetryAfterLeavesTheJitterAlone) {
    auto half = FakeRandom::fraction(1, 2);
    EXPECT_EQ(plan_retry(default_policy(), 1, kNow, kNow, milliseconds(0), half).due_ms, kNow + 500);
}

TEST(PlanRetryGiveUp, GivesUpOnceMaxAttemptsHaveFailed) {
    auto random = FakeRandom::always_bound();
    const auto last = plan_retry(default_policy(), 11, kNow, kNow, std::nullopt, random);
    EXPECT_FALSE(last.give_up);
    const auto plan = plan_retry(default_policy(), 12, kNow, kNow, std::nullopt, random);
    EXPECT_TRUE(plan.give_up);
    EXPECT_EQ(plan.why_given_up, "gave up after 12 attempts");
    EXPECT_EQ(random.bounds().size(), 1u);  // no draw for a plan that gives up
}

TEST(PlanRetryGiveUp, AttemptsBeyondTheLimitAlsoGiveUp) {
    auto random = FakeRandom::always_bound();
    const auto plan = plan_retry(default_policy(), 40, kNow, kNow, std::nullopt, random);
    EXPECT_TRUE(plan.give_up);
    EXPECT_EQ(plan.why_given_up, "gave up after 40 attempts");
}

TEST(PlanRetryGiveUp, SingleAttemptPolicyReadsInTheSingular) {
    RetryConfig policy;
    policy.max_attempts = 1;
    auto random = FakeRandom::always_bound();
    const auto plan = plan_retry(policy, 1, kNow, kNow, std::nullopt, random);
    EXPECT_TRUE(plan.give_up);
    EXPECT_EQ(plan.why_given_up, "gave up after 1 attempt");
}

TEST(PlanRetryGiveUp, GivesUpOnceTheFirstFailureIsMaxAgeOld) {
    auto random = FakeRandom::always_bound();
    const auto young = plan_retry(default_policy(), 3, kNow - 24 * kHour + 1, kNow, std::nullopt, random);
    EXPECT_FALSE(young.give_up);
    const auto plan = plan_retry(default_policy(), 3, kNow - 24 * kHour, kNow, std::nullopt, random);
    EXPECT_TRUE(plan.give_up);
    EXPECT_EQ(plan.why_given_up, "gave up after failing for 24 h");
}

TEST(PlanRetryGiveUp, AgeIsReportedAsHowLongItActuallyFailed) {
    auto random = FakeRandom::always_bound();
    const auto plan =
        plan_retry(default_policy(), 3, kNow - 25 * kHour - 30 * 60'000 - 15'000, kNow, std::nullopt, random);
    EXPECT_TRUE(plan.give_up);
    EXPECT_EQ(plan.why_given_up, "gave up after failing for 25 h 30 min");

    RetryConfig short_lived;
    short_lived.max_age = milliseconds(90'000);
    EXPECT_EQ(plan_retry(short_lived, 1, kNow - 90'000, kNow, std::nullopt, random).why_given_up,
              "gave up after failing for 1 min 30 s");
    short_lived.max_age = milliseconds(45'000);
    EXPECT_EQ(plan_retry(short_lived, 1, kNow - 45'000, kNow, std::nullopt, random).why_given_up,
              "gave up after failing for 45 s");
    short_lived.max_age = milliseconds(800);
    EXPECT_EQ(plan_retry(short_lived, 1, kNow - 800, kNow, std::nullopt, random).why_given_up,
              "gave up after failing for 800 ms");
}

TEST(PlanRetryGiveUp, ARetryDueAfterTheDeadlineIsScheduledAndTheNextFailureGivesUp) {
    auto random = FakeRandom::always_zero();
    const std::int64_t first_failure = kNow - 24 * kHour + 60'000;  // a minute of age left
    const auto plan = plan_retry(default_policy(), 4, first_failure, kNow, milliseconds(kHour), random);
    ASSERT_FALSE(plan.give_up);
    EXPECT_EQ(plan.due_ms, kNow + kHour);

    const auto next = plan_retry(default_policy(), 5, first_failure, plan.due_ms, std::nullopt, random);
    EXPECT_TRUE(next.give_up);
    EXPECT_EQ(next.why_given_up, "gave up after failing for 24 h 59 min");
}

}  // namespace
}  // namespace provbridge::transforms
