#include "provbridge/transforms/app_health.hpp"

namespace provbridge::transforms {

std::string_view to_string(AppHealth health) {
    switch (health) {
        case AppHealth::Quarantined: return "quarantined";
        case AppHealth::StagedDeletes: return "staged deletes";
        case AppHealth::Degraded: return "degraded";
        case AppHealth::Healthy: return "healthy";
    }
    return "degraded";
}

AppHealth judge_app_health(bool quarantined, std::int64_t staged_deletes, const MinuteStats& window) {
    if (quarantined) return AppHealth::Quarantined;
    if (staged_deletes > 0) return AppHealth::StagedDeletes;
    if (window.events >= kDegradedMinEvents &&
        static_cast<double>(window.dead_lettered) >= kDegradedFailureShare * static_cast<double>(window.events)) {
        return AppHealth::Degraded;
    }
    return AppHealth::Healthy;
}

}  // namespace provbridge::transforms
