#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "provbridge/core/scim.hpp"

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Counter;
class Histogram;
}  // namespace prometheus

namespace provbridge::ops {

class OpsReadModel;

// The ops server's /metrics (names and labels in docs/ops-api.md): this process's SCIM requests,
// observed as the lanes send them, and at each scrape what Redis and Kafka say of every app and
// of the consumer group. Labels name apps, methods and status classes only, never a user.
class OpsMetrics final : public ScimObserver {
public:
    OpsMetrics();
    ~OpsMetrics() override;

    void observe(std::string_view app, HttpMethod method, const ScimResponse& response) override;

    // The Prometheus text exposition: this process's series, then each app's read from `model`
    // and the group's lag (`lag`, OpsReadModel::lag's document). An app Redis cannot answer for
    // is left out and counted in provbridge_scrape_errors (a gauge; the scrape itself still answers).
    std::string scrape(OpsReadModel& model, const nlohmann::json& lag);

    // The status class label of a response: 2xx, 3xx, 4xx, 5xx, or transport (no HTTP answer).
    static std::string status_class(const ScimResponse& response);

private:
    std::shared_ptr<prometheus::Registry> registry_;
    prometheus::Family<prometheus::Counter>* requests_ = nullptr;
    prometheus::Family<prometheus::Histogram>* durations_ = nullptr;
};

}  // namespace provbridge::ops
