#include "provbridge/ops/preview.hpp"

#include <utility>

#include "provbridge/consumers/curl_scim_client.hpp"
#include "provbridge/consumers/dry_run.hpp"
#include "provbridge/core/json_util.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/transforms/scim_protocol.hpp"

namespace provbridge::ops {
namespace {

using nlohmann::json;

// Unlike the worker's consumers::DryRunStore, writes nothing at all, not even the outcome.
class PreviewStore final : public consumers::DecideNowStore {
public:
    explicit PreviewStore(StateStore* state) : state_(state) {}
    // The event's recorded outcome is kept aside, not returned: a redelivery would stop at
    // it, and the preview shows what the event means regardless.
    Result<PriorState> load(const Event& event) override {
        if (state_ == nullptr) return PriorState{};
        auto prior = state_->load(event);
        if (prior) recorded = std::exchange(prior->recorded, std::nullopt);
        return prior;
    }
    Result<std::optional<OutcomeRecord>> load_invalid(const std::string& app, const std::string& topic,
                                                      std::int32_t partition, std::int64_t offset) override {
        if (state_ == nullptr) return std::optional<OutcomeRecord>{};
        return state_->load_invalid(app, topic, partition, offset);
    }
    Result<std::optional<LinkState>> load_link(const std::string& app, ObjectType type,
                                               const std::string& source_id) override {
        if (state_ == nullptr) return std::optional<LinkState>{};
        return state_->load_link(app, type, source_id);
    }
    Result<std::optional<std::string>> load_owner(const std::string& app, ObjectType type,
                                                  const std::string& scim_id) override {
        if (state_ == nullptr) return std::optional<std::string>{};
        return state_->load_owner(app, type, scim_id);
    }
    Result<CommitStatus> commit(const Commit& commit) override {
        committed = commit.record;
        return CommitStatus::Recorded;
    }
    Result<bool> count_duplicate(const std::string& /*app*/) override { return true; }
    // A preview parks nothing: it shows what the event would do now (and says when it would wait).
    Result<ParkStatus> park(const ParkedEvent& event, ParkMode mode, std::int64_t /*due_ms*/) override {
        if (mode == ParkMode::Behind) return ParkStatus::NotQueued;
        if (!event.trail.empty()) waits = event.trail.back();
        return ParkStatus::Parked;
    }

    std::optional<OutcomeRecord> committed;
    std::optional<OutcomeRecord> recorded;
    std::optional<AttemptFailure> waits;  // the failure a park would have waited on

private:
    StateStore* state_;
};

std::string describe_value(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

}  // namespace

PreviewResult preview_event(const consumers::AppRuntime& app, const std::vector<consumers::AppRuntime>& apps,
                            const InboundRecord& record, ScimClient* reads, StateStore* state,
                            const consumers::ProcessorOptions& options) {
    PreviewResult result;
    result.app = app.config.id;
    result.profile = app.profile.name;
    result.live = reads != nullptr;
    auto parsed = parse_record(record, options.limits);
    if (!parsed) {
        result.parse_error = parsed.error().message;
        return result;
    }
    result.event = *parsed;

    PreviewStore store(state);
    auto prior = store.load(*parsed);
    std::optional<LinkState> link;
    if (prior) {
        link = prior->link;
        result.already = store.recorded;
    }
    const bool user = parsed->object_type == ObjectType::User;
    const auto& object = user ? app.profile.users : app.profile.groups;
    if (object.rules.enabled) {
        std::optional<Event> enriched;
        const Event& subject = transforms::with_object_id(*parsed, object, enriched);
        result.decision = user ? transforms::decide_user(subject, link, app.rules, object)
                               : transforms::decide_group(subject, link, app.rules, object);
    }

    consumers::DryRunScimClient client(reads, &result.exchanges);
    consumers::DryRunDeadLetters dead_letters;
    SystemClock clock;
    consumers::EventProcessor processor(apps, {{app.config.id, &client}}, store, dead_letters, clock, nullptr, options);
    // A previewed event comes from a file, not a keyed record: give it the key it would have.
    InboundRecord keyed = record;
    if (!keyed.key) keyed.key = record_key(*parsed);
    const auto processed = processor.process(keyed);
    if (processed.record) result.outcome = processed.record;
    if (processed.status == consumers::ProcessResult::Status::Parked) result.waits = store.waits;
    return result;
}

void print_preview(const PreviewResult& r, const std::string& base_url, std::ostream& out) {
    out << "Provisioning preview for app " << r.app << " (profile " << r.profile << "): "
        << (r.live ? "reads from the target and Redis, " : "offline (no target, no Redis), ")
        << "no write is sent\n\n";
    if (!r.event) {
        out << "1. Import: the event is malformed: " << r.parse_error << "\n   It would be dead-lettered.\n";
        return;
    }
    const Event& e = *r.event;
    out << "1. Import: " << to_string(e.type) << " for " << to_string(e.object_type) << " " << e.object_id
        << " (version " << e.version << (e.role ? ", role \"" + *e.role + "\"" : std::string()) << ")\n";
    if (r.already) {
        out << "   This event id already has an outcome (" << to_string(r.already->status)
            << (r.already->code.empty() ? "" : ", " + r.already->code) << "): a redelivery would change nothing.\n";
    }
    const auto& d = r.decision;
    const bool scope_excluded = d.code == "out_of_scope";
    const bool entitlement_excluded = d.code == "not_entitled";
    out << "2. Scope: "
        << (scope_excluded ? d.reason : entitlement_excluded ? "assigned, but " + d.reason : std::string("in scope"))
        << "\n";
    out << "3. Match: ";
    if (d.match_candidates.empty()) {
        out << "none needed or possible" << (d.code.empty() ? "" : " (" + d.code + ")") << "\n";
    } else {
        for (std::size_t i = 0; i < d.match_candidates.size(); ++i) {
            const auto& c = d.match_candidates[i];
            out << (i == 0 ? "" : "   then ") << transforms::eq_filter(c.mapping->target, c.value)
                << " (" << c.mapping->key << " from " << c.mapping->source_text << ")\n";
        }
    }
    for (const auto& x : r.exchanges) {
        if (x.request.method != HttpMethod::Get) continue;
        out << "   " << (x.sent ? "asked the target: " : "not checked (use --live): ")
            << consumers::build_url(base_url, x.request);
        if (x.sent && x.response) {
            const auto list = transforms::parse_list_response(x.response->body);
            out << " → HTTP " << x.response->status;
            if (list.valid) out << ", " << list.total_results << " found";
        }
        out << "\n";
    }
    out << "4. Action: ";
    if (!r.outcome && r.waits) {
        out << "none now: it would wait for a retry (" << r.waits->code << "): " << r.waits->detail << "\n";
        return;
    }
    if (!r.outcome) {
        out << "none could be decided\n";
        return;
    }
    const auto& o = *r.outcome;
    switch (o.status) {
        case OutcomeStatus::Applied:
            out << to_string(o.action);
            break;
        case OutcomeStatus::Skipped:
            out << "none, skipped (" << o.code << ")";
            break;
        case OutcomeStatus::DeadLettered:
            out << "none, would be dead-lettered (" << o.code << ")";
            break;
        case OutcomeStatus::Warning:
            out << to_string(o.action) << ", with a warning (" << o.code << ")";
            break;
    }
    if (!o.reason.empty()) out << ": " << o.reason;
    out << "\n";
    for (const auto& c : o.changes) {
        out << "   " << c.path << ": " << (c.old_value.is_null() ? "(none)" : describe_value(c.old_value)) << " → "
            << (c.new_value.is_null() ? "(removed)" : describe_value(c.new_value)) << "\n";
    }
    bool any = false;
    for (const auto& x : r.exchanges) {
        if (x.request.method == HttpMethod::Get) continue;
        if (!any) out << "\nThe request that would be sent:\n";
        any = true;
        out << "  " << to_string(x.request.method) << " " << consumers::build_url(base_url, x.request) << "\n";
        if (x.request.body) {
            out << "  Content-Type: application/scim+json\n\n";
            std::string body = x.request.body->dump(2);
            std::string indented = "  ";
            for (char ch : body) {
                indented += ch;
                if (ch == '\n') indented += "  ";
            }
            out << indented << "\n";
        }
    }
    if (!any) out << "\nNo write request would be sent.\n";
}

}  // namespace provbridge::ops
