#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace provbridge {

// A snapshot of the process environment, passed in so configuration stays testable.
using Environment = std::map<std::string, std::string>;
Environment current_environment();

// Thrown only while loading configuration at start-up. what() reads
// "<file>: <field>: <reason>" so an operator can go straight to the mistake.
class ConfigError : public std::runtime_error {
public:
    ConfigError(std::string file, std::string field, std::string reason);
    const std::string& file() const { return file_; }
    const std::string& field() const { return field_; }
    const std::string& reason() const { return reason_; }

private:
    std::string file_;
    std::string field_;
    std::string reason_;
};

struct EmbeddedBrokerConfig {
    int brokers = 3;
    int events_partitions = 6;
    int dead_letter_partitions = 1;
};

struct SecretRef {
    std::string env;   // name of an environment variable holding the secret
    std::string file;  // or a file whose content (trailing newline trimmed) is the secret
    bool empty() const { return env.empty() && file.empty(); }
};

struct KafkaConfig {
    // Empty means: start the embedded development broker in-process.
    std::string bootstrap_servers;
    std::string group_id = "provbridge";
    std::string events_topic = "provisioning.events";
    std::string dead_letter_topic = "provisioning.deadletter";
    EmbeddedBrokerConfig embedded;
    // Extra librdkafka properties (validated by librdkafka at start): for every client, and
    // for consumers or producers only.
    std::map<std::string, std::string> properties;
    std::map<std::string, std::string> consumer_properties;
    std::map<std::string, std::string> producer_properties;
    // librdkafka properties whose values are secrets (sasl.password, ssl.key.password, ...),
    // read at start from an environment variable or a file like the SCIM tokens. Secret-looking
    // properties written inline in the maps above are refused.
    std::map<std::string, SecretRef> secret_properties;
    // Static group membership (group.instance.id, KIP-345): stable per worker, so a restarted
    // worker gets its partitions back without a rebalance on a real cluster. Empty: dynamic.
    std::string group_instance_id;
    // Start-up gives up (exit 3) when no broker answered within this.
    std::chrono::milliseconds connect_timeout{30000};
    // While running, every broker unreachable for this long stops the worker (exit 3); it is
    // also the dead-letter producer's delivery timeout, so nothing waits on Kafka for longer.
    std::chrono::milliseconds lost_timeout{10000};
};

// Whether a librdkafka property holds a secret (passwords, client secrets, private keys, JAAS
// configurations); such properties are accepted only in kafka.secret_properties.
bool is_secret_kafka_property(std::string_view name);

struct RedisConfig {
    std::string host = "127.0.0.1";
    int port = 6379;
    int database = 0;
    SecretRef password;
    std::string key_prefix = "pb";
    std::chrono::milliseconds timeout{2000};
    std::chrono::hours dedupe_ttl{24 * 7};
    std::int64_t log_max_entries = 100000;
    // Provisioning log entries older than this are dropped too (Entra keeps 30 days).
    std::chrono::hours log_max_age{30 * 24};
    std::string url() const;  // redis://host:port/db, never with a password
};

struct WorkerConfig {
    int concurrency = 16;     // lanes: objects processed at the same time
    int max_in_flight = 1000; // events consumed but not yet finished, across all lanes
    // Records over these are dead-lettered (InvalidEvent) before they are parsed.
    std::size_t max_event_bytes = 1024 * 1024;
    int max_event_depth = 32;  // nested arrays/objects in an event
    // An app whose oldest waiting event has waited this long for its lanes is behind: its next
    // events wait in Redis (parked, offsets committed) so that they do not hold up other apps.
    std::chrono::milliseconds spill_after{1000};
};

// How failed SCIM calls are retried: exponential backoff with full jitter, capped, honouring a
// target's Retry-After; after max_attempts attempts or max_age since the first failure the
// event is dead-lettered with its whole error trail.
struct RetryConfig {
    std::chrono::milliseconds base_delay{1000};
    std::chrono::milliseconds max_delay{300000};
    int max_attempts = 12;
    std::chrono::milliseconds max_age{24LL * 3600 * 1000};
    // How long a worker holds a due retry it claimed; a crashed worker's claims are taken over
    // by another worker once this has passed. Must outlast one event's SCIM calls: unset (0),
    // it is 4 x (connect timeout + timeout) of the slowest app, at least 10 s.
    std::chrono::milliseconds lease{0};
    // How often each worker looks for due retries.
    std::chrono::milliseconds poll_interval{200};
};

// When an app is quarantined and how it is probed. Entered at once on 401/403, or when more than
// failure_ratio of at least min_operations SCIM operations in the last `window` failed (reference
// failures do not count). While quarantined only the probe talks to the app, at these intervals
// (the last repeats); events are consumed and wait in their queues.
struct QuarantineConfig {
    double failure_ratio = 0.4;
    int min_operations = 50;
    std::chrono::milliseconds window{300000};
    std::vector<std::chrono::milliseconds> probe_intervals{
        std::chrono::minutes(1), std::chrono::minutes(2),  std::chrono::minutes(5),
        std::chrono::minutes(15), std::chrono::minutes(30), std::chrono::minutes(60)};
};

enum class UnassignAction { Disable, Delete };

// Entra's "Scope": sync only the users and groups assigned to the app (directly or, for users,
// through an assigned group), or every user and group the directory sends for it.
enum class SyncScope { Assigned, All };

// Entra's accidental-deletions prevention, per operation: once an app's disables and deletes
// (whatever makes an account inactive: an unassignment, a role, leaving scope, an update that
// sets active to false) within the rolling `window` reach max_operations, or max_percent of the
// app's linked accounts, further ones are staged (they wait, unsent, at the head of their
// object's queue) until an operator allows or discards them with `provbridge deletes`.
// Entra's default threshold is 500; 0 turns that limit off. max_percent is off (0) by default:
// Entra has no relative limit, and on a small app any percentage stages the second disable.
struct DeletionThresholdConfig {
    std::int64_t max_operations = 500;
    // 0 (off) to 100: staged once the window counts this share of the app's linked accounts.
    std::int64_t max_percent = 0;
    std::chrono::milliseconds window{std::chrono::minutes(60)};
    bool enabled() const { return max_operations > 0 || max_percent > 0; }
};

struct ScimEndpointConfig {
    std::string base_url;  // without trailing slash
    SecretRef token;
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds timeout{30000};
    bool verify_tls = true;
    std::string ca_file;
};

// The app's request rate (a token bucket), split evenly across the live workers. Whatever the
// limit, a 429 lowers the rate for a while (AIMD, see transforms/rate_limit).
struct RateLimitConfig {
    int requests_per_second = 0;  // 0: no limit
    int burst = 1;                // sent at once after an idle time; default max(1, requests_per_second)
};

// JSON from the configuration that another library interprets (mappings, scoping), with where
// it came from so that library's errors can name the file and field.
struct ConfigFragment {
    nlohmann::json value;  // null when absent
    std::string file;      // the file it was read from
    std::string field;     // its field path in that file, e.g. apps[0].mappings
};

struct AppConfig {
    std::string id;
    std::string profile = "generic";
    // Requests in flight to the app at most (its own lanes); 0: worker.concurrency.
    int max_in_flight = 0;
    // Its events in memory at most (running or waiting for a lane); 0: 4 x max_in_flight.
    int max_queued = 0;
    // Members added or removed by one PATCH of a group at most.
    int member_batch = 100;
    // How long a reference (a manager, a group's member) may stay unresolved before a reference
    // check records it as a reference failure (status warning, never counted for quarantine). The
    // reference is still sent whenever the referenced object gets its account.
    int reference_timeout_seconds = 900;
    ScimEndpointConfig scim;
    // The seeds' rule: users assigned with the role "Default Access" are not provisioned.
    // Unset: the profile decides (every shipped profile says true).
    std::optional<bool> skip_default_access;
    UnassignAction unassign_action = UnassignAction::Disable;
    SyncScope scope = SyncScope::Assigned;
    // Entra's SkipOutOfScopeDeletions: accounts that fall out of scope are left alone instead of
    // being disabled.
    bool skip_out_of_scope_deletions = false;
    DeletionThresholdConfig deletion_threshold;
    // A user.deleted disables the account and deletes it for good this many days later (Entra's
    // recycle bin keeps a deleted user 30 days); an assignment or update in between cancels the
    // hard delete and re-enables the same account. 0: the account is deleted at once.
    int hard_delete_after_days = 30;
    // The app's own mappings over the profile's: {"users": [rows], "groups": [rows]}, inline or
    // from mappings_file.
    ConfigFragment mappings;
    // Scoping filters: {"users": [filters], "groups": [filters]}.
    ConfigFragment scoping;
    RateLimitConfig rate_limit;
    // Decide and record every event's operation, send no write to the app (reads still go, so
    // matching is real). See consumers/dry_run.hpp.
    bool dry_run = false;
};

// The ops HTTP server of `provbridge run` and `provbridge dashboard`: metrics, health, the JSON
// API and the dashboard. Mutating endpoints need the bearer token; without one configured they
// are refused (403), the read-only ones still answer.
struct OpsConfig {
    bool enabled = true;               // listen "off": no server
    std::string host = "127.0.0.1";   // loopback unless configured otherwise
    int port = 9740;                   // 0: any free port (printed at start)
    // Whether ops.listen was given: a default port that is taken (a second worker on the host)
    // only costs this worker its server; a configured one that is taken is refused at start.
    bool listen_set = false;
    SecretRef token;
    std::string listen_text() const;  // host:port as configured
};

// Where an app's state changes are told (entering or leaving quarantine, deletes staged or
// released): one message per change, from one worker, to each configured channel.
struct EmailNotificationConfig {
    std::string smtp_url;  // smtp://host:port or smtps://host:port (libcurl; STARTTLS when offered)
    std::string from;
    std::vector<std::string> to;
    std::string username;  // empty: no authentication
    SecretRef password;
};
struct WebhookNotificationConfig {
    std::string url;  // http(s)://…: a JSON document is POSTed
    SecretRef token;  // optional: sent as Authorization: Bearer
};
struct NotificationsConfig {
    std::optional<EmailNotificationConfig> email;
    std::optional<WebhookNotificationConfig> webhook;
    bool any() const { return email.has_value() || webhook.has_value(); }
};

// The LDAP source (`provbridge source ldap`): a directory followed with RFC 4533 content
// synchronisation, its changes sent as contract events.
struct LdapAssignmentConfig {
    std::string app;
    std::string group_dn;                // members of this group are assigned to the app
    std::optional<std::string> role;     // a fixed role, or
    std::string role_attribute;          // the user's attribute holding it
};
struct LdapSourceConfig {
    std::string url;                     // ldap://host:port or ldaps://host:port
    bool start_tls = false;
    bool tls_verify = true;
    std::string ca_file;
    std::string bind_dn;                 // empty: anonymous
    SecretRef password;
    std::string source;                  // the events' CloudEvents source
    std::string users_base_dn;
    std::string users_filter = "(objectClass=inetOrgPerson)";
    std::string groups_base_dn;
    // groupOfUniqueNames keeps its members in uniqueMember: set groups.filter and
    // member_attribute together for it.
    std::string groups_filter = "(objectClass=groupOfNames)";
    std::string member_attribute = "member";
    std::string manager_attribute = "manager";
    // The users' source ids: entryUUID, or a stable attribute of the entry (never its DN).
    std::string id_attribute = "entryUUID";
    // Contract attribute (Entra name) → directory attribute, over the inetOrgPerson defaults;
    // an empty directory attribute leaves the contract attribute out.
    std::map<std::string, std::string> attributes;
    std::vector<LdapAssignmentConfig> assignments;
};
struct SourcesConfig {
    std::optional<LdapSourceConfig> ldap;
};

struct Config {
    std::string source;  // file the configuration came from, for error messages
    KafkaConfig kafka;
    RedisConfig redis;
    WorkerConfig worker;
    RetryConfig retry;
    QuarantineConfig quarantine;
    OpsConfig ops;
    NotificationsConfig notifications;
    SourcesConfig sources;
    std::vector<AppConfig> apps;

    const AppConfig* find_app(std::string_view id) const;
};

// Parses and validates a configuration document (JSON; // and /* */ comments allowed).
// Fields can be overridden from the environment: PROVBRIDGE__KAFKA__BOOTSTRAP_SERVERS,
// PROVBRIDGE__APPS__<APP_ID>__SCIM__BASE_URL, ... (path segments upper-cased, joined by
// "__"; in an app id every character other than a letter or digit becomes "_").
// Throws ConfigError naming the file, the field and the reason.
Config parse_config(std::string_view text, const std::string& source, const Environment& env);
Config load_config(const std::string& path, const Environment& env);

// retry.lease as it applies: the configured value, or when unset (0, as in a Config built in
// code rather than parsed) 4 x (connect timeout + timeout) of the slowest app, at least 10 s.
std::chrono::milliseconds effective_retry_lease(const Config& config);

// Reads a secret from its environment variable or file. Throws ConfigError (field given
// by the caller) when it is unset, unreadable or empty. The value is never put in a message.
std::string resolve_secret(const SecretRef& ref, const Environment& env, const std::string& source,
                           const std::string& field);

// Resolves the SCIM token of one app (field apps[i].scim.token_env / token_file).
std::string resolve_app_token(const Config& config, const AppConfig& app, const Environment& env);

// Resolves the ops server's bearer token (ops.token_env / token_file); "" when none is configured.
std::string resolve_ops_token(const Config& config, const Environment& env);

// The notification channels' secrets: the SMTP password and the webhook token ("" when none).
struct NotificationSecrets {
    std::string smtp_password;
    std::string webhook_token;
};
NotificationSecrets resolve_notification_secrets(const Config& config, const Environment& env);

// Resolves kafka.secret_properties to property name -> value (errors name
// kafka.secret_properties.<name>.env / .file).
std::map<std::string, std::string> resolve_kafka_secrets(const Config& config, const Environment& env);

// Resolves sources.ldap's bind password ("" when the source binds anonymously).
std::string resolve_ldap_password(const Config& config, const Environment& env);

// The environment variable that overrides a config field, e.g. kafka.group_id →
// PROVBRIDGE__KAFKA__GROUP_ID.
std::string env_name_for(const std::vector<std::string>& path);

}  // namespace provbridge
