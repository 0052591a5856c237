#include "provbridge/consumers/event_processor.hpp"

#include <algorithm>
#include <functional>

#include "provbridge/core/json_util.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/transforms/scim_protocol.hpp"

namespace provbridge::consumers {
namespace {

using nlohmann::json;
using transforms::ResponseClass;
using transforms::UserDecision;

std::string describe(const ScimRequest& request) {
    std::string text = std::string(to_string(request.method)) + " " + request.path;
    for (const auto& [k, v] : request.query) text += "?" + k + "=" + v;
    return text;
}

std::string count_phrase(std::size_t n, const char* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

std::string with_notes(std::string reason, const std::vector<std::string>& notes) {
    for (const auto& n : notes) reason += (reason.empty() ? "" : "; ") + n;
    return reason;
}

// Manager and other references: the referenced object's link gives its id in the target.
class StoreReferences final : public transforms::ReferenceResolver {
public:
    StoreReferences(StateStore& store, const std::string& app) : store_(store), app_(app) {}
    std::optional<std::string> target_id(ObjectType type, const std::string& source_id) override {
        auto link = store_.load_link(app_, type, source_id);
        if (!link || !*link || (*link)->scim_id.empty() || (*link)->status == LinkStatus::Deleted) {
            return std::nullopt;
        }
        return (*link)->scim_id;
    }

private:
    StateStore& store_;
    const std::string& app_;
};

// SelectUniqueValue asks the target itself whether a candidate is in use, through the
// processor's own send so the lookups count in the outcome like every other request.
class TargetUniqueness final : public transforms::UniqueValueLookup {
public:
    using Send = std::function<ScimResponse(const ScimRequest&)>;
    TargetUniqueness(Send send, const std::string& resource_path) : send_(std::move(send)), path_(resource_path) {}
    bool taken(std::string_view target_path, const json& value) override {
        // A candidate no identifier may hold is refused after evaluation (check_identifiers);
        // it must not reach the target as a filter first.
        if (value.is_string() && has_control_character(value.get_ref<const std::string&>())) return false;
        auto path = transforms::parse_scim_path(target_path);
        if (!path) return true;
        const auto response = send_(transforms::find_request(path_, *path, value));
        if (transforms::classify(response).kind != ResponseClass::Success) return true;  // unknown: don't risk it
        const auto list = transforms::parse_list_response(response.body);
        return !list.valid || list.total_results > 0 || !list.resources.empty();
    }

private:
    Send send_;
    const std::string& path_;
};

}  // namespace

struct EventProcessor::Context {
    const InboundRecord& record;
    OutcomeRecord out;
    std::chrono::steady_clock::time_point started;
    ScimClient* client = nullptr;
};

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
      options_(options) {}

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

EventProcessor::Context EventProcessor::start(const InboundRecord& record) const {
    Context ctx{record, {}, clock_.steady_now(), nullptr};
    ctx.out.topic = record.topic;
    ctx.out.partition = record.partition;
    ctx.out.offset = record.offset;
    ctx.out.produced_at_ms = record.timestamp_ms;
    ctx.out.started_at_ms = clock_.wall_ms();
    return ctx;
}

ProcessResult EventProcessor::process(const InboundRecord& record) noexcept {
    try {
        return process_record(record);
    } catch (const std::exception& e) {
        return dead_letter_internal(record, e.what());
    } catch (...) {
        return dead_letter_internal(record, "unknown exception");
    }
}

ProcessResult EventProcessor::dead_letter_internal(const InboundRecord& record, const std::string& what) noexcept {
    try {
        Context ctx = start(record);
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

ProcessResult EventProcessor::process_record(const InboundRecord& record) {
    Context ctx = start(record);

    auto parsed = parse_record(record, options_.limits);
    if (!parsed) {
        route_unparsed(ctx);
        return process_invalid(ctx.out.app, "InvalidEvent", "malformed event: " + parsed.error().message, nullptr,
                               "parse", ctx);
    }
    const Event& event = *parsed;
    describe_event(ctx.out, event);

    const AppRuntime* app = find_app(event.app);
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
        // A redelivery or a re-produced event: its one outcome exists already.
        (void)store_.count_duplicate(event.app);
        return ProcessResult{ProcessResult::Status::Duplicate, {}, prior->recorded};
    }
    const auto client = clients_.find(event.app);
    ctx.client = client == clients_.end() ? nullptr : client->second;
    const auto& object = event.object_type == ObjectType::User ? app->profile.users : app->profile.groups;
    if (!object.rules.enabled) {
        return skip(ctx, "not_supported_by_app", object.rules.disabled_reason, std::nullopt);
    }
    if (event.object_type == ObjectType::User) {
        return process_user(event, *app, prior->link, ctx);
    }
    return skip(ctx, "unsupported",
                "group provisioning is not available in this version; the event is recorded and "
                "can be replayed once it is",
                std::nullopt);
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
        (void)store_.count_duplicate(ctx.out.app);
        return ProcessResult{ProcessResult::Status::Duplicate, {}, **prior};
    }
    return dead_letter(ctx, std::move(code), std::move(reason), std::move(stage), std::nullopt);
}

ProcessResult EventProcessor::process_user(const Event& event, const AppRuntime& app,
                                           const std::optional<LinkState>& link, Context& ctx) {
    if (ctx.client == nullptr) {
        return dead_letter(ctx, "NotConfigured", "no SCIM client for app " + app.config.id, "dispatch", std::nullopt);
    }
    StoreReferences references(store_, app.config.id);
    TargetUniqueness uniqueness([this, &ctx](const ScimRequest& request) { return send(ctx, request); },
                                app.profile.users.mapping.resource_path);
    const transforms::DecisionHooks hooks{&uniqueness, &references};
    UserDecision decision = transforms::decide_user(event, link, app.rules, app.profile.users, hooks);
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
            return provision(event, app, link, std::move(decision), hooks, ctx);
        case UserDecision::Step::Disable:
            if (!decision.reason.empty()) ctx.out.reason = decision.reason;
            return disable(*link, std::move(next), decision.status_after, ctx);
        case UserDecision::Step::Delete:
            return remove(*link, std::move(next), ctx);
        case UserDecision::Step::Skip:
        case UserDecision::Step::Refuse:
            break;
    }
    return skip(ctx, decision.code, decision.reason, decision.link_on_skip);
}

ProcessResult EventProcessor::provision(const Event& event, const AppRuntime& app,
                                        const std::optional<LinkState>& link, UserDecision decision,
                                        transforms::DecisionHooks hooks, Context& ctx) {
    const auto& mapping = app.profile.users.mapping;
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
        const auto request = transforms::patch_request(mapping.resource_path, link->scim_id, plan.operations);
        const auto response = send(ctx, request);
        const auto verdict = transforms::classify(response);
        if (verdict.kind == ResponseClass::Success) {
            ctx.out.action = Action::Update;
            ctx.out.status = OutcomeStatus::Applied;
            ctx.out.scim_id = link->scim_id;
            next.applied = transforms::applied_after(link->applied, plan);
            ctx.out.changes = std::move(plan.changes);
            if (!decision.notes.empty()) ctx.out.reason = with_notes("", decision.notes);
            next.status = LinkStatus::Active;
            return finish(ctx, std::move(next), false);
        }
        if (verdict.kind != ResponseClass::NotFound) {
            return dead_letter(ctx, verdict.code, describe(request) + " failed: " + verdict.detail, "dispatch",
                               std::nullopt);
        }
        // The linked account was deleted in the target behind our back: find or recreate it
        // instead of failing forever on a stale id (Entra's InvalidAnchor).
        note += "the linked account " + link->scim_id + " no longer existed in the target; ";
        next.scim_id.clear();
        next.applied = json::object();
        if (!transforms::prepare_create(decision, event, app.profile.users, hooks)) {
            if (decision.step == UserDecision::Step::Refuse) {
                return dead_letter(ctx, decision.code, note + decision.reason, "transform", std::nullopt);
            }
            return skip(ctx, decision.code, note + decision.reason, next);
        }
    }

    for (const auto& candidate : decision.match_candidates) {
        const auto request = transforms::find_request(mapping.resource_path, candidate.mapping->target, candidate.value);
        const auto response = send(ctx, request);
        const auto verdict = transforms::classify(response);
        if (verdict.kind != ResponseClass::Success) {
            return dead_letter(ctx, verdict.code, describe(request) + " failed: " + verdict.detail, "dispatch",
                               std::nullopt);
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
            return adopt(app, event, list.resources[0], std::move(next), decision,
                         note + "matched an existing account by " + candidate.mapping->target.to_string(), ctx);
        }
    }

    if (!app.profile.users.rules.create) {
        return dead_letter(ctx, "NotPermitted",
                           note + "no existing account matched and the app does not allow creating users",
                           "dispatch", std::nullopt);
    }
    const auto request =
        transforms::create_request(mapping.resource_path, transforms::build_resource(mapping, decision.desired_create));
    const auto response = send(ctx, request);
    const auto verdict = transforms::classify(response);
    if (verdict.kind == ResponseClass::Success) {
        auto body = parse_json(response.body);
        if (!body || !body->is_object() || !body->contains("id") || !(*body)["id"].is_string()) {
            return dead_letter(ctx, "ServiceIncompatible",
                               "POST " + mapping.resource_path + " answered " + std::to_string(response.status) +
                                   " without a resource id",
                               "dispatch", std::nullopt);
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
    if (verdict.kind == ResponseClass::Conflict && !decision.match_candidates.empty()) {
        // RFC 7644 §3.3: the account exists although the filter did not find it (a server
        // whose filter hides it, or a concurrent create). Look it up once more and link.
        const auto& candidate = decision.match_candidates.front();
        const auto find = transforms::find_request(mapping.resource_path, candidate.mapping->target, candidate.value);
        const auto found = send(ctx, find);
        const auto list = transforms::classify(found).kind == ResponseClass::Success
                              ? transforms::parse_list_response(found.body)
                              : transforms::ListResult{};
        if (list.valid && list.resources.size() == 1) {
            return adopt(app, event, list.resources[0], std::move(next), decision,
                         note + "POST answered 409 (" + verdict.detail + "); linked the existing account found by " +
                             candidate.mapping->target.to_string(),
                         ctx);
        }
    }
    return dead_letter(ctx, verdict.code, describe(request) + " failed: " + verdict.detail, "dispatch", std::nullopt);
}

ProcessResult EventProcessor::adopt(const AppRuntime& app, const Event& event, const json& resource, LinkState next,
                                    const UserDecision& decision, const std::string& how, Context& ctx) {
    const auto& mapping = app.profile.users.mapping;
    const auto id = resource.find("id");
    if (id == resource.end() || !id->is_string() || id->get_ref<const std::string&>().empty()) {
        return dead_letter(ctx, "ServiceIncompatible", "a matched resource has no id", "dispatch", std::nullopt);
    }
    // One account, one source object: two directory users with the same userName must not
    // take turns overwriting one account (Entra's DuplicateSourceEntries).
    auto owner = store_.load_owner(app.config.id, event.object_type, id->get<std::string>());
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
    const auto request = transforms::patch_request(mapping.resource_path, next.scim_id, plan.operations);
    const auto response = send(ctx, request);
    const auto verdict = transforms::classify(response);
    if (verdict.kind != ResponseClass::Success) {
        // Keep the link: the next attempt PATCHes the known account instead of matching again.
        next.applied = applied;
        return dead_letter(ctx, verdict.code, how + "; " + describe(request) + " failed: " + verdict.detail,
                           "dispatch", std::move(next));
    }
    ctx.out.action = Action::Update;
    ctx.out.status = OutcomeStatus::Applied;
    ctx.out.reason = how + "; updated " + count_phrase(plan.changes.size(), "attribute");
    next.applied = transforms::applied_after(applied, plan);
    ctx.out.changes = std::move(plan.changes);
    return finish(ctx, std::move(next), false);
}

ProcessResult EventProcessor::disable(const LinkState& link, LinkState next, LinkStatus after, Context& ctx) {
    ctx.out.scim_id = link.scim_id;
    const auto active = link.applied.find("active");
    if (active != link.applied.end() && *active == json(false)) {
        next.status = after;
        const std::string why = ctx.out.reason;
        return skip(ctx, "no_change",
                    (why.empty() ? std::string() : why + "; ") + "the account is already inactive in the target",
                    std::move(next));
    }
    const auto request = transforms::patch_request("/Users", link.scim_id, transforms::disable_operations());
    const auto response = send(ctx, request);
    const auto verdict = transforms::classify(response);
    if (verdict.kind == ResponseClass::Success) {
        ctx.out.action = Action::Disable;
        ctx.out.status = OutcomeStatus::Applied;
        ctx.out.changes.push_back({"active", active == link.applied.end() ? json(nullptr) : *active, false});
        next.status = after;
        next.applied["active"] = false;
        return finish(ctx, std::move(next), false);
    }
    if (verdict.kind == ResponseClass::NotFound) {
        next.status = LinkStatus::Deleted;
        next.scim_id.clear();
        next.applied = json::object();
        return skip(ctx, "target_missing", "the account " + link.scim_id + " no longer exists in the target",
                    std::move(next));
    }
    return dead_letter(ctx, verdict.code, describe(request) + " failed: " + verdict.detail, "dispatch", std::nullopt);
}

ProcessResult EventProcessor::remove(const LinkState& link, LinkState next, Context& ctx) {
    ctx.out.scim_id = link.scim_id;
    const auto request = transforms::delete_request("/Users", link.scim_id);
    const auto response = send(ctx, request);
    const auto verdict = transforms::classify(response);
    if (verdict.kind == ResponseClass::Success || verdict.kind == ResponseClass::NotFound) {
        ctx.out.action = Action::Delete;
        ctx.out.status = OutcomeStatus::Applied;
        if (verdict.kind == ResponseClass::NotFound) {
            ctx.out.reason = "the account was already absent from the target";
        }
        next.status = LinkStatus::Deleted;
        next.scim_id.clear();
        next.applied = json::object();
        return finish(ctx, std::move(next), false);
    }
    return dead_letter(ctx, verdict.code, describe(request) + " failed: " + verdict.detail, "dispatch", std::nullopt);
}

ProcessResult EventProcessor::skip(Context& ctx, std::string code, std::string reason,
                                   std::optional<LinkState> link) {
    ctx.out.status = OutcomeStatus::Skipped;
    ctx.out.action = Action::None;
    ctx.out.code = std::move(code);
    ctx.out.reason = std::move(reason);
    return finish(ctx, std::move(link), false);
}

ProcessResult EventProcessor::dead_letter(Context& ctx, std::string code, std::string reason,
                                          std::string stage, std::optional<LinkState> link) {
    ctx.out.status = OutcomeStatus::DeadLettered;
    ctx.out.code = std::move(code);
    ctx.out.reason = redact(std::move(reason));
    DeadLetterReason why{ctx.out.code, ctx.out.reason, std::move(stage), ctx.out.attempts, clock_.wall_ms()};
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
    ctx.out.finished_at_ms = clock_.wall_ms();
    ctx.out.duration_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_.steady_now() - ctx.started).count();
    redact_outcome(ctx.out, link);
    Commit commit{ctx.out, std::move(link), dead_letter};
    auto committed = store_.commit(commit);
    if (!committed) {
        return ProcessResult{ProcessResult::Status::Fatal, "state store: " + redact(committed.error().message), {}};
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
    ScimResponse response = ctx.client->send(request);
    ++ctx.out.scim_requests;
    ctx.out.http_status = response.status;
    ctx.out.answered_at_ms = clock_.wall_ms();
    return response;
}

}  // namespace provbridge::consumers
