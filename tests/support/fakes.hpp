#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "provbridge/core/clock.hpp"
#include "provbridge/core/dead_letter.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/core/membership.hpp"
#include "provbridge/core/state_store.hpp"
#include "provbridge/transforms/deletion_threshold.hpp"
#include "provbridge/transforms/rolling_window.hpp"
#include "provbridge/transforms/user_rules.hpp"

namespace provbridge::test_support {

// Time that moves only when a test moves it.
class FakeClock final : public Clock {
public:
    std::chrono::system_clock::time_point wall_now() const override { return wall_; }
    std::chrono::steady_clock::time_point steady_now() const override { return steady_; }
    // Waiting is time passing: the clock moves to `at` (never back), and the waits are kept.
    void wait_until(std::chrono::steady_clock::time_point at) const override {
        waits.push_back(at);
        if (at > steady_) {
            wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(at - steady_);
            steady_ = at;
        }
    }
    void advance(std::chrono::milliseconds d) {
        wall_ += d;
        steady_ += d;
    }
    mutable std::vector<std::chrono::steady_clock::time_point> waits;

private:
    mutable std::chrono::system_clock::time_point wall_{std::chrono::milliseconds(1'790'000'000'000)};
    mutable std::chrono::steady_clock::time_point steady_{};
};

// One object of one app, as the parking state of FakeStateStore is keyed.
struct FakeObject {
    std::string app;
    ObjectType type = ObjectType::User;
    std::string id;
    auto operator<=>(const FakeObject&) const = default;
};

// An in-memory StateStore with the same rules as the Redis one: once per event, and the
// parking queues (per object order, due heads, leases checked by commit and reschedule).
class FakeStateStore final : public StateStore, public MembershipStore {
public:
    FakeStateStore() = default;
    // The clock gives the time at which a commit makes the next event of a queue due (as the
    // Redis store's clock does); without one, the now_ms of the last claim_due is used.
    explicit FakeStateStore(const Clock& wall) : clock(&wall) {}

    Result<PriorState> load(const Event& event) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        PriorState prior;
        const auto event_key = keys_.event(event.app, event.source, event.id);
        if (const auto it = outcomes.find(event_key); it != outcomes.end()) {
            prior.recorded = it->second;
        }
        if (const auto it = links.find(keys_.link(event.app, event.object_type, event.object_id)); it != links.end()) {
            prior.link = it->second;
        }
        const auto queue_it = queues.find(FakeObject{event.app, event.object_type, event.object_id});
        prior.object_queued = queue_it != queues.end() && !queue_it->second.empty();
        prior.event_parked = parked.count(event_key) > 0;
        return prior;
    }
    Result<std::optional<OutcomeRecord>> load_invalid(const std::string& app, const std::string& topic,
                                                      std::int32_t partition, std::int64_t offset) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        const auto it = outcomes.find(keys_.invalid_record(app, topic, partition, offset));
        return it == outcomes.end() ? std::optional<OutcomeRecord>{} : std::optional<OutcomeRecord>{it->second};
    }
    Result<std::optional<LinkState>> load_link(const std::string& app, ObjectType type,
                                               const std::string& source_id) override {
        std::lock_guard lock(mutex_);
        if (down || fail_load_link) return make_error("connection refused");
        const auto it = links.find(keys_.link(app, type, source_id));
        return it == links.end() ? std::optional<LinkState>{} : std::optional<LinkState>{it->second};
    }
    Result<std::optional<std::string>> load_owner(const std::string& app, ObjectType type,
                                                  const std::string& scim_id) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        const auto it = owners.find(keys_.owner(app, type, scim_id));
        return it == owners.end() ? std::optional<std::string>{} : std::optional<std::string>{it->second};
    }
    Result<CommitStatus> commit(const Commit& c) override {
        if (before_commit) before_commit();  // what another worker does in between, for a race
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        const auto& r = c.record;
        // Keyed as the Redis store keys them: a dry run's outcomes apart from the real ones.
        const auto name = [&](const std::string& n) { return r.dry_run ? KeyScheme::dry_run_name(n) : n; };
        const auto key = r.event_id.empty() ? keys_.invalid_record(r.app, name(r.topic), r.partition, r.offset)
                                            : keys_.event(r.app, r.source, name(r.event_id));
        if (r.dry_run && (c.link || c.dead_letter || c.head || !c.replay_of.empty())) {
            return make_error("a dry-run commit carries a link, queue or dead-letter change", ErrorKind::Permanent);
        }
        std::optional<FakeObject> head;
        if (c.head) {
            head = FakeObject{c.head->app, c.head->object_type, c.head->object_id};
            if (r.event_id.empty() || head->app != r.app || r.object_type != to_string(head->type) ||
                r.object_id != head->id) {
                return make_error("commit names the head of another object", ErrorKind::Permanent);
            }
            const auto lease = leases.find(*head);
            if (lease == leases.end() || lease->second != c.head->token) return CommitStatus::LeaseLost;
        }
        if (outcomes.count(key) > 0) {
            if (head) pop_head(*head, key);
            return CommitStatus::AlreadyRecorded;
        }
        outcomes[key] = r;
        if (c.link) {
            const auto type = object_type_from_string(r.object_type).value_or(ObjectType::User);
            links[keys_.link(r.app, type, r.object_id)] = *c.link;
            if (!c.link->scim_id.empty()) owners[keys_.owner(r.app, type, c.link->scim_id)] = r.object_id;
        }
        log.push_back(r);
        if (c.dead_letter) dead_letter_index.push_back(r);
        if (head) pop_head(*head, key);
        return CommitStatus::Recorded;
    }
    Result<bool> count_duplicate(const std::string& app) override {
        std::lock_guard lock(mutex_);
        ++duplicates[app];
        return true;
    }
    Result<ParkStatus> park(const ParkedEvent& event, ParkMode mode, std::int64_t due_ms) override {
        return park_in(event, mode == ParkMode::Behind, due_ms, nullptr);
    }
    Result<ParkStatus> park_staged(const ParkedEvent& event, std::int64_t staged_ms,
                                   const OutcomeRecord& logged) override {
        return park_in(event, false, staged_ms, &logged);
    }
    Result<std::vector<ClaimedHead>> claim_due(const std::string& app, std::int64_t now_ms,
                                               std::chrono::milliseconds lease, std::size_t max,
                                               const std::string& owner) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        last_claim_ms_ = now_ms;
        // Oldest due first; ties in member order, as a Redis zset orders them.
        std::vector<std::tuple<std::int64_t, std::string, FakeObject>> ready;
        for (const auto& [object, at] : due) {
            if (object.app == app && at <= now_ms) {
                ready.emplace_back(at, KeyScheme::queue_member(object.type, object.id), object);
            }
        }
        std::sort(ready.begin(), ready.end());
        if (ready.size() > max) ready.resize(max);
        std::vector<ClaimedHead> claimed;
        for (const auto& [at, member, object] : ready) {
            const auto queue_it = queues.find(object);
            if (queue_it == queues.end() || queue_it->second.empty()) {
                due.erase(object);
                leases.erase(object);
                continue;
            }
            ClaimedHead head;
            head.lease = HeadLease{object.app, object.type, object.id, owner + ":" + std::to_string(++lease_sequence)};
            head.event = queue_it->second.front();
            head.lease_until_ms = now_ms + lease.count();
            due[object] = head.lease_until_ms;
            leases[object] = head.lease.token;
            claimed.push_back(std::move(head));
        }
        return claimed;
    }
    Result<std::vector<ParkedEvent>> queued_behind(const std::string& app, ObjectType type,
                                                   const std::string& id) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        const auto it = queues.find(FakeObject{app, type, id});
        if (it == queues.end() || it->second.size() < 2) return std::vector<ParkedEvent>{};
        return std::vector<ParkedEvent>(it->second.begin() + 1, it->second.end());
    }
    Result<LeaseStatus> reschedule(const HeadLease& lease, const ParkedEvent& updated,
                                   std::int64_t due_ms) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        if (updated.app != lease.app || updated.object_type != lease.object_type ||
            updated.object_id != lease.object_id) {
            return make_error("reschedule names the head of another object", ErrorKind::Permanent);
        }
        const FakeObject object{lease.app, lease.object_type, lease.object_id};
        const auto held = leases.find(object);
        if (held == leases.end() || held->second != lease.token) return LeaseStatus::Lost;
        auto& queue_of = queues[object];
        if (queue_of.empty()) {
            queues.erase(object);
            leases.erase(object);
            due.erase(object);
            return LeaseStatus::Lost;
        }
        queue_of.front() = updated;
        due[object] = due_ms;
        leases.erase(object);
        return LeaseStatus::Held;
    }
    Result<LeaseStatus> stage(const HeadLease& lease, const ParkedEvent& updated, std::int64_t staged_ms,
                              const OutcomeRecord& logged) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        if (updated.app != lease.app || updated.object_type != lease.object_type ||
            updated.object_id != lease.object_id) {
            return make_error("stage names the head of another object", ErrorKind::Permanent);
        }
        const FakeObject object{lease.app, lease.object_type, lease.object_id};
        const auto held = leases.find(object);
        if (held == leases.end() || held->second != lease.token) return LeaseStatus::Lost;
        auto& queue_of = queues[object];
        leases.erase(object);
        due.erase(object);
        if (queue_of.empty()) {
            queues.erase(object);
            return LeaseStatus::Lost;
        }
        queue_of.front() = updated;
        staged[object] = staged_ms;
        log.push_back(logged);
        return LeaseStatus::Held;
    }
    Result<DeletionWindow> admit_deletion(const std::string& app, std::int64_t now_ms,
                                          const DeletionThresholdConfig& threshold, bool allowed) override {
        std::lock_guard lock(mutex_);
        if (down || fail_admit) return make_error("connection refused");
        const auto buckets = transforms::window_buckets(threshold.window, now_ms);
        DeletionWindow window;
        for (std::int64_t b = buckets.first; b <= buckets.current; ++b) {
            const auto it = deletion_buckets.find({app, b});
            if (it != deletion_buckets.end()) window.counted += it->second;
        }
        window.staged = static_cast<std::int64_t>(
            std::count_if(staged.begin(), staged.end(), [&](const auto& entry) { return entry.first.app == app; }));
        if (threshold.max_percent > 0 && !allowed) {
            // As the Redis store's linked set: the app's links with an account, active or not.
            if (linked_unknown) return make_error("the linked accounts are not counted yet");
            const auto users = keys_.link(app, ObjectType::User, "");
            const auto groups = keys_.link(app, ObjectType::Group, "");
            for (const auto& [key, state] : links) {
                const bool of_app = key.rfind(users, 0) == 0 || key.rfind(groups, 0) == 0;
                if (of_app && transforms::has_target_account(state)) ++window.linked;
            }
        }
        window.admission = transforms::judge_deletion(threshold, window.counted, window.staged, window.linked, allowed);
        if (window.admission == DeletionAdmission::Admitted) {
            ++deletion_buckets[{app, buckets.current}];
            ++window.counted;
        }
        return window;
    }

    // What `provbridge deletes allow|discard` does (RedisDeletionControl::release): the app's
    // staged heads (or one object's) get the mark and are due at now_ms. Returns those released.
    std::vector<FakeObject> release_staged(const std::string& app, DeletionMark mark, std::int64_t now_ms,
                                           std::optional<FakeObject> only = std::nullopt) {
        std::lock_guard lock(mutex_);
        std::vector<FakeObject> released;
        for (auto it = staged.begin(); it != staged.end();) {
            const FakeObject object = it->first;
            if (object.app != app || (only && object != *only)) {
                ++it;
                continue;
            }
            it = staged.erase(it);
            auto& queue_of = queues[object];
            if (queue_of.empty()) {
                queues.erase(object);
                continue;
            }
            queue_of.front().deletion.mark = mark;
            due[object] = now_ms;
            released.push_back(object);
        }
        return released;
    }

    std::optional<LinkState> link(const std::string& app, const std::string& id) const {
        std::lock_guard lock(mutex_);
        const auto it = links.find(keys_.link(app, ObjectType::User, id));
        return it == links.end() ? std::nullopt : std::optional<LinkState>(it->second);
    }
    // The events waiting for one object, head first (empty when none).
    std::vector<ParkedEvent> queue(const std::string& app, ObjectType type, const std::string& id) const {
        std::lock_guard lock(mutex_);
        const auto it = queues.find(FakeObject{app, type, id});
        return it == queues.end() ? std::vector<ParkedEvent>{} : it->second;
    }
    // When the object's head is due (the end of its lease while claimed); nullopt when none.
    std::optional<std::int64_t> due_at(const std::string& app, ObjectType type, const std::string& id) const {
        std::lock_guard lock(mutex_);
        const auto it = due.find(FakeObject{app, type, id});
        return it == due.end() ? std::nullopt : std::optional<std::int64_t>(it->second);
    }
    // The token of the lease on the object's head, nullopt when it is not claimed.
    std::optional<std::string> lease_of(const std::string& app, ObjectType type, const std::string& id) const {
        std::lock_guard lock(mutex_);
        const auto it = leases.find(FakeObject{app, type, id});
        return it == leases.end() ? std::nullopt : std::optional<std::string>(it->second);
    }
    // How many events of the app are parked (the Redis store's HLEN of its parked hash).
    Result<bool> change_members(const std::string& app, const std::string& group, const std::vector<std::string>& added,
                                const std::vector<std::string>& removed) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        for (const auto& user : added) {
            members[{app, group}].insert(user);
            member_of[{app, user}].insert(group);
        }
        for (const auto& user : removed) {
            members[{app, group}].erase(user);
            member_of[{app, user}].erase(group);
        }
        return true;
    }
    Result<GroupMembership> load_membership(const std::string& app, const std::string& group) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        GroupMembership out;
        const auto& listed = members[{app, group}];
        out.members.assign(listed.begin(), listed.end());
        out.applied = applied_members[{app, group}];
        return out;
    }
    Result<bool> record_applied(const std::string& app, const std::string& group,
                                const std::vector<std::pair<std::string, std::string>>& added,
                                const std::vector<std::string>& removed) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        for (const auto& [user, id] : added) applied_members[{app, group}][user] = id;
        for (const auto& user : removed) applied_members[{app, group}].erase(user);
        return true;
    }
    Result<bool> forget_applied(const std::string& app, const std::string& group) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        applied_members.erase({app, group});
        return true;
    }
    Result<std::vector<std::string>> groups_of(const std::string& app, const std::string& user) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        const auto& groups = member_of[{app, user}];
        return std::vector<std::string>(groups.begin(), groups.end());
    }
    Result<bool> set_group_assignment(const std::string& app, const std::string& group,
                                      const std::optional<std::string>& role) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        if (role) {
            assigned_groups[{app, group}] = *role;
        } else {
            assigned_groups.erase({app, group});
        }
        return true;
    }
    Result<std::optional<std::string>> group_assignment(const std::string& app, const std::string& group) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        const auto it = assigned_groups.find({app, group});
        return it == assigned_groups.end() ? std::nullopt : std::optional<std::string>(it->second);
    }
    Result<std::vector<GroupGrant>> group_grants(const std::string& app, const std::string& user) override {
        std::lock_guard lock(mutex_);
        if (down || fail_grants) return make_error("connection refused");
        std::vector<GroupGrant> out;
        for (const auto& group : member_of[{app, user}]) {
            const auto it = assigned_groups.find({app, group});
            if (it != assigned_groups.end()) out.push_back({group, it->second});
        }
        return out;
    }
    Result<bool> add_pending_reference(const std::string& app, const std::string& referenced,
                                       const std::string& referrer, std::int64_t since_ms) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        pending_refs[{app, referenced}].emplace(referrer, since_ms);
        return true;
    }
    Result<std::map<std::string, std::int64_t>> pending_references(const std::string& app,
                                                                   const std::string& referenced) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        return pending_refs[{app, referenced}];
    }
    Result<bool> drop_pending_references(const std::string& app, const std::string& referenced,
                                         const std::vector<std::string>& referrers) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        for (const auto& r : referrers) pending_refs[{app, referenced}].erase(r);
        return true;
    }
    Result<bool> arm_reference_deadline(const std::string& app, ObjectType type, const std::string& id,
                                        std::int64_t due_ms) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        return reference_deadlines[app].emplace(std::make_pair(type, id), due_ms).second;
    }
    Result<std::vector<ReferenceDeadline>> due_reference_deadlines(const std::string& app, std::int64_t now_ms,
                                                                   std::size_t max) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        std::vector<ReferenceDeadline> out;
        for (const auto& [object, due_ms] : reference_deadlines[app]) {
            if (due_ms <= now_ms) out.push_back({object.first, object.second, due_ms});
        }
        std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.due_ms < b.due_ms; });
        if (out.size() > max) out.resize(max);
        return out;
    }
    Result<bool> drop_reference_deadline(const std::string& app, const ReferenceDeadline& deadline) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        reference_deadlines[app].erase({deadline.type, deadline.id});
        return true;
    }
    Result<bool> schedule_hard_delete(const std::string& app, const std::string& user_id, std::int64_t due_ms) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        hard_deletes[app][user_id] = due_ms;
        return true;
    }
    Result<std::vector<ScheduledHardDelete>> due_hard_deletes(const std::string& app, std::int64_t now_ms,
                                                              std::size_t max) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        std::vector<ScheduledHardDelete> out;
        for (const auto& [user, due_ms] : hard_deletes[app]) {
            if (due_ms <= now_ms) out.push_back({user, due_ms});
        }
        std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.due_ms < b.due_ms; });
        if (out.size() > max) out.resize(max);
        return out;
    }
    Result<bool> cancel_hard_delete(const std::string& app, const std::string& user_id) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        return hard_deletes[app].erase(user_id) == 1;
    }
    Result<bool> drop_hard_delete(const std::string& app, const ScheduledHardDelete& scheduled) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        auto& of_app = hard_deletes[app];
        const auto it = of_app.find(scheduled.user_id);
        if (it == of_app.end() || it->second != scheduled.due_ms) return false;
        of_app.erase(it);
        return true;
    }
    Result<std::vector<std::optional<LinkState>>> load_user_links(const std::string& app,
                                                                  const std::vector<std::string>& users) override {
        std::lock_guard lock(mutex_);
        if (down || fail_load_link) return make_error("connection refused");
        std::vector<std::optional<LinkState>> out;
        for (const auto& user : users) {
            const auto it = links.find(keys_.link(app, ObjectType::User, user));
            out.push_back(it == links.end() ? std::nullopt : std::optional<LinkState>(it->second));
        }
        return out;
    }

    std::size_t parked_count(const std::string& app) const {
        std::lock_guard lock(mutex_);
        return static_cast<std::size_t>(
            std::count_if(parked.begin(), parked.end(), [&](const auto& entry) { return entry.second.app == app; }));
    }

    bool down = false;
    bool fail_load_link = false;  // only reads of other objects' links fail (a manager lookup, say)
    bool fail_admit = false;      // only the deletion threshold's question fails
    bool linked_unknown = false;  // max_percent is asked before the linked accounts were counted
    std::map<std::string, OutcomeRecord> outcomes;
    std::map<std::string, LinkState> links;
    std::map<std::string, std::string> owners;
    std::vector<OutcomeRecord> log;
    std::vector<OutcomeRecord> dead_letter_index;
    std::map<std::string, int> duplicates;
    // Parking state, as the Redis store keeps it: queues (head first), due heads (ms), leases
    // (object → token), parked events (event key → object).
    std::map<FakeObject, std::vector<ParkedEvent>> queues;
    std::map<FakeObject, std::int64_t> due;
    std::map<FakeObject, std::string> leases;
    std::map<std::string, FakeObject> parked;
    // The deletion threshold: heads staged (object → ms when staged; not due), and the counted
    // disables and deletes per (app, bucket of transforms::window_buckets).
    std::map<FakeObject, std::int64_t> staged;
    std::map<std::pair<std::string, std::int64_t>, std::int64_t> deletion_buckets;
    std::int64_t lease_sequence = 0;
    const Clock* clock = nullptr;
    // Membership, as the Redis store keeps it: (app, group) → members, (app, user) → groups,
    // (app, group) → member → id in the target.
    std::map<std::pair<std::string, std::string>, std::set<std::string>> members;
    std::map<std::pair<std::string, std::string>, std::string> assigned_groups;  // (app, group) → role
    // (app, referenced) → referrer → since
    std::map<std::pair<std::string, std::string>, std::map<std::string, std::int64_t>> pending_refs;
    std::map<std::string, std::map<std::pair<ObjectType, std::string>, std::int64_t>> reference_deadlines;
    std::map<std::string, std::map<std::string, std::int64_t>> hard_deletes;  // app → user → due
    bool fail_grants = false;  // group_grants fails (the rest works)
    std::function<void()> before_commit;
    std::map<std::pair<std::string, std::string>, std::set<std::string>> member_of;
    std::map<std::pair<std::string, std::string>, std::map<std::string, std::string>> applied_members;

private:
    // The park script's steps: behind queued events only, anywhere, or staged (with its log entry).
    Result<ParkStatus> park_in(const ParkedEvent& event, bool behind_only, std::int64_t due_ms,
                               const OutcomeRecord* staged_log) {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        const auto event_key = keys_.event(event.app, event.source, event.event_id);
        if (parked.count(event_key) > 0) return ParkStatus::AlreadyParked;
        const FakeObject object{event.app, event.object_type, event.object_id};
        const auto it = queues.find(object);
        const bool empty = it == queues.end() || it->second.empty();
        if (empty && behind_only) return ParkStatus::NotQueued;
        queues[object].push_back(event);
        parked[event_key] = object;
        if (empty) (staged_log != nullptr ? staged : due)[object] = due_ms;
        if (staged_log != nullptr) log.push_back(*staged_log);
        return ParkStatus::Parked;
    }
    // The head's outcome exists: it leaves the queue and the next event is due at once.
    void pop_head(const FakeObject& object, const std::string& event_key) {
        auto& queue_of = queues[object];
        if (!queue_of.empty()) queue_of.erase(queue_of.begin());
        parked.erase(event_key);
        leases.erase(object);
        if (queue_of.empty()) {
            queues.erase(object);
            due.erase(object);
        } else {
            due[object] = clock != nullptr ? clock->wall_ms() : last_claim_ms_;
        }
    }

    mutable std::mutex mutex_;
    KeyScheme keys_;
    std::int64_t last_claim_ms_ = 0;
};

class FakeDeadLetterSink final : public DeadLetterSink {
public:
    Result<bool> publish(const InboundRecord& original, const DeadLetterReason& reason) override {
        if (down) return make_error("dead-letter topic unavailable");
        published.push_back({original, reason});
        return true;
    }
    struct Entry {
        InboundRecord record;
        DeadLetterReason reason;
    };
    bool down = false;
    std::vector<Entry> published;
};

}  // namespace provbridge::test_support
