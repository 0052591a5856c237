// What one user event costs in the pure transform path: parse the CloudEvent, decide, compute
// the desired attributes and the minimal PATCH against the last-applied values.
#include <benchmark/benchmark.h>

#include "provbridge/core/event.hpp"
#include "provbridge/transforms/mapping.hpp"
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
    link.applied = transforms::desired_attributes(mapping, transforms::SourceContext{before, false, "User"},
                                                  transforms::Phase::Update);
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
    const auto mapping = transforms::default_user_mapping();
    const auto link = linked_state(mapping);
    const auto event = *parse_structured_event(kEvent);
    const transforms::AppRules rules;
    for (auto _ : state) {
        auto decision = transforms::decide_user(event, link, rules, mapping);
        auto plan = transforms::diff_attributes(mapping, decision.desired_update, link.applied);
        auto request = transforms::patch_request("/Users", link.scim_id, plan.operations);
        benchmark::DoNotOptimize(request);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecideAndDiff);

void BM_FullTransformPath(benchmark::State& state) {
    const auto mapping = transforms::default_user_mapping();
    const auto link = linked_state(mapping);
    const transforms::AppRules rules;
    for (auto _ : state) {
        auto event = parse_structured_event(kEvent);
        auto decision = transforms::decide_user(*event, link, rules, mapping);
        auto plan = transforms::diff_attributes(mapping, decision.desired_update, link.applied);
        auto request = transforms::patch_request("/Users", link.scim_id, plan.operations);
        auto body = request.body->dump();
        benchmark::DoNotOptimize(body);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FullTransformPath);

}  // namespace

BENCHMARK_MAIN();
