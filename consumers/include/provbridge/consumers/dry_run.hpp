#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "provbridge/core/dead_letter.hpp"
#include "provbridge/core/membership.hpp"
#include "provbridge/core/scim.hpp"
#include "provbridge/core/state_store.hpp"

namespace provbridge::consumers {

// A dry run (apps[].dry_run, `run --dry-run`, `preview`) runs the real EventProcessor over
// views of the app and of the store instead of branching inside it: reads go through, so
// matching and diffs are decided against the app's real state; writes stop at the views.

// One SCIM exchange of a dry run: a read that was sent (or answered offline), or a write that
// was not sent.
struct DryRunExchange {
    ScimRequest request;
    std::optional<ScimResponse> response;  // reads only; writes are never sent
    bool sent = false;
};

// Sends reads to `reads` (or, when it is nullptr, answers them "nothing found"); answers writes
// as a compliant server would, without sending them, so the processor goes on to its outcome.
// Every exchange is appended to `log` when given.
class DryRunScimClient final : public ScimClient {
public:
    DryRunScimClient(ScimClient* reads, std::vector<DryRunExchange>* log) : reads_(reads), log_(log) {}
    ScimResponse send(const ScimRequest& request) override;

    // The id a withheld create is answered with: no account exists, so none is linked. It passes
    // the check every server id passes (transforms::unsafe_scim_id), as a real app's would.
    static constexpr const char* kUnassignedId = "assigned-by-the-app";

private:
    ScimClient* reads_;
    std::vector<DryRunExchange>* log_;
};

// What a store that only decides (the dry run's, the preview's) answers about queues: it claims
// no heads (the worker leaves a dry-run app's queues alone), holds no lease, and admits every
// disable and delete uncounted (counting would use up the real window).
class DecideNowStore : public StateStore {
public:
    Result<std::vector<ClaimedHead>> claim_due(const std::string& /*app*/, std::int64_t /*now_ms*/,
                                               std::chrono::milliseconds /*lease*/, std::size_t /*max*/,
                                               const std::string& /*owner*/) override {
        return std::vector<ClaimedHead>{};
    }
    // Nothing is ever queued in a store that only decides, so nothing waits behind a head.
    Result<std::vector<ParkedEvent>> queued_behind(const std::string& /*app*/, ObjectType /*type*/,
                                                   const std::string& /*id*/) override {
        return std::vector<ParkedEvent>{};
    }
    Result<LeaseStatus> reschedule(const HeadLease& /*lease*/, const ParkedEvent& /*updated*/,
                                   std::int64_t /*due_ms*/) override {
        return LeaseStatus::Lost;
    }
    Result<LeaseStatus> stage(const HeadLease& /*lease*/, const ParkedEvent& /*updated*/, std::int64_t /*staged_ms*/,
                              const OutcomeRecord& /*logged*/) override {
        return LeaseStatus::Lost;
    }
    // admit_deletion admits everything: nothing is ever staged here.
    Result<ParkStatus> park_staged(const ParkedEvent& /*event*/, std::int64_t /*staged_ms*/,
                                   const OutcomeRecord& /*logged*/) override {
        return make_error("a store that only decides stages nothing", ErrorKind::Permanent);
    }
    Result<DeletionWindow> admit_deletion(const std::string& /*app*/, std::int64_t /*now_ms*/,
                                          const DeletionThresholdConfig& /*threshold*/, bool /*allowed*/) override {
        return DeletionWindow{};
    }
    // A decision only: the hard delete it would schedule is said in the outcome, not kept.
    Result<bool> schedule_hard_delete(const std::string& /*app*/, const std::string& /*user_id*/,
                                      std::int64_t /*due_ms*/) override {
        return true;
    }
    Result<std::vector<ScheduledHardDelete>> due_hard_deletes(const std::string& /*app*/, std::int64_t /*now_ms*/,
                                                              std::size_t /*max*/) override {
        return std::vector<ScheduledHardDelete>{};
    }
    Result<bool> cancel_hard_delete(const std::string& /*app*/, const std::string& /*user_id*/) override {
        return true;
    }
    Result<bool> drop_hard_delete(const std::string& /*app*/, const ScheduledHardDelete& /*scheduled*/) override {
        return true;
    }
};

// The worker's store as a dry run sees it. Reads go to the real store; the event's outcome is
// recorded for real (marked dry_run, keyed apart from real outcomes, so the event is not a
// duplicate when it is later run for real) with the writes it would have sent; everything else
// is held for the one event and then dropped: link, queues (nothing waits in a dry run: an
// event queued behind others is judged now, a follow-up is not parked), dead-letter index,
// deletion counts, membership and references. Membership changes stay visible until the
// event's outcome, so a membership event is judged with its own delta applied.
class DryRunStore final : public DecideNowStore, public MembershipStore {
public:
    // `writes`: the exchanges of this lane's DryRunScimClients, cleared at each event.
    DryRunStore(StateStore& store, MembershipStore& membership, std::vector<DryRunExchange>& writes)
        : store_(store), membership_(membership), exchanges_(writes) {}

    Result<PriorState> load(const Event& event) override;
    Result<std::optional<OutcomeRecord>> load_invalid(const std::string& app, const std::string& topic,
                                                      std::int32_t partition, std::int64_t offset) override;
    Result<std::optional<LinkState>> load_link(const std::string& app, ObjectType type,
                                               const std::string& source_id) override {
        return store_.load_link(app, type, source_id);
    }
    Result<std::optional<std::string>> load_owner(const std::string& app, ObjectType type,
                                                  const std::string& scim_id) override {
        return store_.load_owner(app, type, scim_id);
    }
    Result<CommitStatus> commit(const Commit& commit) override;
    Result<bool> count_duplicate(const std::string& /*app*/) override { return true; }
    Result<ParkStatus> park(const ParkedEvent& event, ParkMode mode, std::int64_t due_ms) override;

    Result<bool> change_members(const std::string& app, const std::string& group, const std::vector<std::string>& added,
                                const std::vector<std::string>& removed) override;
    Result<GroupMembership> load_membership(const std::string& app, const std::string& group) override;
    Result<bool> record_applied(const std::string& app, const std::string& group,
                                const std::vector<std::pair<std::string, std::string>>& added,
                                const std::vector<std::string>& removed) override;
    Result<bool> forget_applied(const std::string& app, const std::string& group) override;
    Result<std::vector<std::string>> groups_of(const std::string& app, const std::string& user) override {
        return membership_.groups_of(app, user);
    }
    Result<bool> set_group_assignment(const std::string& /*app*/, const std::string& /*group*/,
                                      const std::optional<std::string>& /*role*/) override {
        return true;
    }
    Result<std::optional<std::string>> group_assignment(const std::string& app, const std::string& group) override {
        return membership_.group_assignment(app, group);
    }
    Result<std::vector<GroupGrant>> group_grants(const std::string& app, const std::string& user) override {
        return membership_.group_grants(app, user);
    }
    Result<bool> add_pending_reference(const std::string& /*app*/, const std::string& /*referenced*/,
                                       const std::string& /*referrer*/, std::int64_t /*since_ms*/) override {
        return true;
    }
    Result<std::map<std::string, std::int64_t>> pending_references(const std::string& app,
                                                                   const std::string& referenced) override {
        return membership_.pending_references(app, referenced);
    }
    Result<bool> drop_pending_references(const std::string& /*app*/, const std::string& /*referenced*/,
                                         const std::vector<std::string>& /*referrers*/) override {
        return true;
    }
    Result<bool> arm_reference_deadline(const std::string& /*app*/, ObjectType /*type*/, const std::string& /*id*/,
                                        std::int64_t /*due_ms*/) override {
        return true;
    }
    Result<std::vector<ReferenceDeadline>> due_reference_deadlines(const std::string& /*app*/, std::int64_t /*now_ms*/,
                                                                   std::size_t /*max*/) override {
        return std::vector<ReferenceDeadline>{};
    }
    Result<bool> drop_reference_deadline(const std::string& /*app*/, const ReferenceDeadline& /*deadline*/) override {
        return true;
    }
    Result<std::vector<std::optional<LinkState>>> load_user_links(const std::string& app,
                                                                  const std::vector<std::string>& users) override {
        return membership_.load_user_links(app, users);
    }

private:
    // One group's changes made by the current event.
    struct GroupChanges {
        std::set<std::string> added, removed;
        std::map<std::string, std::string> applied;  // user → id in the target
        std::set<std::string> unapplied;
        bool forgot = false;
    };
    void begin_event();

    StateStore& store_;
    MembershipStore& membership_;
    std::vector<DryRunExchange>& exchanges_;
    std::map<std::pair<std::string, std::string>, GroupChanges> groups_;  // (app, group)
};

// A dry run's dead letters reach no topic: its outcome record (marked dry_run) says why.
class DryRunDeadLetters final : public DeadLetterSink {
public:
    Result<bool> publish(const InboundRecord& /*original*/, const DeadLetterReason& /*reason*/) override {
        return true;
    }
};

// "POST /Users; PATCH /Users/abc": the writes among the exchanges, for an outcome's reason.
std::string describe_withheld(const std::vector<DryRunExchange>& exchanges);

}  // namespace provbridge::consumers
