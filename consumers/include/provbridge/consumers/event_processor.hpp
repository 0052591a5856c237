#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "provbridge/core/clock.hpp"
#include "provbridge/core/config.hpp"
#include "provbridge/core/dead_letter.hpp"
#include "provbridge/core/event.hpp"
#include "provbridge/core/outcome.hpp"
#include "provbridge/core/redact.hpp"
#include "provbridge/core/scim.hpp"
#include "provbridge/core/state_store.hpp"
#include "provbridge/transforms/mapping.hpp"
#include "provbridge/transforms/profile.hpp"
#include "provbridge/transforms/user_rules.hpp"

namespace provbridge::consumers {

// An app as the worker runs it: its configuration plus the profile (mappings, scoping, rules)
// built from it once at start-up.
struct AppRuntime {
    AppConfig config;
    transforms::AppProfile profile;
    transforms::AppRules rules;
};
// Throws ConfigError (file, field, reason) for a bad profile, mapping or scoping filter.
std::vector<AppRuntime> build_app_runtimes(const Config& config);

// How processing one record ended, for the worker.
struct ProcessResult {
    enum class Status {
        Recorded,    // the outcome is durable (or was already): the offset may be committed
        Duplicate,   // the event already had an outcome; nothing was sent
        Fatal,       // the outcome could not be made durable (store or dead-letter sink down)
    };
    Status status = Status::Recorded;
    std::string fatal_reason;
    std::optional<OutcomeRecord> record;
};

struct ProcessorOptions {
    ParseLimits limits;
    // Every configured secret; applied to each reason (text taken from responses and errors)
    // before it reaches a log line, Redis or a dead-letter header. Must outlive the processor.
    const Redactor* redactor = nullptr;
};

// Turns one Kafka record into exactly one recorded outcome: parse, de-duplicate, apply the
// app's rules, send the SCIM requests, record the outcome and link atomically, and dead-letter
// what cannot succeed. One instance per lane: it uses its ScimClients and store from one thread.
class EventProcessor {
public:
    using Options = ProcessorOptions;

    EventProcessor(const std::vector<AppRuntime>& apps, std::map<std::string, ScimClient*> clients,
                   StateStore& store, DeadLetterSink& dead_letters, const Clock& clock,
                   std::shared_ptr<spdlog::logger> log, Options options = {});

    // Never throws: whatever is thrown while processing the record dead-letters it
    // (InternalError), so one record can never stop a partition.
    ProcessResult process(const InboundRecord& record) noexcept;

    // Dead-letters a record that could not be processed (code InternalError, the reason given),
    // once: a record that already has an outcome is reported as a duplicate. Fatal only when
    // that outcome cannot be made durable.
    ProcessResult dead_letter_internal(const InboundRecord& record, const std::string& what) noexcept;

private:
    struct Context;
    Context start(const InboundRecord& record) const;
    ProcessResult process_record(const InboundRecord& record);
    void route_unparsed(Context& ctx) const;
    ProcessResult process_invalid(std::string app, std::string code, std::string reason,
                                  const Event* event, std::string stage, Context& ctx);
    ProcessResult process_user(const Event& event, const AppRuntime& app,
                               const std::optional<LinkState>& link, Context& ctx);
    ProcessResult provision(const Event& event, const AppRuntime& app, const std::optional<LinkState>& link,
                            transforms::UserDecision decision, transforms::DecisionHooks hooks, Context& ctx);
    ProcessResult adopt(const AppRuntime& app, const Event& event, const nlohmann::json& resource, LinkState next,
                        const transforms::UserDecision& decision, const std::string& how, Context& ctx);
    ProcessResult disable(const LinkState& link, LinkState next, LinkStatus after, Context& ctx);
    ProcessResult remove(const LinkState& link, LinkState next, Context& ctx);
    ProcessResult skip(Context& ctx, std::string code, std::string reason, std::optional<LinkState> link);
    ProcessResult dead_letter(Context& ctx, std::string code, std::string reason, std::string stage,
                              std::optional<LinkState> link);
    ProcessResult finish(Context& ctx, std::optional<LinkState> link, bool dead_letter);
    ScimResponse send(Context& ctx, const ScimRequest& request);
    std::string redact(std::string text) const;
    void redact_outcome(OutcomeRecord& out, std::optional<LinkState>& link) const;
    void redact_json(nlohmann::json& value) const;

    const AppRuntime* find_app(const std::string& id) const;

    const std::vector<AppRuntime>& apps_;
    std::map<std::string, ScimClient*> clients_;
    StateStore& store_;
    DeadLetterSink& dead_letters_;
    const Clock& clock_;
    std::shared_ptr<spdlog::logger> log_;
    Options options_;
};

}  // namespace provbridge::consumers
