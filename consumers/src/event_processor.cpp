#include "provbridge/consumers/event_processor.hpp"

#include <algorithm>
#include <functional>

#include "provbridge/consumers/follow_up.hpp"
#include "provbridge/core/json_util.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/core/log_context.hpp"
#include "provbridge/core/text.hpp"
#include "provbridge/transforms/deletion_threshold.hpp"
#include "provbridge/transforms/quarantine_policy.hpp"
#include "provbridge/transforms/scim_protocol.hpp"

namespace provbridge::consumers {
namespace {

using nlohmann::json;
using transforms::UserDecision;

std::string describe(const ScimRequest& request) {
    std::string text = std::string(to_string(request.method)) + " " + request.path;
    for (const auto& [k, v] : request.query) text += "?" + k + "=" + v;
    return text;
}

bool succeeded(const ScimResponse& response) {
    return response.transport == TransportStatus::Ok && response.status >= 200 && response.status < 300;
}

std::string count_phrase(std::size_t n, const char* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

std::string with_notes(std::string reason, const std::vector<std::string>& notes) {
    for (const auto& n : notes) {
        if (!n.empty()) reason += (reason.empty() ? "" : "; ") + n;
    }
    return reason;
}

// Manager and other references: the referenced object's link gives its id in the target.
// A store that cannot be read is not "no manager": that answer would make the next PATCH remove
// the manager. The failure is kept and the decision thrown away (failure()).
class StoreReferences final : public transforms::ReferenceResolver {
public:
    StoreReferences(StateStore& store, const std::string& app) : store_(store), app_(app) {}
    std::optional<std::string> target_id(ObjectType type, const std::string& source_id) override {
        if (failure_) return std::nullopt;
        auto link = store_.load_link(app_, type, source_id);
        if (!link) {
            failure_ = link.error();
            return std::nullopt;
        }
        if (!*link || (*link)->scim_id.empty() || (*link)->status == LinkStatus::Deleted) {
            if (type == ObjectType::User) missing_.push_back(source_id);
            return std::nullopt;
        }
        return (*link)->scim_id;
    }
    const std::optional<Error>& failure() const { return failure_; }
    // The users referenced that have no account yet (a manager), in the order asked.
    const std::vector<std::string>& missing() const { return missing_; }

private:
    StateStore& store_;
    const std::string& app_;
    std::optional<Error> failure_;
    std::vector<std::string> missing_;
};

// A user's assigned groups, read from the membership store when a decision asks. The first read
// is kept: after the commit it is read again, and a difference means a group event changed the
// user's access while this one was deciding (see EventProcessor::finish).
class StoreAssignments final : public transforms::AssignmentLookup {
public:
    StoreAssignments(MembershipStore* store, const std::string& app) : store_(store), app_(app) {}
    std::vector<GroupGrant> group_grants(const std::string& user_id) override {
        if (store_ == nullptr || failure_) return {};
        auto grants = store_->group_grants(app_, user_id);
        if (!grants) {
            failure_ = grants.error();
            return {};
        }
        read_ = std::move(grants).value();
        return *read_;
    }
    const std::optional<Error>& failure() const { return failure_; }
    // What the decision read (nullopt: it did not ask).
    const std::optional<std::vector<GroupGrant>>& read() const { return read_; }

private:
    MembershipStore* store_;
    const std::string& app_;
    std::optional<Error> failure_;
    std::optional<std::vector<GroupGrant>> read_;
};

// SelectUniqueValue asks the target itself whether a candidate is in use, through the
// processor's own send so the lookups count in the outcome like every other request.
// A lookup that failed is not "taken": that answer would pick the next candidate for good.
// The first failure is kept (every later lookup answers at once) and the decision thrown away.
class TargetUniqueness final : public transforms::UniqueValueLookup {
public:
    using Send = std::function<ScimResponse(const ScimRequest&)>;
    using Judge = std::function<transforms::FailureVerdict(const ScimResponse&)>;
    TargetUniqueness(Send send, Judge judge, const std::string& resource_path)
        : send_(std::move(send)), judge_(std::move(judge)), path_(resource_path) {}
    bool taken(std::string_view target_path, const json& value) override {
        if (failure_) return true;
        // A candidate no identifier may hold is refused after evaluation (check_identifiers);
        // it must not reach the target as a filter first.
        if (value.is_string() && has_control_character(value.get_ref<const std::string&>())) return false;
        auto path = transforms::parse_scim_path(target_path);
        if (!path) return true;
        const auto request = transforms::find_request(path_, *path, value);
        const auto response = send_(request);
        if (!succeeded(response)) {
            failure_ = judge_(response);
            what_ = describe(request) + " (SelectUniqueValue) failed: " + failure_->detail;
            return true;
        }
        const auto list = transforms::parse_list_response(response.body);
        if (!list.valid) {
            failure_ = transforms::FailureVerdict{transforms::Disposition::DeadLetter,
                                                  transforms::FailureKind::Permanent,
                                                  "ServiceIncompatible",
                                                  list.error,
                                                  response.status,
                                                  {},
                                                  std::nullopt};
            what_ = describe(request) + " (SelectUniqueValue): " + list.error;
            return true;
        }
        return list.total_results > 0 || !list.resources.empty();
    }
    const std::optional<transforms::FailureVerdict>& failure() const { return failure_; }
    const std::string& what() const { return what_; }

private:
    Send send_;
    Judge judge_;
    const std::string& path_;
    std::optional<transforms::FailureVerdict> failure_;
    std::string what_;
};

}  // namespace

struct EventProcessor::Context {
    Context(const InboundRecord& r, std::chrono::steady_clock::time_point at) : record(r), started(at) {}
    const InboundRecord& record;
    OutcomeRecord out;
    std::chrono::steady_clock::time_point started;
    ScimClient* client = nullptr;
    AppRateLimiter* limiter = nullptr;  // the app's, when it has one
    const ClaimedHead* head = nullptr;  // set when running the claimed head of a queue
    const Event* event = nullptr;       // once parsed
    std::string replay_of;              // the dead-letter index entry a replayed record came from
    const AppRuntime* app = nullptr;    // once the event names a configured app
    // The deletion threshold admitted and counted this event's disable or delete: a retry of it
    // is not counted again.
    bool deletion_counted = false;
    // The lookups a decision made (SelectUniqueValue, references): their failures void it.
    const TargetUniqueness* uniqueness = nullptr;
    const StoreReferences* references = nullptr;
    const StoreAssignments* assignments = nullptr;
    // The object's account in the target before this event ("" when none): when this event
    // changes it, what its groups were sent is out of date (follow-ups).
    std::string previous_account;
    // The link was SoftDeleted when the event was decided: if it is not any more once the outcome
    // is known (the user restored), its scheduled hard delete is cancelled with the commit.
    bool soft_deleted_before = false;
    // What the decision found unresolved: the user's manager, the group's members without an
    // account. A reference check (Event::reference_check) records them as a reference failure.
    std::vector<std::string> unresolved;
    // Said in the outcome's reason whatever it ends in (how the event was decided).
    std::vector<std::string> notes;
};

namespace {

// The state store failed, not the app: transient, and never the app's fault.
transforms::FailureVerdict store_unavailable(const std::string& detail) {
    return transforms::FailureVerdict{transforms::Disposition::Retry,
                                      transforms::FailureKind::Transient,
                                      "StateStoreUnavailable",
                                      detail,
                                      0,
                                      {},
                                      std::nullopt};
}

// A failed lookup the last decision depended on, as a verdict and what failed.
std::optional<std::pair<transforms::FailureVerdict, std::string>> lookup_failure(const TargetUniqueness* uniqueness,
                                                                                const StoreReferences* references,
                                                                                const StoreAssignments* assignments) {
    if (uniqueness != nullptr && uniqueness->failure()) {
        return std::make_pair(*uniqueness->failure(), uniqueness->what());
    }
    const auto store_failed = [](const Error& error, const std::string& what) {
        return std::make_pair(store_unavailable(error.message), what + error.message);
    };
    if (references != nullptr && references->failure()) {
        return store_failed(*references->failure(), "reading a referenced object's link failed: ");
    }
    if (assignments != nullptr && assignments->failure()) {
        return store_failed(*assignments->failure(), "reading the user's assigned groups failed: ");
    }
    return std::nullopt;
}

}  // namespace

std::vector<AppRuntime> build_app_runtimes(const Config& config) {
    std::vector<AppRuntime> apps;
    apps.reserve(config.apps.size());
    for (std::size_t i = 0; i < config.apps.size(); ++i) {
        const auto& app = config.apps[i];
        auto profile = transforms::build_app_profile(app, config.source, i);
        auto rules = transforms::rules_for(app, profile);
        apps.push_back(AppRuntime{app, std::move(profile), rules});
    }
    return apps;
}

EventProcessor::EventProcessor(const std::vector<AppRuntime>& apps,
                               std::map<std::string, ScimClient*> clients, StateStore& store,
                               DeadLetterSink& dead_letters, const Clock& clock,
                               std::shared_ptr<spdlog::logger> log, Options options)
    : apps_(apps),
      clients_(std::move(clients)),
      store_(store),
      dead_letters_(dead_letters),
      clock_(clock),
      log_(std::move(log)),
      options_(options),
      random_(options_.random != nullptr ? *options_.random : own_random_) {}

const AppRuntime* EventProcessor::find_app(const std::string& id) const {
    for (const auto& app : apps_) {
        if (app.config.id == id) return &app;
    }
    return nullptr;
}

namespace {

void describe_event(OutcomeRecord& out, const Event& event) {
    out.event_id = event.id;
    out.source = event.source;
    out.event_type = std::string(to_string(event.type));
    out.app = event.app;
    out.object_type = std::string(to_string(event.object_type));
    out.object_id = event.object_id;
    out.version = event.version;
}

}  // namespace

EventProcessor::Context EventProcessor::start(const InboundRecord& record, const ClaimedHead* head) const {
    Context ctx(record, clock_.steady_now());
    ctx.head = head;
    if (head != nullptr) {
        // This attempt follows the ones that failed; the outcome carries their trail.
        ctx.out.attempts = head->event.attempts + 1;
        ctx.out.trail = head->event.trail;
        ctx.out.first_failed_at_ms = head->event.first_failure_ms;
    }
    ctx.out.topic = record.topic;
    ctx.out.partition = record.partition;
    ctx.out.offset = record.offset;
    ctx.out.produced_at_ms = record.timestamp_ms;
    ctx.out.started_at_ms = clock_.wall_ms();
    return ctx;
}

ProcessResult EventProcessor::process(const InboundRecord& record) noexcept { return guarded(record, nullptr, false); }

ProcessResult EventProcessor::process_held(const InboundRecord& record) noexcept { return guarded(record, nullptr, true); }

ProcessResult EventProcessor::process_parked(const ClaimedHead& head) noexcept {
    return guarded(head.event.record, &head, false);
}

ProcessResult EventProcessor::guarded(const InboundRecord& record, const ClaimedHead* head, bool hold_back) noexcept {
    // Log lines about this record name it, then its event once parsed: the internal-error line of
    // the catch below too.
    LogContextScope scope(LogContext{{}, {}, {}, record.topic + "[" + std::to_string(record.partition) + "]@" +
                                                     std::to_string(record.offset)});
    try {
        return process_record(record, head, hold_back);
    } catch (const std::exception& e) {
        return dead_letter_internal(record, e.what(), head);
    } catch (...) {
        return dead_letter_internal(record, "unknown exception", head);
    }
}

ProcessResult EventProcessor::dead_letter_internal(const InboundRecord& record, const std::string& what,
                                                   const ClaimedHead* head) noexcept {
    try {
        Context ctx = start(record, head);
        const std::string reason = "internal error while processing the record: " + what;
        if (log_) log_->error("{}[{}]@{}: {}", record.topic, record.partition, record.offset, redact(reason));
        // What failed may have been the parsing itself: then the record is recorded by its place
        // in the topic, under the app its key names, without reading it again.
        std::optional<Event> parsed;
        try {
            if (auto event = parse_record(record, options_.limits); event && find_app(event->app) != nullptr) {
                parsed = std::move(event).value();
            }
        } catch (...) {
        }
        if (parsed) {
            describe_event(ctx.out, *parsed);
            return process_invalid(parsed->app, "InternalError", reason, &*parsed, "internal", ctx);
        }
        ctx.out.app = std::string(KeyScheme::kInvalidApp);
        if (record.key) {
            const std::string app = record.key->substr(0, record.key->find('/'));
            if (find_app(app) != nullptr) ctx.out.app = app;
        }
        return process_invalid(ctx.out.app, "InternalError", reason, nullptr, "internal", ctx);
    } catch (const std::exception& e) {
        return ProcessResult{ProcessResult::Status::Fatal,
                             "cannot dead-letter a record that failed (" + redact(what) + "): " + redact(e.what()),
                             {}};
    } catch (...) {
        return ProcessResult{ProcessResult::Status::Fatal, "cannot dead-letter a record that failed", {}};
    }
}

void EventProcessor::route_unparsed(Context& ctx) const {
    // Route the failure to the app's own log when the record names a configured app: in its
    // data, or failing that (a record too large to look into) in its key.
    ctx.out.app = std::string(KeyScheme::kInvalidApp);
    const InboundRecord& record = ctx.record;
    if (record.value.size() <= options_.limits.max_bytes) {
        auto doc = parse_json(record.value, false, options_.limits.max_depth);
        if (doc && doc->is_object()) {
            const json* data = doc->contains("data") ? &(*doc)["data"] : &*doc;
            if (data->is_object() && data->contains("app") && (*data)["app"].is_string() &&
                find_app((*data)["app"].get<std::string>()) != nullptr) {
                ctx.out.app = (*data)["app"].get<std::string>();
                return;
            }
        }
    }
    if (record.key) {
        const std::string app = record.key->substr(0, record.key->find('/'));
        if (find_app(app) != nullptr) ctx.out.app = app;
    }
}

ProcessResult EventProcessor::process_record(const InboundRecord& record, const ClaimedHead* head, bool hold_back) {
    Context ctx = start(record, head);

    auto parsed = parse_record(record, options_.limits);
    if (!parsed) {
        route_unparsed(ctx);
        return process_invalid(ctx.out.app, "InvalidEvent", "malformed event: " + parsed.error().message, nullptr,
                               "parse", ctx);
    }
    Event& event = *parsed;
    for (const auto& header : record.headers) {
        // A replay is a new attempt with its own outcome; the original's stays in the history.
        if (header.name == kReplayHeader && !header.value.empty()) {
            ctx.replay_of = header.value;
            event.id = replay_event_id(event.id, header.value);
        }
    }
    describe_event(ctx.out, event);
    ctx.event = &event;
    update_log_context(event.app, event.id, ctx.out.object_type + "/" + event.object_id);

    const AppRuntime* app = find_app(event.app);
    ctx.app = app;
    if (app == nullptr) {
        return process_invalid(std::string(KeyScheme::kInvalidApp), "UnknownApp",
                               "unknown app \"" + event.app + "\": it is not in the configuration",
                               &event, "parse", ctx);
    }
    // Per-object order rests on the key: a record keyed for another object (or for none) would
    // run beside that object's events instead of behind them.
    const std::string expected_key = record_key(event);
    if (!record.key || *record.key != expected_key) {
        const json shown = record.key ? json(*record.key) : json(nullptr);
        return process_invalid(event.app, "KeyMismatch",
                               (record.key ? "the record key " + shown.dump(-1, ' ', true, json::error_handler_t::replace) +
                                                 " does not name this event's object " + expected_key
                                           : "the record has no key; it must be " + expected_key) +
                                   " (<app>/<type>/<id>: per-object order rests on it)",
                               &event, "parse", ctx);
    }
    auto prior = store_.load(event);
    if (!prior) {
        return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(prior.error().message), {}};
    }
    if (prior->recorded) {
        // The worker may have died between the outcome and its follow-ups: park them again
        // (each has a fixed id, so what is parked or done already is not parked twice).
        const auto done = prior->recorded->status;
        if ((done == OutcomeStatus::Applied || done == OutcomeStatus::Warning) && !prior->recorded->scim_id.empty()) {
            // Parked only: forgetting again could drop what a follow-up has sent since.
            if (auto fatal = park_follow_ups(event, false, true)) return std::move(*fatal);
        }
        if (head != nullptr) return finish_recorded_head(*prior->recorded, ctx);
        // A redelivery or a re-produced event: its one outcome exists already.
        (void)store_.count_duplicate(event.app);
        return ProcessResult{ProcessResult::Status::Duplicate, {}, prior->recorded};
    }
    if (head == nullptr) {
        if (prior->event_parked) {
            // A redelivery of an event that waits in its queue: it runs from there, once.
            (void)store_.count_duplicate(event.app);
            return ProcessResult{ProcessResult::Status::Duplicate, {}, std::nullopt};
        }
        if (prior->object_queued) {
            // nullopt: the queue emptied between the load and the park, nothing to wait for.
            if (auto parked = park_behind(event, ctx)) return std::move(*parked);
        }
    }
    if (head != nullptr && head->event.deletion.mark == DeletionMark::Discarded) {
        // An operator discarded the staged operation: its outcome is recorded here, like every
        // outcome, and the object's next event runs. Nothing is sent, quarantine or not.
        // A staged update that would have disabled the account is dropped whole, its other
        // attribute changes too: sending part of it would be a request nobody reviewed, cut from
        // an event of a feed the operator has just judged wrong. The link is left as it was, so
        // the object's next event is decided against the account as it is and sends whatever
        // still differs then.
        const auto action = head->event.deletion.action;
        if (event.type == EventType::UserHardDelete) {
            return skip(ctx, "deletion_discarded",
                        "the hard delete scheduled after the user's deletion was discarded by an operator (provbridge "
                        "deletes discard --scheduled); the account stays disabled",
                        std::nullopt);
        }
        return skip(ctx, "deletion_discarded",
                    "the " + std::string(action == Action::None ? "operation" : to_string(action)) +
                        " staged by the deletion threshold was discarded by an operator (provbridge deletes "
                        "discard); nothing was sent, and the object's next event is decided against the account as "
                        "it is",
                    std::nullopt);
    }
    if (options_.quarantine != nullptr && options_.quarantine->held(event.app)) {
        return hold(event, ctx, "the app is quarantined");
    }
    if (hold_back) return hold(event, ctx, "the app is behind");
    const auto client = clients_.find(event.app);
    ctx.client = client == clients_.end() ? nullptr : client->second;
    const auto limiter = options_.rate_limiters.find(event.app);
    ctx.limiter = limiter == options_.rate_limiters.end() ? nullptr : limiter->second;
    const auto& object = event.object_type == ObjectType::User ? app->profile.users : app->profile.groups;
    // A retry ran it on its first attempt already, which parked nothing before it was done.
    if (event.object_type == ObjectType::Group && (head == nullptr || head->event.attempts == 0)) {
        // Assignment through groups holds for apps that do not provision groups too.
        if (auto fatal = track_group_scope(event, *app, prior->link)) return std::move(*fatal);
    }
    if (!object.rules.enabled) {
        // The version is kept, so that an older group event replayed later is stale.
        std::optional<LinkState> seen;
        const bool stale = prior->link && event.version < prior->link->version;
        if (event.object_type == ObjectType::Group && !stale && event.type != EventType::GroupMembersSync) {
            seen = prior->link.value_or(LinkState{});
            seen->version = std::max(seen->version, event.version);
            if (event.type == EventType::GroupAssigned) seen->status = LinkStatus::Active;
            if (event.type == EventType::GroupUnassigned) seen->status = LinkStatus::Disabled;
            if (event.type == EventType::GroupDeleted) seen->status = LinkStatus::Deleted;
        }
        return skip(ctx, "not_supported_by_app", object.rules.disabled_reason, seen);
    }
    return process_object(event, *app, prior->link, ctx);
}

ProcessResult EventProcessor::process_invalid(std::string app, std::string code, std::string reason,
                                              const Event* event, std::string stage, Context& ctx) {
    ctx.out.app = std::move(app);
    Result<std::optional<OutcomeRecord>> prior = std::optional<OutcomeRecord>{};
    if (event != nullptr) {
        Event keyed = *event;
        keyed.app = ctx.out.app;
        auto loaded = store_.load(keyed);
        if (!loaded) {
            prior = loaded.error();
        } else if (!loaded->recorded && loaded->event_parked && ctx.head == nullptr) {
            // The event id waits in a queue already: this record is another delivery of that id,
            // and recording an outcome for it here would finish the waiting event unrun.
            (void)store_.count_duplicate(ctx.out.app);
            return ProcessResult{ProcessResult::Status::Duplicate, {}, std::nullopt};
        } else {
            prior = std::move(loaded->recorded);
        }
    } else {
        prior = store_.load_invalid(ctx.out.app, ctx.record.topic, ctx.record.partition, ctx.record.offset);
    }
    if (!prior) {
        return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(prior.error().message), {}};
    }
    if (*prior) {
        if (ctx.head != nullptr) return finish_recorded_head(**prior, ctx);
        (void)store_.count_duplicate(ctx.out.app);
        return ProcessResult{ProcessResult::Status::Duplicate, {}, **prior};
    }
    return dead_letter(ctx, std::move(code), std::move(reason), std::move(stage), std::nullopt);
}

ProcessResult EventProcessor::process_object(const Event& received, const AppRuntime& app,
                                             const std::optional<LinkState>& link, Context& ctx) {
    if (ctx.client == nullptr) {
        return dead_letter(ctx, "NotConfigured", "no SCIM client for app " + app.config.id, "dispatch", std::nullopt);
    }
    const bool user = received.object_type == ObjectType::User;
    const auto& object = user ? app.profile.users : app.profile.groups;
    std::optional<Event> reevaluated;
    if (received.type == EventType::UserReevaluate || received.type == EventType::UserHardDelete) {
        reevaluated = transforms::reevaluation_event(received, link);
    }
    // A replayed, retried or late assignment or update never sends older attributes than the
    // newest the bridge holds: the link's snapshot, or an event already waiting behind this head.
    std::vector<Event> queued;
    if (user && ctx.head != nullptr &&
        (received.type == EventType::UserAssigned || received.type == EventType::UserUpdated)) {
        auto behind = store_.queued_behind(app.config.id, received.object_type, received.object_id);
        if (!behind) {
            const std::string detail = redact(behind.error().message);
            return fail(ctx, store_unavailable(detail), "reading the events waiting behind this one failed: " + detail);
        }
        for (const auto& parked : *behind) {
            // What cannot be parsed will be dead-lettered in its turn; it has no attributes to offer.
            if (auto waiting = parse_record(parked.record, options_.limits); waiting.ok()) queued.push_back(std::move(*waiting));
        }
    }
    std::optional<Event> latest;
    std::int64_t taken_from = 0;
    const Event& current = transforms::with_latest_snapshot(received, link, queued, object, latest, &taken_from);
    if (latest) {
        ctx.notes.push_back("decided with the attributes of version " + std::to_string(taken_from) +
                            ", newer than the event's " + std::to_string(received.version));
    }
    std::optional<Event> enriched;
    const Event& event = transforms::with_object_id(reevaluated ? *reevaluated : current, object, enriched);
    ctx.previous_account = transforms::has_target_account(link) ? link->scim_id : std::string();
    ctx.soft_deleted_before = link && link->status == LinkStatus::SoftDeleted;
    if (event.type == EventType::GroupMembersAdded || event.type == EventType::GroupMembersRemoved ||
        event.type == EventType::GroupMembersSync) {
        return process_membership(event, app, link, ctx);
    }
    StoreReferences references(store_, app.config.id);
    TargetUniqueness uniqueness([this, &ctx](const ScimRequest& request) { return send(ctx, request); },
                                [this](const ScimResponse& response) {
                                    return judge(response, transforms::ScimOperation::Find);
                                },
                                object.mapping.resource_path);
    StoreAssignments assignments(options_.membership, app.config.id);
    const transforms::DecisionHooks hooks{&uniqueness, &references, user ? &assignments : nullptr};
    ctx.uniqueness = &uniqueness;
    ctx.references = &references;
    ctx.assignments = &assignments;
    UserDecision decision = user ? transforms::decide_user(event, link, app.rules, object, hooks)
                                 : transforms::decide_group(event, link, app.rules, object, hooks);
    if (auto failed = lookup_failure(ctx.uniqueness, ctx.references, ctx.assignments)) return fail(ctx, failed->first, std::move(failed->second));
    if (decision.step == UserDecision::Step::Provision && options_.membership != nullptr) {
        // Recorded before anything is sent: when the referenced user gets an account, its commit
        // parks a follow-up for this one, which sends the reference then.
        ctx.unresolved = references.missing();
        for (const auto& referenced : ctx.unresolved) {
            auto added = options_.membership->add_pending_reference(app.config.id, referenced, event.object_id,
                                                                    clock_.wall_ms());
            if (!added) return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(added.error().message), {}};
        }
        if (auto fatal = arm_reference_deadline(received, ctx)) return std::move(*fatal);
    }
    if (decision.step == UserDecision::Step::Skip) {
        return skip(ctx, decision.code, decision.reason, decision.link_on_skip);
    }
    if (decision.step == UserDecision::Step::Refuse) {
        return dead_letter(ctx, decision.code, decision.reason, "transform", std::nullopt);
    }
    LinkState next = link.value_or(LinkState{});
    next.version = std::max(next.version, event.version);
    switch (decision.step) {
        case UserDecision::Step::Provision:
            return provision(event, object, link, std::move(decision), hooks, ctx);
        case UserDecision::Step::Disable:
            if (!decision.reason.empty()) ctx.out.reason = decision.reason;
            return disable(*link, std::move(next), decision.status_after, ctx);
        case UserDecision::Step::SoftDelete:
            return disable(*link, std::move(next), LinkStatus::SoftDeleted, ctx);
        case UserDecision::Step::Delete:
            if (!decision.reason.empty()) ctx.out.reason = decision.reason;
            return remove(object.mapping.resource_path, *link, std::move(next), ctx);
        case UserDecision::Step::Skip:
        case UserDecision::Step::Refuse:
            break;
    }
    return skip(ctx, decision.code, decision.reason, decision.link_on_skip);
}

namespace {

std::vector<std::string> sorted_unique(std::vector<std::string> ids) {
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
}

}  // namespace

std::optional<ProcessResult> EventProcessor::park_follow_ups(const Event& cause, bool forget, bool park) {
    // Membership events and follow-ups are the group's own business: they get no follow-ups.
    if (options_.membership == nullptr || cause.type == EventType::GroupMembersAdded ||
        cause.type == EventType::GroupMembersRemoved || cause.type == EventType::GroupMembersSync) {
        return std::nullopt;
    }
    auto& store = *options_.membership;
    const auto failed = [this](const Error& error) {
        return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(error.message), {}};
    };
    std::vector<std::string> groups;
    if (cause.object_type == ObjectType::Group) {
        groups.push_back(cause.object_id);
        if (forget) {
            if (auto forgot = store.forget_applied(cause.app, cause.object_id); !forgot) return failed(forgot.error());
        }
    } else {
        auto of = store.groups_of(cause.app, cause.object_id);
        if (!of) return failed(of.error());
        groups = std::move(of).value();
        // The user's account is new or gone: the groups no longer have the one they were sent.
        for (const auto& group : groups) {
            if (!forget) break;
            if (auto forgot = store.record_applied(cause.app, group, {}, {cause.object_id}); !forgot) {
                return failed(forgot.error());
            }
        }
    }
    if (!park) return std::nullopt;
    if (cause.object_type == ObjectType::User) {
        // Its reports (and whatever else referenced it) can be sent the reference now. Parked
        // before they are dropped: a crash in between parks them again on the redelivery.
        auto waiting = store.pending_references(cause.app, cause.object_id);
        if (!waiting) return failed(waiting.error());
        std::vector<std::string> referrers;
        for (const auto& [referrer, since] : *waiting) referrers.push_back(referrer);
        if (auto fatal = park_reevaluations(cause, referrers, "reference")) return fatal;
        if (auto dropped = store.drop_pending_references(cause.app, cause.object_id, referrers); !dropped) {
            return failed(dropped.error());
        }
    }
    for (const auto& group : groups) {
        if (auto fatal = park_follow_up(cause, ObjectType::Group, group, EventType::GroupMembersSync, "sync")) return fatal;
    }
    return std::nullopt;
}

std::optional<ProcessResult> EventProcessor::track_group_scope(const Event& event, const AppRuntime& app,
                                                              const std::optional<LinkState>& link) {
    if (options_.membership == nullptr || event.type == EventType::GroupMembersSync) return std::nullopt;
    if (link && event.version < link->version) return std::nullopt;  // stale: recorded as such by the decision
    auto& store = *options_.membership;
    const auto failed = [this](const Error& error) {
        return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(error.message), {}};
    };
    const std::string& group = event.object_id;
    std::vector<std::string> users;
    switch (event.type) {
        case EventType::GroupAssigned:
        case EventType::GroupUnassigned:
        case EventType::GroupDeleted: {
            const auto role = event.type == EventType::GroupAssigned ? std::optional<std::string>(event.role.value_or(""))
                                                                     : std::nullopt;
            if (auto set = store.set_group_assignment(app.config.id, group, role); !set) return failed(set.error());
            auto membership = store.load_membership(app.config.id, group);
            if (!membership) return failed(membership.error());
            users = std::move(membership->members);
            break;
        }
        case EventType::GroupMembersAdded:
        case EventType::GroupMembersRemoved: {
            const auto members = sorted_unique(event.members);
            const bool added = event.type == EventType::GroupMembersAdded;
            auto changed = store.change_members(app.config.id, group, added ? members : std::vector<std::string>{},
                                                added ? std::vector<std::string>{} : members);
            if (!changed) return failed(changed.error());
            auto assigned = store.group_assignment(app.config.id, group);
            if (!assigned) return failed(assigned.error());
            if (*assigned) users = members;
            break;
        }
        default:
            break;
    }
    // Scope "all": assignments decide nothing.
    if (app.config.scope == SyncScope::All || users.empty()) return std::nullopt;
    return park_reevaluations(event, users);
}

std::optional<ProcessResult> EventProcessor::park_reevaluations(const Event& cause, const std::vector<std::string>& users,
                                                               std::string_view why) {
    for (const auto& user : users) {
        if (auto fatal = park_follow_up(cause, ObjectType::User, user, EventType::UserReevaluate, why)) return fatal;
    }
    return std::nullopt;
}

std::optional<ProcessResult> EventProcessor::arm_reference_deadline(const Event& received, Context& ctx) {
    // A reference check that finds the same wait does not arm the next one: one reference failure
    // per wait, not one every timeout for as long as it lasts.
    if (ctx.unresolved.empty() || received.reference_check || options_.membership == nullptr || ctx.app == nullptr) {
        return std::nullopt;
    }
    const auto due = clock_.wall_ms() + std::int64_t{ctx.app->config.reference_timeout_seconds} * 1000;
    auto armed = options_.membership->arm_reference_deadline(ctx.app->config.id, received.object_type,
                                                             received.object_id, due);
    if (!armed) return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(armed.error().message), {}};
    return std::nullopt;
}

void EventProcessor::mark_unresolved(Context& ctx) const {
    if (ctx.event == nullptr || !ctx.event->reference_check || ctx.unresolved.empty() || ctx.app == nullptr ||
        (ctx.out.status != OutcomeStatus::Applied && ctx.out.status != OutcomeStatus::Skipped)) {
        return;
    }
    const bool user = ctx.event->object_type == ObjectType::User;
    std::string ids;
    const std::size_t shown = std::min<std::size_t>(ctx.unresolved.size(), 5);
    for (std::size_t i = 0; i < shown; ++i) ids += (i == 0 ? "" : ", ") + ctx.unresolved[i];
    if (shown < ctx.unresolved.size()) ids += ", …";
    const std::string after = " after " + std::to_string(ctx.app->config.reference_timeout_seconds) +
                              " s (reference_timeout_seconds)";
    std::string reason =
        user ? "the manager (" + ids + ") still has no account in the app" + after + "; it is sent as soon as it has one"
             : count_phrase(ctx.unresolved.size(), "member") + " still without an account in the app" + after + " (" +
                   ids + "); each is added as soon as it has one";
    if (!ctx.out.reason.empty()) reason += "; " + ctx.out.reason;
    ctx.out.status = OutcomeStatus::Warning;
    ctx.out.code = "UnresolvedReference";
    ctx.out.error_class = "reference";
    ctx.out.reason = std::move(reason);
}

std::optional<ProcessResult> EventProcessor::park_follow_up(const Event& cause, ObjectType type, const std::string& id,
                                                            EventType follow_up, std::string_view why) {
    const auto now = clock_.wall_ms();
    const auto parked =
        follow_up_event(cause.app, type, id, follow_up, std::string(why) + ":" + id + ":" + cause.source + ":" + cause.id, now);
    auto status = store_.park(parked, ParkMode::Anywhere, now);
    if (!status) return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(status.error().message), {}};
    return std::nullopt;
}

ProcessResult EventProcessor::process_membership(const Event& event, const AppRuntime& app,
                                                 const std::optional<LinkState>& link, Context& ctx) {
    if (options_.membership == nullptr) {
        return skip(ctx, "unsupported", "membership changes need the membership store, which this run has not got (a preview, say)", std::nullopt);
    }
    const bool sync = event.type == EventType::GroupMembersSync;
    if (!sync && link && event.version < link->version) {
        return skip(ctx, "stale", "version " + std::to_string(event.version) + " is older than the applied version " +
                                      std::to_string(link->version), std::nullopt);
    }
    // The delta itself was recorded by track_group_scope, before anything else.
    if (!transforms::has_target_account(link)) {
        // Recorded, not lost: the group's create (or link) sends the members it has by then.
        return skip(ctx, "group_not_provisioned",
                    "the membership is recorded; it is sent once the group is provisioned in the app", std::nullopt);
    }
    LinkState next = *link;
    if (!sync) next.version = std::max(next.version, event.version);
    return sync_members(app, next, ctx);
}

ProcessResult EventProcessor::sync_members(const AppRuntime& app, LinkState next, Context& ctx) {
    auto& store = *options_.membership;
    const std::string& group = ctx.out.object_id;
    const std::string& path = app.profile.groups.mapping.resource_path;
    auto membership = store.load_membership(app.config.id, group);
    if (!membership) return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(membership.error().message), {}};
    std::vector<std::string> candidates;
    for (const auto& member : membership->members) {
        if (!membership->applied.contains(member)) candidates.push_back(member);
    }
    std::vector<std::pair<std::string, std::string>> removals;
    for (const auto& [member, target_id] : membership->applied) {
        if (!std::binary_search(membership->members.begin(), membership->members.end(), member)) {
            removals.emplace_back(member, target_id);
        }
    }
    auto links = store.load_user_links(app.config.id, candidates);
    if (!links) return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(links.error().message), {}};
    std::vector<std::pair<std::string, std::string>> additions;
    std::size_t pending = 0;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        const auto& member_link = (*links)[i];
        if (transforms::has_target_account(member_link)) {
            additions.emplace_back(candidates[i], member_link->scim_id);
        } else {
            ++pending;  // sent by the follow-up its own provisioning parks
            ctx.unresolved.push_back(candidates[i]);
        }
    }
    const std::string waiting =
        pending == 0 ? std::string() : count_phrase(pending, "member") + " not provisioned yet (sent once they are)";
    if (ctx.event != nullptr) {
        if (auto fatal = arm_reference_deadline(*ctx.event, ctx)) return std::move(*fatal);
    }
    ctx.out.scim_id = next.scim_id;
    if (additions.empty() && removals.empty()) {
        return skip(ctx, "no_change", waiting.empty() ? "the group already has its members in the app" : waiting, next);
    }
    const auto batch = static_cast<std::size_t>(std::max(1, app.config.member_batch));
    // Each PATCH is recorded once accepted: a retry or a restart sends only what is left.
    const auto apply = [&](const std::vector<std::pair<std::string, std::string>>& members,
                           bool add) -> std::optional<ProcessResult> {
        for (std::size_t first = 0; first < members.size(); first += batch) {
            const std::vector<std::pair<std::string, std::string>> chunk(
                members.begin() + static_cast<long>(first),
                members.begin() + static_cast<long>(std::min(members.size(), first + batch)));
            std::vector<std::string> ids;
            for (const auto& m : chunk) ids.push_back(m.second);
            const auto operations = transforms::membership_operations(add ? ids : std::vector<std::string>{},
                                                                      add ? std::vector<std::string>{} : ids, batch);
            const auto request = transforms::patch_request(path, next.scim_id, operations.front());
            const auto response = send(ctx, request);
            if (!succeeded(response)) {
                const auto verdict = judge(response, transforms::ScimOperation::Update);
                return fail(ctx, verdict, describe(request) + " failed: " + verdict.detail);
            }
            std::vector<std::string> sources;
            for (const auto& m : chunk) sources.push_back(m.first);
            auto recorded = add ? store.record_applied(app.config.id, group, chunk, {})
                                : store.record_applied(app.config.id, group, {}, sources);
            if (!recorded) {
                return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(recorded.error().message), {}};
            }
        }
        return std::nullopt;
    };
    if (auto failed = apply(additions, true)) return std::move(*failed);
    if (auto failed = apply(removals, false)) return std::move(*failed);
    ctx.out.action = Action::Update;
    ctx.out.status = OutcomeStatus::Applied;
    json added = json::array();
    json removed = json::array();
    for (const auto& m : additions) added.push_back(m.first);
    for (const auto& m : removals) removed.push_back(m.first);
    ctx.out.changes.push_back({"members", removed.empty() ? json(nullptr) : removed, added.empty() ? json(nullptr) : added});
    ctx.out.reason = "added " + count_phrase(additions.size(), "member") + ", removed " + std::to_string(removals.size()) +
                     (waiting.empty() ? std::string() : "; " + waiting);
    return finish(ctx, std::move(next), false);
}

ProcessResult EventProcessor::provision(const Event& event, const transforms::ObjectProfile& object,
                                        const std::optional<LinkState>& link, UserDecision decision,
                                        transforms::DecisionHooks hooks, Context& ctx) {
    const auto& mapping = object.mapping;
    const bool group = event.object_type == ObjectType::Group;
    LinkState next = link.value_or(LinkState{});
    next.version = std::max(next.version, event.version);
    std::string note = with_notes("", decision.notes);
    if (!note.empty()) note += "; ";

    if (transforms::has_target_account(link)) {
        auto plan = transforms::diff_attributes(mapping, decision.desired_update, link->applied);
        if (plan.empty()) {
            next.status = LinkStatus::Active;
            return skip(ctx, "no_change", note + "the account already has the desired attribute values", next);
        }
        // An update that sets active to false takes access away like an unassignment: the
        // threshold counts it, or stages the whole event (its other changes wait with it).
        const bool disables = transforms::disables_account(plan);
        if (disables) {
            ctx.out.scim_id = link->scim_id;
            if (auto held = guard_deletion(ctx, Action::Disable)) return std::move(*held);
        }
        const auto request = transforms::patch_request(mapping.resource_path, link->scim_id, plan.operations);
        const auto response = send(ctx, request);
        if (succeeded(response)) {
            // Entra logs an update that disables the account as a Disable (its other changes
            // are in the log entry's changes all the same).
            ctx.out.action = disables ? Action::Disable : Action::Update;
            ctx.out.status = OutcomeStatus::Applied;
            ctx.out.scim_id = link->scim_id;
            next.applied = transforms::applied_after(link->applied, plan);
            ctx.out.changes = std::move(plan.changes);
            ctx.out.reason = with_notes(ctx.out.reason, decision.notes);
            next.status = LinkStatus::Active;
            return finish(ctx, std::move(next), false);
        }
        const auto verdict = judge(response, transforms::ScimOperation::Update);
        if (verdict.disposition != transforms::Disposition::Gone) {
            return fail(ctx, verdict, describe(request) + " failed: " + verdict.detail);
        }
        // The linked account was deleted in the target behind our back: find or recreate it
        // instead of failing forever on a stale id (Entra's InvalidAnchor).
        note += "the linked account " + link->scim_id + " no longer existed in the target; ";
        next.scim_id.clear();
        next.applied = json::object();
        const bool creatable = transforms::prepare_create(decision, event, object, hooks);
        if (auto failed = lookup_failure(ctx.uniqueness, ctx.references, ctx.assignments)) {
            return fail(ctx, failed->first, note + failed->second);
        }
        if (!creatable) {
            if (decision.step == UserDecision::Step::Refuse) {
                return dead_letter(ctx, decision.code, note + decision.reason, "transform", std::nullopt);
            }
            return skip(ctx, decision.code, note + decision.reason, next);
        }
    }

    for (const auto& candidate : decision.match_candidates) {
        auto request = transforms::find_request(mapping.resource_path, candidate.mapping->target, candidate.value);
        // A group's members can be thousands: matching needs none of them.
        if (group) request.query.emplace_back("excludedAttributes", "members");
        const auto response = send(ctx, request);
        if (!succeeded(response)) {
            const auto verdict = judge(response, transforms::ScimOperation::Find);
            return fail(ctx, verdict, note + describe(request) + " failed: " + verdict.detail);
        }
        const auto list = transforms::parse_list_response(response.body);
        if (!list.valid) {
            return dead_letter(ctx, "ServiceIncompatible", describe(request) + ": " + list.error, "dispatch",
                               std::nullopt);
        }
        if (list.resources.size() > 1 || list.total_results > 1) {
            return dead_letter(ctx, "DuplicateTargetEntries",
                               count_phrase(static_cast<std::size_t>(std::max<std::int64_t>(
                                                list.total_results, static_cast<std::int64_t>(list.resources.size()))),
                                            "account") +
                                   " match " + transforms::eq_filter(candidate.mapping->target, candidate.value),
                               "dispatch", std::nullopt);
        }
        if (list.resources.size() == 1) {
            return adopt(object, event, list.resources[0], std::move(next), decision,
                         note + "matched an existing " + (group ? "group" : "account") + " by " +
                             candidate.mapping->target.to_string(),
                         ctx);
        }
    }

    if (!object.rules.create && group) {
        // The app only takes groups that exist (Genesys Cloud): creating it there is the
        // operator's part, so the event waits for it, retried like a failed call (then replayable
        // from the dead-letter queue), without counting against the app's health.
        transforms::FailureVerdict missing;
        missing.disposition = transforms::Disposition::Retry;
        missing.kind = transforms::FailureKind::Reference;
        missing.code = "GroupNotFoundInTarget";
        const auto* name = decision.match_candidates.empty() ? nullptr : &decision.match_candidates.front();
        missing.detail = "no group " +
                         (name != nullptr ? "with " + transforms::eq_filter(name->mapping->target, name->value) + " "
                                          : std::string()) +
                         "exists in the app, which does not create groups: create the group in the app first, with "
                         "the same name; this event is retried until it is there";
        return fail(ctx, missing, note + missing.detail);
    }
    if (!object.rules.create) {
        return dead_letter(ctx, "NotPermitted",
                           note + "no existing account matched and the app does not allow creating users",
                           "dispatch", std::nullopt);
    }
    const auto request =
        transforms::create_request(mapping.resource_path, transforms::build_resource(mapping, decision.desired_create));
    const auto response = send(ctx, request);
    if (succeeded(response)) {
        auto body = parse_json(response.body);
        if (!body || !body->is_object() || !body->contains("id") || !(*body)["id"].is_string()) {
            return dead_letter(ctx, "ServiceIncompatible",
                               "POST " + mapping.resource_path + " answered " + std::to_string(response.status) +
                                   " without a resource id",
                               "dispatch", std::nullopt);
        }
        if (auto refused = refuse_unsafe_id(ctx, (*body)["id"].get_ref<const std::string&>(),
                                            "POST " + mapping.resource_path + " answered the id of its new resource")) {
            return std::move(*refused);
        }
        ctx.out.action = Action::Create;
        ctx.out.status = OutcomeStatus::Applied;
        ctx.out.scim_id = (*body)["id"].get<std::string>();
        if (!note.empty()) ctx.out.reason = note + "created a new account";
        for (std::size_t row = 0; row < decision.desired_create.rows(); ++row) {
            if (decision.desired_create.has(row)) {
                ctx.out.changes.push_back({mapping.attributes[row].key, nullptr, decision.desired_create.value(row)});
            }
        }
        next.scim_id = ctx.out.scim_id;
        next.status = LinkStatus::Active;
        next.applied = decision.desired_create.to_json();
        return finish(ctx, std::move(next), false);
    }
    const auto verdict = judge(response, transforms::ScimOperation::Create);
    if (verdict.disposition == transforms::Disposition::Conflict && !decision.match_candidates.empty()) {
        // RFC 7644 §3.3: the account exists although the filter did not find it (a server
        // whose filter hides it, a concurrent create, or our own earlier POST whose answer was
        // lost). Look it up once more and link.
        const auto& candidate = decision.match_candidates.front();
        auto find = transforms::find_request(mapping.resource_path, candidate.mapping->target, candidate.value);
        if (group) find.query.emplace_back("excludedAttributes", "members");
        const auto found = send(ctx, find);
        if (!succeeded(found)) {
            const auto lookup = judge(found, transforms::ScimOperation::Find);
            return fail(ctx, lookup,
                        note + "POST answered 409 (" + verdict.detail + "); " + describe(find) + " failed: " +
                            lookup.detail);
        }
        const auto list = transforms::parse_list_response(found.body);
        if (list.valid && list.resources.size() == 1) {
            return adopt(object, event, list.resources[0], std::move(next), decision,
                         note + "POST answered 409 (" + verdict.detail + "); linked the existing " +
                             (group ? "group" : "account") + " found by " +
                             candidate.mapping->target.to_string(),
                         ctx);
        }
    }
    return fail(ctx, verdict, note + describe(request) + " failed: " + verdict.detail);
}

std::optional<ProcessResult> EventProcessor::refuse_unsafe_id(Context& ctx, const std::string& id,
                                                              const std::string& where) {
    const auto why = transforms::unsafe_scim_id(id);
    if (!why) return std::nullopt;
    // The id is the server's text: quoted, and cut short, it cannot forge a line of the reason.
    auto quoted = json(id.substr(0, 64)).dump();
    if (id.size() > 64) quoted += "...";
    return dead_letter(ctx, "ServiceIncompatible",
                       "app " + ctx.out.app + ": " + where + " " + quoted + ", which is not used: " + *why +
                           " (an id goes into the paths of later requests, with the app's token); nothing is linked",
                       "dispatch", std::nullopt);
}

ProcessResult EventProcessor::adopt(const transforms::ObjectProfile& object, const Event& event, const json& resource,
                                    LinkState next, const UserDecision& decision, const std::string& how,
                                    Context& ctx) {
    const auto& mapping = object.mapping;
    const std::string app_id = event.app;
    const auto id = resource.find("id");
    if (id == resource.end() || !id->is_string() || id->get_ref<const std::string&>().empty()) {
        return dead_letter(ctx, "ServiceIncompatible", "a matched resource has no id", "dispatch", std::nullopt);
    }
    if (auto refused = refuse_unsafe_id(ctx, id->get_ref<const std::string&>(), how + ", answered with its id")) {
        return std::move(*refused);
    }
    // One account, one source object: two directory users with the same userName must not
    // take turns overwriting one account (Entra's DuplicateSourceEntries).
    auto owner = store_.load_owner(app_id, event.object_type, id->get<std::string>());
    if (!owner) return ProcessResult{ProcessResult::Status::Fatal, "state store: " + owner.error().message, {}};
    if (*owner && **owner != event.object_id) {
        return dead_letter(ctx, "DuplicateSourceEntries",
                           how + ", but that account (" + id->get<std::string>() + ") is already linked to source " +
                               std::string(to_string(event.object_type)) + " " + **owner,
                           "dispatch", std::nullopt);
    }
    next.scim_id = id->get<std::string>();
    next.status = LinkStatus::Active;
    ctx.out.scim_id = next.scim_id;
    const json applied = transforms::extract_attributes(mapping, resource).to_json();
    auto plan = transforms::diff_attributes(mapping, decision.desired_update, applied);
    if (plan.empty()) {
        ctx.out.action = Action::Link;
        ctx.out.status = OutcomeStatus::Applied;
        ctx.out.reason = how + "; it already had the desired values";
        next.applied = applied;
        return finish(ctx, std::move(next), false);
    }
    // The matched account is live in the target: setting it inactive takes access away as an
    // update of a linked one does (see provision), and is counted or staged alike.
    const bool disables = transforms::disables_account(plan);
    if (disables) {
        if (auto held = guard_deletion(ctx, Action::Disable)) return std::move(*held);
    }
    const auto request = transforms::patch_request(mapping.resource_path, next.scim_id, plan.operations);
    const auto response = send(ctx, request);
    if (!succeeded(response)) {
        auto verdict = judge(response, transforms::ScimOperation::Update);
        if (verdict.disposition == transforms::Disposition::Gone) {
            // Found a moment ago and gone now: matching again on the next attempt sorts it out.
            verdict.disposition = transforms::Disposition::Retry;
            verdict.kind = transforms::FailureKind::Transient;
        }
        // A dead letter keeps the link: a replay PATCHes the known account instead of matching
        // again. A retry matches again anyway.
        next.applied = applied;
        return fail(ctx, verdict, how + "; " + describe(request) + " failed: " + verdict.detail, std::move(next));
    }
    ctx.out.action = disables ? Action::Disable : Action::Update;
    ctx.out.status = OutcomeStatus::Applied;
    ctx.out.reason = with_notes(how + "; updated " + count_phrase(plan.changes.size(), "attribute"), {ctx.out.reason});
    next.applied = transforms::applied_after(applied, plan);
    ctx.out.changes = std::move(plan.changes);
    return finish(ctx, std::move(next), false);
}

ProcessResult EventProcessor::disable(const LinkState& link, LinkState next, LinkStatus after, Context& ctx) {
    ctx.out.scim_id = link.scim_id;
    const auto active = link.applied.find("active");
    const bool inactive = active != link.applied.end() && *active == json(false);
    if (after == LinkStatus::SoftDeleted) {
        // A user's deletion: the account is disabled now (unless it is already) and deleted for
        // good once the app's grace period ends, unless the user comes back before.
        if (!inactive) {
            if (auto failed = send_disable(link, next, ctx)) return std::move(*failed);
        }
        return schedule_hard_delete(link, std::move(next), inactive, ctx);
    }
    if (inactive) {
        next.status = after;
        const std::string why = ctx.out.reason;
        return skip(ctx, "no_change",
                    (why.empty() ? std::string() : why + "; ") + "the account is already inactive in the target",
                    std::move(next));
    }
    if (auto failed = send_disable(link, next, ctx)) return std::move(*failed);
    next.status = after;
    return finish(ctx, std::move(next), false);
}

std::optional<ProcessResult> EventProcessor::send_disable(const LinkState& link, LinkState& next, Context& ctx) {
    if (auto held = guard_deletion(ctx, Action::Disable)) return std::move(*held);
    const auto request = transforms::patch_request("/Users", link.scim_id, transforms::disable_operations());
    const auto response = send(ctx, request);
    if (succeeded(response)) {
        const auto active = link.applied.find("active");
        ctx.out.action = Action::Disable;
        ctx.out.status = OutcomeStatus::Applied;
        ctx.out.changes.push_back({"active", active == link.applied.end() ? json(nullptr) : *active, false});
        next.applied["active"] = false;
        return std::nullopt;
    }
    const auto verdict = judge(response, transforms::ScimOperation::Disable);
    if (verdict.disposition == transforms::Disposition::Gone) {
        next.status = LinkStatus::Deleted;
        next.scim_id.clear();
        next.applied = json::object();
        return skip(ctx, "target_missing", "the account " + link.scim_id + " no longer exists in the target",
                    std::move(next));
    }
    return fail(ctx, verdict, describe(request) + " failed: " + verdict.detail);
}

ProcessResult EventProcessor::schedule_hard_delete(const LinkState& link, LinkState next, bool was_inactive,
                                                   Context& ctx) {
    const int days = ctx.app->config.hard_delete_after_days;
    const std::int64_t due = clock_.wall_ms() + std::int64_t{days} * 24 * 3600 * 1000;
    // Before the outcome: a crash in between schedules it again on the redelivery (the same
    // user's schedule is replaced, not doubled).
    auto scheduled = store_.schedule_hard_delete(ctx.out.app, ctx.out.object_id, due);
    if (!scheduled) {
        const std::string detail = redact(scheduled.error().message);
        return fail(ctx, store_unavailable(detail), "scheduling the hard delete failed: " + detail);
    }
    ctx.out.action = Action::ScheduledDelete;
    ctx.out.status = OutcomeStatus::Applied;
    ctx.out.scim_id = link.scim_id;
    ctx.out.reason = std::string(was_inactive ? "the account was inactive already" : "the account is disabled") +
                     "; it is deleted for good on " + utc_timestamp(due) + " (hard_delete_after_days: " +
                     std::to_string(days) + ") unless the user is assigned or updated before; provbridge deletes "
                     "status --app " + ctx.out.app + " lists it";
    next.status = LinkStatus::SoftDeleted;
    next.applied["active"] = false;
    return finish(ctx, std::move(next), false);
}

ProcessResult EventProcessor::remove(const std::string& resource_path, const LinkState& link, LinkState next,
                                     Context& ctx) {
    ctx.out.scim_id = link.scim_id;
    if (auto held = guard_deletion(ctx, Action::Delete)) return std::move(*held);
    const auto request = transforms::delete_request(resource_path, link.scim_id);
    const auto response = send(ctx, request);
    const bool deleted = succeeded(response);
    const auto verdict = deleted ? transforms::FailureVerdict{} : judge(response, transforms::ScimOperation::Delete);
    if (deleted || verdict.disposition == transforms::Disposition::Gone) {
        ctx.out.action = Action::Delete;
        ctx.out.status = OutcomeStatus::Applied;
        if (!deleted) ctx.out.reason = "the account was already absent from the target";
        next.status = LinkStatus::Deleted;
        next.scim_id.clear();
        next.applied = json::object();
        return finish(ctx, std::move(next), false);
    }
    return fail(ctx, verdict, describe(request) + " failed: " + verdict.detail);
}

ProcessResult EventProcessor::skip(Context& ctx, std::string code, std::string reason,
                                   std::optional<LinkState> link) {
    ctx.out.status = OutcomeStatus::Skipped;
    ctx.out.action = Action::None;
    ctx.out.code = std::move(code);
    ctx.out.reason = std::move(reason);
    return finish(ctx, std::move(link), false);
}

namespace {

ParkedEvent parked_event(const InboundRecord& record, const Event& event) {
    ParkedEvent parked;
    parked.record = record;
    parked.app = event.app;
    parked.object_type = event.object_type;
    parked.object_id = event.object_id;
    parked.source = event.source;
    parked.event_id = event.id;
    return parked;
}

std::string delay_phrase(std::int64_t ms) {
    if (ms < 1000) return std::to_string(ms) + " ms";
    if (ms < 120000) return std::to_string((ms + 500) / 1000) + " s";
    return std::to_string((ms + 30000) / 60000) + " min";
}

}  // namespace

ProcessResult EventProcessor::hold(const Event& event, Context& ctx, std::string_view why) {
    const std::int64_t now = clock_.wall_ms();
    if (ctx.head != nullptr) {
        // Claimed just before the quarantine: back into its place, due at once, to be claimed
        // again once the quarantine is lifted.
        auto held = store_.reschedule(ctx.head->lease, ctx.head->event, now);
        if (!held) return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(held.error().message), {}};
        if (*held == LeaseStatus::Lost) return ProcessResult{ProcessResult::Status::LeaseLost, {}, std::nullopt};
    } else {
        auto parked = parked_event(ctx.record, event);
        parked.parked_at_ms = now;
        auto status = store_.park(parked, ParkMode::Anywhere, now);
        if (!status) {
            return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(status.error().message), {}};
        }
        if (*status == ParkStatus::AlreadyParked) {
            (void)store_.count_duplicate(event.app);
            return ProcessResult{ProcessResult::Status::Duplicate, {}, std::nullopt};
        }
    }
    if (log_) {
        log_->debug("event {} for {}/{}/{} waits: {}", event.id, event.app, to_string(event.object_type),
                    event.object_id, why);
    }
    ProcessResult result{ProcessResult::Status::Parked, {}, std::nullopt};
    result.due_ms = now;
    return result;
}

std::optional<ProcessResult> EventProcessor::guard_deletion(Context& ctx, Action action) {
    if (ctx.app == nullptr || !ctx.app->config.deletion_threshold.enabled()) return std::nullopt;
    const DeletionMark mark = ctx.head != nullptr ? ctx.head->event.deletion.mark : DeletionMark::None;
    if (mark == DeletionMark::Counted) return std::nullopt;
    const bool allowed = mark == DeletionMark::Allowed;
    auto window = store_.admit_deletion(ctx.out.app, clock_.wall_ms(), ctx.app->config.deletion_threshold, allowed);
    if (!window) {
        // Not knowing the count is neither "admitted" (it could pass the threshold) nor "staged"
        // (it would wait for an operator for nothing): the store failed, the event is retried.
        const std::string detail = redact(window.error().message);
        return fail(ctx, store_unavailable(detail), "asking the deletion threshold failed: " + detail);
    }
    if (window->admission == DeletionAdmission::Staged) return stage(ctx, action, *window);
    ctx.deletion_counted = true;
    if (allowed) {
        ctx.out.reason = with_notes(ctx.out.reason, {"staged by the deletion threshold, then allowed by an operator"});
    }
    return std::nullopt;
}

ProcessResult EventProcessor::stage(Context& ctx, Action action, const DeletionWindow& window) {
    const std::int64_t now = clock_.wall_ms();
    ParkedEvent parked = ctx.head != nullptr ? ctx.head->event : parked_event(ctx.record, *ctx.event);
    if (parked.parked_at_ms == 0) parked.parked_at_ms = now;
    parked.deletion = DeletionHold{DeletionMark::Staged, action, now};
    const auto why = transforms::staged_reason(ctx.app->config.deletion_threshold, window);
    // The log shows the staging when it happens (Entra's StagedDelete); it is not the event's
    // outcome, which comes when an operator allows it (and it runs) or discards it.
    OutcomeRecord logged = ctx.out;
    logged.status = OutcomeStatus::Skipped;
    logged.action = action;
    logged.code = "deletion_staged";
    logged.reason = "the " + std::string(to_string(action)) + " was staged by the deletion threshold, not sent: " + why +
                    "; it waits for an operator (provbridge deletes allow|discard --app " + ctx.out.app + ")";
    logged.scim_requests = 0;
    logged.http_status = 0;
    logged.finished_at_ms = now;
    if (ctx.head != nullptr) {
        auto staged = store_.stage(ctx.head->lease, parked, now, logged);
        if (!staged) {
            return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(staged.error().message), {}};
        }
        if (*staged == LeaseStatus::Lost) return ProcessResult{ProcessResult::Status::LeaseLost, {}, std::nullopt};
    } else {
        auto status = store_.park_staged(parked, now, logged);
        if (!status) {
            return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(status.error().message), {}};
        }
        if (*status == ParkStatus::AlreadyParked) {
            (void)store_.count_duplicate(ctx.out.app);
            return ProcessResult{ProcessResult::Status::Duplicate, {}, std::nullopt};
        }
    }
    if (log_) {
        log_->warn("event {} for {}/{}/{}: {} staged, not sent: {}; see `provbridge deletes status --app {}`, then "
                   "allow or discard it",
                   ctx.out.event_id, ctx.out.app, ctx.out.object_type, ctx.out.object_id, to_string(action), why,
                   ctx.out.app);
    }
    // Like a parked retry: durable, so the offset may be committed; its outcome comes when an
    // operator allows it (and it runs) or discards it.
    return ProcessResult{ProcessResult::Status::Parked, {}, std::nullopt};
}

std::optional<ProcessResult> EventProcessor::count_operation(Context& ctx, bool failed) {
    if (options_.operations == nullptr || options_.quarantine == nullptr || ctx.out.scim_requests == 0) {
        return std::nullopt;
    }
    const auto& policy = options_.quarantine->policy();
    auto window = options_.operations->record_operation(ctx.out.app, failed, clock_.wall_ms(), policy.window);
    if (!window) {
        return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(window.error().message), {}};
    }
    if (failed && transforms::failure_ratio_exceeded(*window, policy) && !options_.quarantine->held(ctx.out.app)) {
        auto entered =
            options_.quarantine->enter(ctx.out.app, "FailureRate", transforms::failure_ratio_reason(*window, policy));
        if (!entered) {
            return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(entered.error().message), {}};
        }
    }
    return std::nullopt;
}

std::optional<ProcessResult> EventProcessor::park_behind(const Event& event, Context& ctx) {
    auto parked = parked_event(ctx.record, event);
    parked.parked_at_ms = clock_.wall_ms();
    auto status = store_.park(parked, ParkMode::Behind, 0);
    if (!status) {
        return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(status.error().message), {}};
    }
    switch (*status) {
        case ParkStatus::NotQueued: return std::nullopt;
        case ParkStatus::AlreadyParked:
            (void)store_.count_duplicate(event.app);
            return ProcessResult{ProcessResult::Status::Duplicate, {}, std::nullopt};
        case ParkStatus::Parked: break;
    }
    if (log_) {
        log_->debug("event {} for {}/{}/{} waits behind earlier events of its object", event.id, event.app,
                    to_string(event.object_type), event.object_id);
    }
    return ProcessResult{ProcessResult::Status::Parked, {}, std::nullopt};
}

ProcessResult EventProcessor::finish_recorded_head(const OutcomeRecord& recorded, Context& ctx) {
    // The head's event has its outcome already (its earlier run was recorded but the head not
    // yet removed, or it also arrived by another way): remove the head under the lease.
    Commit commit{recorded, std::nullopt, false, ctx.head->lease, std::nullopt, {}};
    auto committed = store_.commit(commit);
    if (!committed) {
        return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(committed.error().message), {}};
    }
    if (*committed == CommitStatus::LeaseLost) return ProcessResult{ProcessResult::Status::LeaseLost, {}, std::nullopt};
    return ProcessResult{ProcessResult::Status::Duplicate, {}, recorded};
}

transforms::FailureVerdict EventProcessor::judge(const ScimResponse& response,
                                                 transforms::ScimOperation operation) const {
    auto verdict = transforms::failure_policy(response, operation, clock_.wall_ms());
    verdict.detail = redact(std::move(verdict.detail));
    return verdict;
}

ProcessResult EventProcessor::fail(Context& ctx, const transforms::FailureVerdict& verdict, std::string what,
                                   std::optional<LinkState> link) {
    ctx.out.error_class = std::string(transforms::to_string(verdict.kind));
    ctx.out.scim_type = verdict.scim_type;
    switch (verdict.disposition) {
        case transforms::Disposition::Quarantine:
            // Refused credentials are the app's state, not the event's: every event of the app
            // waits until a probe gets through; this one waits for its retry like any other.
            if (options_.quarantine != nullptr) {
                auto entered = options_.quarantine->enter(ctx.out.app, verdict.code, redact(what));
                if (!entered) {
                    return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(entered.error().message),
                                         {}};
                }
            }
            return retry_later(ctx, verdict, std::move(what));
        case transforms::Disposition::Retry:
            if (verdict.kind != transforms::FailureKind::Reference) {
                if (auto fatal = count_operation(ctx, true)) return std::move(*fatal);
            }
            return retry_later(ctx, verdict, std::move(what));
        case transforms::Disposition::Conflict:
        case transforms::Disposition::Gone:
        case transforms::Disposition::DeadLetter:
            break;
    }
    if (ctx.out.first_failed_at_ms == 0) ctx.out.first_failed_at_ms = clock_.wall_ms();
    ctx.out.trail.push_back(AttemptFailure{clock_.wall_ms(), verdict.code, verdict.http_status, redact(what)});
    if (verdict.kind != transforms::FailureKind::Reference) {
        if (auto fatal = count_operation(ctx, true)) return std::move(*fatal);
    }
    return dead_letter(ctx, verdict.code, std::move(what), "dispatch", std::move(link));
}

ProcessResult EventProcessor::retry_later(Context& ctx, const transforms::FailureVerdict& verdict, std::string what) {
    const std::int64_t now = clock_.wall_ms();
    what = redact(std::move(what));
    ParkedEvent parked = ctx.head != nullptr ? ctx.head->event : parked_event(ctx.record, *ctx.event);
    parked.attempts = ctx.out.attempts;
    if (ctx.deletion_counted) parked.deletion.mark = DeletionMark::Counted;
    if (parked.parked_at_ms == 0) parked.parked_at_ms = now;
    if (parked.first_failure_ms == 0) parked.first_failure_ms = now;
    parked.trail.push_back(AttemptFailure{now, verdict.code, verdict.http_status, what});
    const auto plan =
        transforms::plan_retry(options_.retry, parked.attempts, parked.first_failure_ms, now, verdict.retry_after, random_);
    if (plan.give_up) {
        ctx.out.trail = parked.trail;
        ctx.out.first_failed_at_ms = parked.first_failure_ms;
        return dead_letter(ctx, verdict.code, what + "; " + plan.why_given_up, "dispatch", std::nullopt);
    }
    if (ctx.head != nullptr) {
        auto held = store_.reschedule(ctx.head->lease, parked, plan.due_ms);
        if (!held) return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(held.error().message), {}};
        if (*held == LeaseStatus::Lost) return ProcessResult{ProcessResult::Status::LeaseLost, {}, std::nullopt};
    } else {
        auto status = store_.park(parked, ParkMode::Anywhere, plan.due_ms);
        if (!status) {
            return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(status.error().message), {}};
        }
        if (*status == ParkStatus::AlreadyParked) {
            (void)store_.count_duplicate(ctx.out.app);
            return ProcessResult{ProcessResult::Status::Duplicate, {}, std::nullopt};
        }
    }
    if (log_) {
        log_->info("event {} for {}/{}/{}: {} ({}); attempt {} failed, next in {}", ctx.out.event_id, ctx.out.app,
                   ctx.out.object_type, ctx.out.object_id, verdict.code, what, parked.attempts,
                   delay_phrase(plan.due_ms - now));
    }
    ProcessResult result{ProcessResult::Status::Parked, {}, std::nullopt};
    result.due_ms = plan.due_ms;
    return result;
}

ProcessResult EventProcessor::dead_letter(Context& ctx, std::string code, std::string reason,
                                          std::string stage, std::optional<LinkState> link) {
    ctx.out.status = OutcomeStatus::DeadLettered;
    ctx.out.code = std::move(code);
    ctx.out.reason = redact(std::move(reason));
    if (ctx.out.error_class.empty()) ctx.out.error_class = "permanent";
    DeadLetterReason why;
    why.code = ctx.out.code;
    why.reason = ctx.out.reason;
    why.stage = std::move(stage);
    why.attempts = ctx.out.attempts;
    why.failed_at_ms = clock_.wall_ms();
    why.app = ctx.out.app;
    why.error_class = ctx.out.error_class;
    why.http_status = ctx.out.http_status;
    why.scim_type = ctx.out.scim_type;
    why.first_failed_at_ms = ctx.out.first_failed_at_ms;
    why.trail = ctx.out.trail;
    auto published = dead_letters_.publish(ctx.record, why);
    if (!published) {
        return ProcessResult{ProcessResult::Status::Fatal, "dead-letter topic: " + redact(published.error().message), {}};
    }
    if (log_) {
        if (ctx.out.event_id.empty()) {
            log_->warn("dead-lettered the record at {}[{}]@{} ({}): {}", ctx.out.topic, ctx.out.partition,
                       ctx.out.offset, ctx.out.code, ctx.out.reason);
        } else {
            log_->warn("dead-lettered event {} for {}/{}/{} ({}): {}", ctx.out.event_id, ctx.out.app,
                       ctx.out.object_type, ctx.out.object_id, ctx.out.code, ctx.out.reason);
        }
    }
    return finish(ctx, std::move(link), true);
}

ProcessResult EventProcessor::finish(Context& ctx, std::optional<LinkState> link, bool dead_letter) {
    if (!dead_letter && ctx.out.status != OutcomeStatus::DeadLettered) {
        // A reference failure is never the app's: what was sent counts as the success it was.
        if (auto fatal = count_operation(ctx, false)) return std::move(*fatal);
        mark_unresolved(ctx);
    }
    const bool restored = ctx.soft_deleted_before && link && link->status != LinkStatus::SoftDeleted &&
                          link->status != LinkStatus::Deleted && ctx.out.status != OutcomeStatus::DeadLettered;
    if (restored) {
        // Before the commit: a crash in between leaves the schedule cancelled and the link as it
        // was, and the redelivery decides the same again (a due hard delete meanwhile finds the
        // link still SoftDeleted only if the restore never committed).
        auto cancelled = store_.cancel_hard_delete(ctx.out.app, ctx.out.object_id);
        if (!cancelled) {
            return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(cancelled.error().message), {}};
        }
        ctx.notes.push_back("the hard delete scheduled after the user's deletion is cancelled: the account stays");
    }
    ctx.out.reason = with_notes(std::move(ctx.out.reason), ctx.notes);
    ctx.out.finished_at_ms = clock_.wall_ms();
    ctx.out.duration_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_.steady_now() - ctx.started).count();
    redact_outcome(ctx.out, link);
    if (link && ctx.event != nullptr && ctx.out.status != OutcomeStatus::DeadLettered) {
        transforms::record_assignment(*ctx.event, *link);
    }
    const std::string account = transforms::has_target_account(link) ? link->scim_id : std::string();
    const bool account_changed = !dead_letter && ctx.event != nullptr && link.has_value() &&
                                 ctx.out.status != OutcomeStatus::DeadLettered && account != ctx.previous_account;
    Commit commit{ctx.out, std::move(link), dead_letter,
                  ctx.head != nullptr ? std::optional<HeadLease>(ctx.head->lease) : std::nullopt,
                  dead_letter ? std::optional<InboundRecord>(ctx.record) : std::nullopt, ctx.replay_of};
    auto committed = store_.commit(commit);
    if (!committed) {
        return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(committed.error().message), {}};
    }
    if (*committed == CommitStatus::LeaseLost) {
        if (log_) {
            log_->warn("event {} for {}/{}/{}: the retry's lease ran out and another worker took it over; this "
                       "attempt's outcome is not recorded",
                       ctx.out.event_id, ctx.out.app, ctx.out.object_type, ctx.out.object_id);
        }
        return ProcessResult{ProcessResult::Status::LeaseLost, {}, std::nullopt};
    }
    if (*committed == CommitStatus::AlreadyRecorded) {
        // Another delivery of this event recorded its outcome between our load and our commit
        // (a rebalance handed the partition over mid-event): that outcome stands, ours is not one.
        (void)store_.count_duplicate(ctx.out.app);
        return ProcessResult{ProcessResult::Status::Duplicate, {}, std::move(ctx.out)};
    }
    if (*committed == CommitStatus::RecordedLinkKept && log_) {
        log_->warn("event {} for {}/{}/{}: a newer version of the object was recorded meanwhile; its link was kept",
                   ctx.out.event_id, ctx.out.app, ctx.out.object_type, ctx.out.object_id);
    }
    // After the commit, so that the follow-up finds the account; a crash in between leaves the
    // offset uncommitted, and the redelivery parks them (see the duplicate path).
    if (account_changed) {
        if (auto fatal = park_follow_ups(*ctx.event, true, !account.empty())) return std::move(*fatal);
    }
    // A group event may have changed this user's access between the decision's read and the
    // commit; its reevaluation could then have run before this commit and decided on what this
    // event replaced. Reading again after the commit closes that gap: either this read sees the
    // change, or the group event's reevaluation runs after the commit.
    if (ctx.assignments != nullptr && ctx.assignments->read() && options_.membership != nullptr) {
        auto again = options_.membership->group_grants(ctx.out.app, ctx.out.object_id);
        if (!again) return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(again.error().message), {}};
        if (*again != *ctx.assignments->read()) {
            if (auto fatal = park_reevaluations(*ctx.event, {ctx.out.object_id})) return std::move(*fatal);
        }
    }
    return ProcessResult{ProcessResult::Status::Recorded, {}, std::move(ctx.out)};
}

std::string EventProcessor::redact(std::string text) const {
    return options_.redactor == nullptr ? text : options_.redactor->redact(std::move(text));
}

void EventProcessor::redact_json(json& value) const {
    if (value.is_string()) {
        value = options_.redactor->redact(value.get<std::string>());
    } else if (value.is_structured()) {
        for (auto& element : value) redact_json(element);
    }
}

void EventProcessor::redact_outcome(OutcomeRecord& out, std::optional<LinkState>& link) const {
    if (options_.redactor == nullptr || options_.redactor->empty()) return;
    out.reason = options_.redactor->redact(std::move(out.reason));
    // Old values and the link's applied values can come from the target's own resource (an
    // adopted account), nested (emails, names) as often as not.
    for (auto& change : out.changes) {
        redact_json(change.old_value);
        redact_json(change.new_value);
    }
    if (link) redact_json(link->applied);
}

ScimResponse EventProcessor::send(Context& ctx, const ScimRequest& request) {
    if (ctx.limiter != nullptr) {
        const auto turn = ctx.limiter->reserve();
        if (turn > clock_.steady_now()) clock_.wait_until(turn);
    }
    ScimResponse response = ctx.client->send(request);
    if (ctx.limiter != nullptr && response.transport == TransportStatus::Ok && response.status == 429) {
        ctx.limiter->throttled();
    }
    ++ctx.out.scim_requests;
    ctx.out.http_status = response.status;
    ctx.out.answered_at_ms = clock_.wall_ms();
    return response;
}

}  // namespace provbridge::consumers
