#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "provbridge/core/clock.hpp"
#include "provbridge/core/dead_letter.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/core/state_store.hpp"

namespace provbridge::test_support {

// Time that moves only when a test moves it.
class FakeClock final : public Clock {
public:
    std::chrono::system_clock::time_point wall_now() const override { return wall_; }
    std::chrono::steady_clock::time_point steady_now() const override { return steady_; }
    void advance(std::chrono::milliseconds d) {
        wall_ += d;
        steady_ += d;
    }

private:
    std::chrono::system_clock::time_point wall_{std::chrono::milliseconds(1'790'000'000'000)};
    std::chrono::steady_clock::time_point steady_{};
};

// An in-memory StateStore with the same once-per-event rule as the Redis one.
class FakeStateStore final : public StateStore {
public:
    Result<PriorState> load(const Event& event) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        PriorState prior;
        if (const auto it = outcomes.find(keys_.event(event.app, event.source, event.id)); it != outcomes.end()) {
            prior.recorded = it->second;
        }
        if (const auto it = links.find(keys_.link(event.app, event.object_type, event.object_id)); it != links.end()) {
            prior.link = it->second;
        }
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
        if (down) return make_error("connection refused");
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
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        const auto& r = c.record;
        const auto key = r.event_id.empty() ? keys_.invalid_record(r.app, r.topic, r.partition, r.offset)
                                            : keys_.event(r.app, r.source, r.event_id);
        if (outcomes.count(key) > 0) return CommitStatus::AlreadyRecorded;
        outcomes[key] = r;
        if (c.link) {
            const auto type = object_type_from_string(r.object_type).value_or(ObjectType::User);
            links[keys_.link(r.app, type, r.object_id)] = *c.link;
            if (!c.link->scim_id.empty()) owners[keys_.owner(r.app, type, c.link->scim_id)] = r.object_id;
        }
        log.push_back(r);
        if (c.dead_letter) dead_letter_index.push_back(r);
        return CommitStatus::Recorded;
    }
    Result<bool> count_duplicate(const std::string& app) override {
        std::lock_guard lock(mutex_);
        ++duplicates[app];
        return true;
    }

    std::optional<LinkState> link(const std::string& app, const std::string& id) const {
        const auto it = links.find(keys_.link(app, ObjectType::User, id));
        return it == links.end() ? std::nullopt : std::optional<LinkState>(it->second);
    }

    bool down = false;
    std::map<std::string, OutcomeRecord> outcomes;
    std::map<std::string, LinkState> links;
    std::map<std::string, std::string> owners;
    std::vector<OutcomeRecord> log;
    std::vector<OutcomeRecord> dead_letter_index;
    std::map<std::string, int> duplicates;

private:
    std::mutex mutex_;
    KeyScheme keys_;
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
