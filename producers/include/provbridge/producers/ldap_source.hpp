#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "provbridge/core/clock.hpp"
#include "provbridge/core/config.hpp"
#include "provbridge/core/event.hpp"
#include "provbridge/core/result.hpp"
#include "provbridge/producers/ldap_client.hpp"
#include "provbridge/transforms/directory.hpp"

// `provbridge source ldap`: follows a directory with RFC 4533 sync (one users search, one groups
// search on one connection), turns its changes into contract events with the directory model,
// and stores, in one transaction, how far it got (the sync cookies, what the model needs to
// compute the next changes) together with the events that led there (an outbox); then sends
// the events and clears the outbox. A crash at any point resends rather than loses.
namespace provbridge::producers {

// What the source keeps between runs.
struct SourceProgress {
    std::map<std::string, std::string> cookies;      // by search: "users", "groups"
    std::map<std::string, nlohmann::json> objects;   // entryUUID → {"kind": "user"|"group", ...}
    // Events stored with the state that produced them and not yet known to be sent: sent first
    // on a restart, so a change the state already holds is never lost.
    std::vector<nlohmann::json> outbox;
    // The rules (transforms::directory::to_json) the objects were judged under; none before any.
    std::optional<nlohmann::json> rules;
};
struct SourceProgressDelta {
    std::map<std::string, std::string> cookies;
    std::map<std::string, nlohmann::json> upserted;
    std::set<std::string> removed;
    std::optional<std::vector<nlohmann::json>> outbox;  // replaces the stored outbox (empty: clears it)
    std::optional<nlohmann::json> rules;                // replaces the stored rules
    bool empty() const { return cookies.empty() && upserted.empty() && removed.empty() && !outbox && !rules; }
};
class SourceProgressStore {
public:
    virtual ~SourceProgressStore() = default;
    virtual Result<SourceProgress> load() = 0;
    // All of the delta or none of it.
    virtual Result<bool> save(const SourceProgressDelta& delta) = 0;
};

// Where the events go: the events topic (with an idempotent producer) or, in a dry run, the
// terminal. Returns once every event was acknowledged; an error means none may be assumed sent.
class EventSink {
public:
    virtual ~EventSink() = default;
    virtual Result<bool> send(const std::vector<Event>& events) = 0;
};

class KafkaProducer;

// Sends events to the events topic keyed <app>/<type>/<id> (per-object order), waiting for the
// idempotent producer's acknowledgements.
class KafkaEventSink final : public EventSink {
public:
    KafkaEventSink(KafkaProducer& producer, std::string topic, std::chrono::milliseconds timeout)
        : producer_(producer), topic_(std::move(topic)), timeout_(timeout) {}
    Result<bool> send(const std::vector<Event>& events) override;

private:
    KafkaProducer& producer_;
    std::string topic_;
    std::chrono::milliseconds timeout_;
};

struct LdapSourceStats {
    std::int64_t entries_read = 0;
    std::int64_t events_sent = 0;
    std::int64_t connections = 0;
    std::int64_t full_refreshes = 0;  // started without a cookie
    // Deletions a refresh implied (left out of a present phase, or named by the server's session
    // log), looked up before anything was sent: really gone or out of scope, or still there.
    std::int64_t deletions_confirmed = 0;
    std::int64_t deletions_refuted = 0;
    // Resumes answered from the session log, checked with a listing of the entries there are.
    std::int64_t listings = 0;
    std::int64_t failures = 0;        // turns that failed: connection lost or refused, Kafka, Redis
    bool connected = false;
    bool refreshing = false;
    bool ever_synced = false;         // a refresh was completed in this run
    std::string last_error;           // of the latest failed turn, "" once a turn succeeds
    std::int64_t last_error_ms = 0;   // wall time of the latest failure
    std::int64_t last_sent_ms = 0;    // wall time events were last acknowledged
};

// The directory model's rules for a configured source.
transforms::directory::SourceRules source_rules(const LdapSourceConfig& config);
// The rules a source judged under before it stored its rules with its state: entryUUID ids and
// the earlier defaults (displayName, departmentNumber without fallbacks).
transforms::directory::SourceRules legacy_source_rules(const LdapSourceConfig& config);

class LdapSource {
public:
    LdapSource(LdapSourceConfig config, std::string password, EventSink& sink, SourceProgressStore& progress,
               const Clock& clock);

    // Restores the stored progress; an error when it cannot be read.
    Result<bool> load();

    // One turn: connects when needed (waiting out the reconnect backoff on the clock), reads
    // what the directory sends within `timeout`, sends the events it means and stores the
    // progress they reach. An error tells what failed this turn; the next turn tries again
    // (a lost connection is reopened, unsent events are sent first).
    Result<bool> step(std::chrono::milliseconds timeout);

    const LdapSourceStats& stats() const { return stats_; }
    // The stored state was judged under other rules; the running refresh judges it again.
    bool rejudging() const { return rejudge_; }
    // What the source reports of itself for the ops surfaces (docs/ops-api.md, "Sources"): its
    // state (connecting, initial sync, refreshing, following, reconnecting), counters, the
    // objects it knows and the latest error; `redact` takes every secret out of the error.
    nlohmann::json status(const std::function<std::string(std::string)>& redact) const;
    const transforms::directory::DirectoryModel& model() const { return model_; }

    // How long the n-th reconnect in a row waits: 0.5 s doubling to 30 s.
    static std::chrono::milliseconds backoff(int failures);

private:
    Result<bool> turn(std::chrono::milliseconds timeout);  // step, before it is recorded
    Result<bool> connect();
    Result<bool> handle(const ldap::SyncMessage& message, std::vector<Event>& events);
    Result<bool> flush();
    void disconnect();
    // A deletion the `search` reported: applied at once in the persist phase, held as a suspect
    // until the refresh ends in the refresh phase.
    std::vector<Event> deleted(const std::string& search, const std::string& id, std::int64_t change_micros);
    // At the end of a refresh: looks every inferred deletion up in the directory; removes from
    // the model only those it does not find, reads the others as they are now.
    Result<bool> confirm_deletions();
    ldap::SearchSpec search_spec(const std::string& name) const;

    LdapSourceConfig config_;
    std::string password_;
    EventSink& sink_;
    SourceProgressStore& progress_;
    const Clock& clock_;
    transforms::directory::DirectoryModel model_;
    std::unique_ptr<ldap::SyncConnection> connection_;
    std::map<std::string, std::string> cookies_;        // stored
    std::map<std::string, std::string> new_cookies_;    // received, not yet stored
    std::map<int, std::string> search_names_;            // search index → "users" / "groups"
    std::set<std::string> refreshing_searches_;
    std::map<std::string, bool> sweep_;                  // by search name
    std::set<std::string> suspects_;                     // deletions a refresh reported, any search
    std::vector<Event> unsent_;
    std::set<std::string> pending_upserts_, pending_removed_;  // not yet stored
    bool outbox_stored_ = false;  // unsent_ is in the stored outbox (or the outbox awaits clearing)
    // The stored state was judged under other rules: the next refresh is a full one that starts
    // from the old rules' view and ends in the new rules' (DirectoryModel::set_rules).
    bool rejudge_ = false;
    bool rules_unsaved_ = false;  // the store does not hold the rules in use yet
    int failures_ = 0;
    std::chrono::steady_clock::time_point next_attempt_{};
    LdapSourceStats stats_;
};

}  // namespace provbridge::producers
