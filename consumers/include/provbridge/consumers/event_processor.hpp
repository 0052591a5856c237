#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "provbridge/consumers/quarantine_gate.hpp"
#include "provbridge/consumers/rate_limiter.hpp"
#include "provbridge/core/clock.hpp"
#include "provbridge/core/config.hpp"
#include "provbridge/core/dead_letter.hpp"
#include "provbridge/core/event.hpp"
#include "provbridge/core/membership.hpp"
#include "provbridge/core/outcome.hpp"
#include "provbridge/core/random.hpp"
#include "provbridge/core/redact.hpp"
#include "provbridge/core/scim.hpp"
#include "provbridge/core/state_store.hpp"
#include "provbridge/transforms/failure_policy.hpp"
#include "provbridge/transforms/mapping.hpp"
#include "provbridge/transforms/profile.hpp"
#include "provbridge/transforms/user_rules.hpp"

namespace provbridge::consumers {

// An app as the worker runs it: its configuration plus the profile (mappings, scoping, rules)
// built from it once at start-up.
struct AppRuntime {
    AppConfig config;
    transforms::AppProfile profile;
    transforms::AppRules rules;
};
// Throws ConfigError (file, field, reason) for a bad profile, mapping or scoping filter.
std::vector<AppRuntime> build_app_runtimes(const Config& config);

// How processing one record ended, for the worker.
struct ProcessResult {
    enum class Status {
        Recorded,    // the outcome is durable (or was already): the offset may be committed
        Duplicate,   // the event already had an outcome (or waits in a queue already); nothing was sent
        // The event waits durably in its object's queue, for a retry or behind an earlier event
        // that does: the offset may be committed; its outcome comes when it is run again.
        Parked,
        // A claimed retry whose lease ran out and was taken over by another worker: nothing was
        // written, the other worker's attempt stands.
        LeaseLost,
        Fatal,       // the outcome could not be made durable (store or dead-letter sink down)
    };
    Status status = Status::Recorded;
    std::string fatal_reason;
    std::optional<OutcomeRecord> record;
    std::int64_t due_ms = 0;  // Parked: when it runs again (0 when it waits behind another event)
};

struct ProcessorOptions {
    ParseLimits limits;
    // Every configured secret; applied to each reason (text taken from responses and errors)
    // before it reaches a log line, Redis or a dead-letter header. Must outlive the processor.
    const Redactor* redactor = nullptr;
    RetryConfig retry;
    // Jitter for retry delays; nullptr: the processor's own SystemRandom.
    Random* random = nullptr;
    // The apps' quarantines (shared by the lanes) and this lane's view of the operation window
    // that trips them; without them nothing is ever quarantined.
    QuarantineGate* quarantine = nullptr;
    QuarantineStore* operations = nullptr;
    // Each app's rate limit, shared by the lanes (must outlive the processor): every SCIM request
    // waits for its turn (through Clock::wait_until) and a 429 slows the app down. An app
    // without one (nullptr or missing) is sent to as fast as the lanes go.
    std::map<std::string, AppRateLimiter*> rate_limiters;
    // Group membership (usually the lane's state store as well); without it membership events
    // are recorded as skipped `unsupported`.
    MembershipStore* membership = nullptr;
};

// Turns one Kafka record into exactly one recorded outcome: parse, de-duplicate, apply the
// app's rules, send the SCIM requests, record the outcome and link atomically, and dead-letter
// what cannot succeed. One instance per lane: it uses its ScimClients and store from one thread.
class EventProcessor {
public:
    using Options = ProcessorOptions;

    EventProcessor(const std::vector<AppRuntime>& apps, std::map<std::string, ScimClient*> clients,
                   StateStore& store, DeadLetterSink& dead_letters, const Clock& clock,
                   std::shared_ptr<spdlog::logger> log, Options options = {});

    // A record from Kafka. Never throws: whatever is thrown while processing the record
    // dead-letters it (InternalError), so one record can never stop a partition. An event of an
    // object with a waiting queue is parked behind it without being run.
    ProcessResult process(const InboundRecord& record) noexcept;

    // A record whose app is behind: parsed, de-duplicated and parked in its object's queue, due
    // at once, without deciding or sending anything (a malformed one is dead-lettered as usual).
    // It runs when a worker with room claims it. Never throws, like process().
    ProcessResult process_held(const InboundRecord& record) noexcept;

    // The claimed head of an object's queue: re-decided against the state as it is now (stale
    // check, match, diff), then recorded, rescheduled or dead-lettered under its lease. Never
    // throws, like process().
    ProcessResult process_parked(const ClaimedHead& head) noexcept;

    // Dead-letters a record that could not be processed (code InternalError, the reason given),
    // once: a record that already has an outcome is reported as a duplicate. Fatal only when
    // that outcome cannot be made durable. With a head, its lease is honoured and the head removed.
    ProcessResult dead_letter_internal(const InboundRecord& record, const std::string& what,
                                       const ClaimedHead* head = nullptr) noexcept;

private:
    struct Context;
    Context start(const InboundRecord& record, const ClaimedHead* head) const;
    // The one exception boundary of process(), process_held() and process_parked().
    ProcessResult guarded(const InboundRecord& record, const ClaimedHead* head, bool hold_back) noexcept;
    ProcessResult process_record(const InboundRecord& record, const ClaimedHead* head, bool hold_back);
    // A group event's part in users' access, before the group itself is decided (and whether or
    // not the app provisions groups): records the group's assignment or the membership delta, and
    // parks a reevaluation in the queue of each user whose access it may change.
    std::optional<ProcessResult> track_group_scope(const Event& event, const AppRuntime& app,
                                                   const std::optional<LinkState>& link);
    // `why` prefixes the follow-ups' ids: "reevaluate" (access) or "reference" (a referenced
    // object got an account).
    std::optional<ProcessResult> park_reevaluations(const Event& cause, const std::vector<std::string>& users,
                                                    std::string_view why = "reevaluate");
    // An object left with unresolved references (Context::unresolved) gets its reference check
    // due after the app's reference_timeout_seconds, unless one is due already.
    std::optional<ProcessResult> arm_reference_deadline(const Event& received, Context& ctx);
    // A reference check's outcome, when something is still unresolved: a reference failure
    // (status Warning, code UnresolvedReference, class reference).
    void mark_unresolved(Context& ctx) const;
    // One follow-up of `cause` in the queue of object (type, id), with an id fixed by both.
    std::optional<ProcessResult> park_follow_up(const Event& cause, ObjectType type, const std::string& id,
                                                EventType follow_up, std::string_view why);
    // nullopt when the object's queue emptied meanwhile: the event runs now.
    std::optional<ProcessResult> park_behind(const Event& event, Context& ctx);
    ProcessResult finish_recorded_head(const OutcomeRecord& recorded, Context& ctx);
    // Every failed SCIM call (and every failed lookup a decision depended on) ends here: the
    // failure policy's verdict decides between a retry and a dead letter.
    ProcessResult fail(Context& ctx, const transforms::FailureVerdict& verdict, std::string what,
                       std::optional<LinkState> link = std::nullopt);
    ProcessResult retry_later(Context& ctx, const transforms::FailureVerdict& verdict, std::string what);
    // Waits out the app's quarantine: parks the event (or puts the claimed head back) as it is,
    // without counting an attempt.
    ProcessResult hold(const Event& event, Context& ctx, std::string_view why);
    // The deletion threshold, asked right before anything that takes access away is sent (a
    // disable, a delete, an update or adoption whose PATCH sets active to false: `action` is
    // Disable for those): nullopt when it may go out (counted), else the event is staged whole
    // (or, the store failing, retried) and the result says so.
    std::optional<ProcessResult> guard_deletion(Context& ctx, Action action);
    ProcessResult stage(Context& ctx, Action action, const DeletionWindow& window);
    // Counts the event's SCIM operation in the app's window; may quarantine the app. Fatal only
    // when the store fails (then the result says so).
    std::optional<ProcessResult> count_operation(Context& ctx, bool failed);
    transforms::FailureVerdict judge(const ScimResponse& response, transforms::ScimOperation operation) const;
    void route_unparsed(Context& ctx) const;
    ProcessResult process_invalid(std::string app, std::string code, std::string reason,
                                  const Event* event, std::string stage, Context& ctx);
    // Users and groups: the same steps, each with its object's profile (mapping, rules).
    ProcessResult process_object(const Event& event, const AppRuntime& app,
                                 const std::optional<LinkState>& link, Context& ctx);
    ProcessResult provision(const Event& event, const transforms::ObjectProfile& object,
                            const std::optional<LinkState>& link, transforms::UserDecision decision,
                            transforms::DecisionHooks hooks, Context& ctx);
    // A dead letter when the server's id cannot be used in a request path (transforms::unsafe_scim_id).
    std::optional<ProcessResult> refuse_unsafe_id(Context& ctx, const std::string& id, const std::string& where);
    ProcessResult adopt(const transforms::ObjectProfile& object, const Event& event, const nlohmann::json& resource,
                        LinkState next, const transforms::UserDecision& decision, const std::string& how,
                        Context& ctx);
    // Disables the account (the link becomes `after`); with SoftDeleted, a user's deletion: the
    // account is disabled unless it is already, and its hard delete scheduled.
    ProcessResult disable(const LinkState& link, LinkState next, LinkStatus after, Context& ctx);
    // The disable PATCH, guarded by the deletion threshold: nullopt when it was sent (`next`
    // records it), else the result to return (staged, failed, or the account found gone).
    std::optional<ProcessResult> send_disable(const LinkState& link, LinkState& next, Context& ctx);
    ProcessResult schedule_hard_delete(const LinkState& link, LinkState next, bool was_inactive, Context& ctx);
    // Membership deltas (and follow-ups) of a group: recorded, then what the group has in the
    // target is brought to them, in PATCHes of at most apps[].member_batch members.
    ProcessResult process_membership(const Event& event, const AppRuntime& app, const std::optional<LinkState>& link,
                                     Context& ctx);
    ProcessResult sync_members(const AppRuntime& app, LinkState next, Context& ctx);
    // For an object whose account in the target changed (created, linked, re-created, deleted):
    // `forget` what its groups (a user) or it (a group) were sent, and `park` a members
    // follow-up in each group's queue (when it has an account). Fatal only when the store fails.
    std::optional<ProcessResult> park_follow_ups(const Event& cause, bool forget, bool park);
    ProcessResult remove(const std::string& resource_path, const LinkState& link, LinkState next, Context& ctx);
    ProcessResult skip(Context& ctx, std::string code, std::string reason, std::optional<LinkState> link);
    ProcessResult dead_letter(Context& ctx, std::string code, std::string reason, std::string stage,
                              std::optional<LinkState> link);
    ProcessResult finish(Context& ctx, std::optional<LinkState> link, bool dead_letter);
    ScimResponse send(Context& ctx, const ScimRequest& request);
    std::string redact(std::string text) const;
    void redact_outcome(OutcomeRecord& out, std::optional<LinkState>& link) const;
    void redact_json(nlohmann::json& value) const;

    const AppRuntime* find_app(const std::string& id) const;

    const std::vector<AppRuntime>& apps_;
    std::map<std::string, ScimClient*> clients_;
    StateStore& store_;
    DeadLetterSink& dead_letters_;
    const Clock& clock_;
    std::shared_ptr<spdlog::logger> log_;
    Options options_;
    SystemRandom own_random_;
    Random& random_;
};

}  // namespace provbridge::consumers
