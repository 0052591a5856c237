// What one user event costs in the pure transform path: parse the CloudEvent, decide, compute
// the desired attributes and the minimal PATCH against the last-applied values.
#include <benchmark/benchmark.h>

#include "provbridge/core/event.hpp"
#include "provbridge/transforms/mapping.hpp"
#include "provbridge/transforms/profile.hpp"
#include "provbridge/transforms/scim_protocol.hpp"
#include "provbridge/transforms/user_rules.hpp"

namespace {

using namespace provbridge;
using nlohmann::json;

const std::string kEvent = R"({"specversion":"1.0","id":"evt-1","source":"urn:directory:contoso",
"type":"provisioning.user.updated","subject":"user/7f3c9a","data":{"app":"leapsome","object":{"type":"user",
"id":"7f3c9a","version":42,"attributes":{"userPrincipalName":"ada@contoso.com","mail":"ada@contoso.com",
"mailNickname":"ada","givenName":"Ada","surname":"Lovelace","displayName":"Ada Lovelace","jobTitle":"Countess",
"department":"R&D","employeeId":"1001","mobile":"+33 6 00 00 00 00","telephoneNumber":"+33 1 00 00 00 00",
"preferredLanguage":"fr-FR","accountEnabled":true,"manager":"5e1d22"}},"assignment":{"role":"User"}}})";

LinkState linked_state(const transforms::ObjectMapping& mapping) {
    auto event = parse_structured_event(kEvent);
    json before = event->attributes;
    before["jobTitle"] = "Engineer";
    LinkState link;
    link.scim_id = "scim-1";
    link.version = 41;
    // An account linked by the user's assignment: without it the decision is "not assigned" and
    // the diff measured would be one that removes every attribute, not the update's one change.
    link.assigned_role = "User";
    link.applied = transforms::desired_attributes(
        mapping, transforms::SourceContext{before, false, "User", nullptr, {}}, transforms::Phase::Update).to_json();
    return link;
}

void BM_ParseEvent(benchmark::State& state) {
    for (auto _ : state) {
        auto event = parse_structured_event(kEvent);
        benchmark::DoNotOptimize(event);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseEvent);

void BM_DecideAndDiff(benchmark::State& state) {
    const auto users = transforms::builtin_profile("generic").users;
    const auto& mapping = users.mapping;
    const auto link = linked_state(mapping);
    const auto event = *parse_structured_event(kEvent);
    const transforms::AppRules rules;
    for (auto _ : state) {
        auto decision = transforms::decide_user(event, link, rules, users);
        auto plan = transforms::diff_attributes(mapping, decision.desired_update, link.applied);
        auto request = transforms::patch_request("/Users", link.scim_id, plan.operations);
        benchmark::DoNotOptimize(request);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecideAndDiff);

void BM_FullTransformPath(benchmark::State& state) {
    const auto users = transforms::builtin_profile("generic").users;
    const auto& mapping = users.mapping;
    const auto link = linked_state(mapping);
    const transforms::AppRules rules;
    for (auto _ : state) {
        auto event = parse_structured_event(kEvent);
        auto decision = transforms::decide_user(*event, link, rules, users);
        auto plan = transforms::diff_attributes(mapping, decision.desired_update, link.applied);
        auto request = transforms::patch_request("/Users", link.scim_id, plan.operations);
        auto body = request.body->dump();
        benchmark::DoNotOptimize(body);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FullTransformPath);

// The issue's figure: the generic profile's full user mapping, a scoping filter and the diff
// for one parsed event against its stored link (no JSON parsing, no I/O).
void BM_GenericProfileMappingScopingDiff(benchmark::State& state) {
    AppConfig app;
    app.id = "bench";
    app.profile = "generic";
    app.scoping.value = json::parse(R"({"users":[{"name":"employees","clauses":[
        {"attribute":"accountEnabled","operator":"IS TRUE"},
        {"attribute":"userPrincipalName","operator":"ENDS_WITH","value":"@contoso.com"}]}]})");
    app.scoping.file = "bench";
    app.scoping.field = "scoping";
    const auto profile = transforms::build_app_profile(app, "bench", 0);
    const auto& users = profile.users;
    const auto link = linked_state(users.mapping);
    const auto event = *parse_structured_event(kEvent);
    const auto rules = transforms::rules_for(app, profile);
    // The fixture must be what the benchmark says it is: one linked, assigned user whose update
    // changes one attribute (jobTitle). A run that measures anything else stops here.
    {
        auto decision = transforms::decide_user(event, link, rules, users);
        auto plan = transforms::diff_attributes(users.mapping, decision.desired_update, link.applied);
        if (plan.changes.size() != 1 || plan.changes[0].path != "title") {
            state.SkipWithError("the fixture is not an update of one attribute of a linked, assigned user");
            return;
        }
    }
    for (auto _ : state) {
        auto decision = transforms::decide_user(event, link, rules, users);
        auto plan = transforms::diff_attributes(users.mapping, decision.desired_update, link.applied);
        benchmark::DoNotOptimize(plan);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GenericProfileMappingScopingDiff);

// The same for a first assignment: desired attributes for a create and the POST body.
void BM_GenericProfileCreate(benchmark::State& state) {
    const auto profile = transforms::builtin_profile("generic");
    const auto& users = profile.users;
    auto event = *parse_structured_event(kEvent);
    event.type = EventType::UserAssigned;
    const transforms::AppRules rules;
    for (auto _ : state) {
        auto decision = transforms::decide_user(event, std::nullopt, rules, users);
        auto body = transforms::build_resource(users.mapping, decision.desired_create);
        benchmark::DoNotOptimize(body);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GenericProfileCreate);

}  // namespace

BENCHMARK_MAIN();
